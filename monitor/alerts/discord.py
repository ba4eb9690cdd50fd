"""Discord sink: a channel webhook, one embed per alert.

Facts this relies on (Discord developer docs, see docs/alerts.md): ``POST
<webhook URL>?wait=true`` with ``content`` (at most 2,000 characters) and
``embeds`` (title 256, description 4,096, at most 25 fields of name 256 and
value 1,024, footer 2,048, and 6,000 characters across them all); an oversized
message fails with 400 / code 50035. Rate limits come in ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset-After`` (seconds); a ``429``
body carries ``retry_after`` (seconds, fractional) and ``global``. The sink
waits out a bucket that says ``Remaining: 0`` before its next request, and a
429 pauses the whole sink for ``retry_after``. 401/403/404 mean the webhook was
deleted or its token is wrong: the sink is broken until the URL is fixed.

Long alerts are trimmed to fit the limits (description first, then the last
facts are folded into one field), never rejected. The webhook URL holds a
token: it never appears in logs or error messages.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Final

import httpx
import orjson

from monitor.alert import Alert
from monitor.alerts.config import DiscordSettings, SeverityName
from monitor.alerts.http import make_client, post, raise_for_status
from monitor.alerts.text import (
    SEVERITY_COLOUR,
    direction_words,
    facts,
    iso_time,
    kind_title,
    since,
    state_word,
    symbol,
    where,
)
from monitor.errors import PermanentDelivery, RetryableDelivery

CONTENT_LIMIT: Final = 2000
TITLE_LIMIT: Final = 256
DESCRIPTION_LIMIT: Final = 4096
FIELDS_LIMIT: Final = 25
FIELD_NAME_LIMIT: Final = 256
FIELD_VALUE_LIMIT: Final = 1024
FOOTER_LIMIT: Final = 2048
EMBED_TOTAL_LIMIT: Final = 6000
RESOLVED_COLOUR: Final = 0x2EB886
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")


def escape(text: str) -> str:
    """Escape Discord markdown so values and summaries show as written."""
    return _MARKDOWN.sub(r"\\\1", text)


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_size(embed: dict[str, Any]) -> int:
    """Characters that count towards the 6,000 limit (title, description, fields, footer)."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return size + len(embed.get("footer", {}).get("text", ""))


def _fields(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    fields = [
        {"name": clip(label, FIELD_NAME_LIMIT), "value": clip(escape(value) or "-", FIELD_VALUE_LIMIT), "inline": True}
        for label, value in pairs
    ]
    if len(fields) > FIELDS_LIMIT:  # fold the rest into the last field
        rest = "; ".join(f"{f['name']}: {f['value']}" for f in fields[FIELDS_LIMIT - 1 :])
        fields = [
            *fields[: FIELDS_LIMIT - 1],
            {"name": "More", "value": clip(rest, FIELD_VALUE_LIMIT), "inline": False},
        ]
    return fields


def build_embed(alert: Alert) -> dict[str, Any]:
    """The alert as one embed within every Discord limit."""
    resolved = alert.status == "resolved"
    pairs = [("Asset", alert.base)]
    if alert.venue:
        pairs.append(("Venue", alert.venue))
    pairs.append(("Episode" if resolved else "Since", since(alert)))
    pairs.extend(facts(alert, extra_limit=FIELDS_LIMIT))  # room for more than Slack shows; the rest is folded
    embed: dict[str, Any] = {
        "title": clip(f"{symbol(alert)} {state_word(alert)} · {where(alert)} · {kind_title(alert.kind)}", TITLE_LIMIT),
        "description": clip(f"*{escape(direction_words(alert))}*\n{escape(alert.summary)}", DESCRIPTION_LIMIT),
        "color": RESOLVED_COLOUR if resolved else int(SEVERITY_COLOUR[alert.severity].lstrip("#"), 16),
        "fields": _fields(pairs),
        "footer": {"text": clip(f"{alert.kind} · {alert.direction} · {alert.severity} · id {alert.id}", FOOTER_LIMIT)},
        "timestamp": iso_time(alert.ts_ms),
    }
    excess = embed_size(embed) - EMBED_TOTAL_LIMIT
    if excess > 0:  # the description gives way first, down to a short remainder
        embed["description"] = clip(embed["description"], max(200, len(embed["description"]) - excess))
    while embed_size(embed) > EMBED_TOTAL_LIMIT and embed["fields"]:
        embed["fields"].pop()
    return embed


def build_payload(alert: Alert, username: str) -> dict[str, Any]:
    """The webhook body: a one-line ``content`` for notifications, the embed, and no pings."""
    content = f"{symbol(alert)} {state_word(alert)} {where(alert)} {kind_title(alert.kind).lower()}: {alert.summary}"
    return {
        "username": username,
        "content": clip(escape(content), CONTENT_LIMIT),
        "embeds": [build_embed(alert)],
        "allowed_mentions": {"parse": []},
    }


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


_FIX_HINT: Final = (
    "the webhook was deleted or its token is wrong: create a webhook in the channel settings and set "
    "LIQMON_ALERTS__DISCORD__WEBHOOK_URL"
)


class DiscordSink:
    """Posts alerts to one Discord channel webhook."""

    def __init__(
        self, settings: DiscordSettings, *, name: str = "discord", client: httpx.AsyncClient | None = None
    ) -> None:
        assert settings.webhook_url is not None  # checked by DiscordSettings
        self.name = name
        self.min_severity: SeverityName = settings.min_severity
        url = settings.webhook_url.get()
        self._url = url + ("&" if "?" in url else "?") + "wait=true"
        self._username = settings.username
        self._client = client or make_client(settings.timeouts)
        self._not_before = 0.0  # monotonic time the bucket refills, when it said Remaining: 0

    async def send(self, alert: Alert) -> None:
        """POST the embed; 200/204 is success."""
        wait = self._not_before - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        response = await post(
            self._client,
            self._url,
            content=orjson.dumps(build_payload(alert, self._username)),
            headers={"Content-Type": "application/json"},
            what=self.name,
        )
        self._note_bucket(response)
        if response.status_code == 429:
            raise RetryableDelivery(f"{self.name}: HTTP 429 rate limited", retry_after=self._retry_after(response))
        try:
            raise_for_status(response, self.name, reject=frozenset({400}))
        except PermanentDelivery as exc:
            raise PermanentDelivery(f"{exc}; {_FIX_HINT}") from None

    def _note_bucket(self, response: httpx.Response) -> None:
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(response.headers.get("x-ratelimit-reset-after", ""))
            if reset is not None:
                self._not_before = time.monotonic() + reset

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        if isinstance(body, dict) and (seconds := _seconds(body.get("retry_after", ""))) is not None:
            return seconds
        for header in ("x-ratelimit-reset-after", "retry-after"):
            if (seconds := _seconds(response.headers.get(header, ""))) is not None:
                return seconds
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """No background work."""
        await stop.wait()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
