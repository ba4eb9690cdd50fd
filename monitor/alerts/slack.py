"""Slack incoming-webhook sink: a Block Kit message with a plain-text fallback.

Slack answers 200 ``ok`` on success, 429 with ``Retry-After`` when posting
faster than about one message per second, 400 for a payload it cannot use
(a bug: the alert is dead-lettered), and 403/404/410 when the webhook was
revoked, the channel archived or the app removed (the sink is broken until
someone fixes the URL).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import httpx
import orjson

from monitor.alert import Alert
from monitor.alerts.config import SeverityName, SlackSettings
from monitor.alerts.http import make_client, post, raise_for_status
from monitor.alerts.text import (
    RESOLVED_EMOJI,
    SEVERITY_EMOJI,
    direction_words,
    facts,
    iso_time,
    kind_title,
    since,
    where,
)
from monitor.errors import PermanentDelivery

HEADER_LIMIT: Final = 150
SECTION_LIMIT: Final = 3000
FIELDS_PER_SECTION: Final = 10

_FIX_HINTS: Final = {
    403: "Slack refused the webhook (action_prohibited/invalid_token): check the app is still installed",
    404: "Slack does not know this webhook (no_service/channel_not_found): create a new incoming webhook",
    410: "the channel of this webhook was archived: create a webhook for a live channel",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback_text(alert: Alert) -> str:
    """The plain-text ``text`` shown in notifications and by clients that cannot render blocks."""
    emoji = RESOLVED_EMOJI if alert.status == "resolved" else SEVERITY_EMOJI[alert.severity]
    state = "RESOLVED" if alert.status == "resolved" else f"{alert.severity.upper()}"
    return _escape(f"{emoji} {state} {where(alert)} {kind_title(alert.kind)}: {alert.summary}")


def build_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body: header, summary, facts (asset, venue, since, sizes), context; emoji by severity."""
    resolved = alert.status == "resolved"
    emoji = RESOLVED_EMOJI if resolved else SEVERITY_EMOJI[alert.severity]
    state = "Resolved" if resolved else alert.severity.capitalize()
    header = f"{state}: {where(alert)} {kind_title(alert.kind).lower()} — {direction_words(alert)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(header, HEADER_LIMIT), "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(f"{emoji} {_escape(alert.summary)}", SECTION_LIMIT)},
        },
    ]
    pairs = [("Asset", alert.base)]
    if alert.venue:
        pairs.append(("Venue", alert.venue))
    pairs.append(("Since" if not resolved else "Episode", since(alert)))
    pairs.extend(facts(alert))
    fields = [{"type": "mrkdwn", "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", 2000)} for k, v in pairs]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    context = f"{alert.kind} · {alert.direction} · {alert.severity} · id `{alert.id}` · {iso_time(alert.ts_ms)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, SECTION_LIMIT)}]})
    return {"text": fallback_text(alert), "blocks": blocks}


class SlackSink:
    """Posts alerts to one Slack incoming webhook."""

    def __init__(
        self, settings: SlackSettings, *, name: str = "slack", client: httpx.AsyncClient | None = None
    ) -> None:
        assert settings.webhook_url is not None  # checked by SlackSettings
        self.name = name
        self.min_severity: SeverityName = settings.min_severity
        self._url = settings.webhook_url.get()
        self._client = client or make_client(settings.timeouts)

    async def send(self, alert: Alert) -> None:
        """POST the message; 200 ``ok`` is success."""
        body = orjson.dumps(build_payload(alert))
        response = await post(
            self._client, self._url, content=body, headers={"Content-Type": "application/json"}, what="slack"
        )
        try:
            raise_for_status(response, "slack", reject=frozenset({400}))
        except PermanentDelivery as exc:
            hint = _FIX_HINTS.get(response.status_code, "check the webhook URL")
            raise PermanentDelivery(f"{exc}; {hint} and set LIQMON_ALERTS__SLACK__WEBHOOK_URL") from None

    async def run(self, stop: asyncio.Event) -> None:
        """No background work."""
        await stop.wait()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
