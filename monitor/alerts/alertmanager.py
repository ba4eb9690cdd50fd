"""Prometheus Alertmanager sink: pushes alerts to ``POST /api/v2/alerts``.

Alertmanager identifies an alert by its label set (``alertname``, ``kind``,
``base``, ``severity``, ``direction``, ``category``, ``source``, ``venue``
when set). ``category="market"`` is what the shipped routing
(deploy/alertmanager/alertmanager.yml) sends to the desk; the alert names
end in ``Detected`` (``LiquidationCascadeDetected``) so that no Prometheus
rule (``LiquidationCascade``, ``LiquidationCascadeCritical``, …) and no
inhibit rule written for those matches liqmon's own alerts. An alert whose
``endsAt`` has passed is resolved; one sent without ``endsAt`` resolves after
the server's ``resolve_timeout`` (5 min by default), which would end a long
funding flip early. So, as Prometheus does, firing alerts carry
``endsAt = now + 4 × resend_interval_s`` and are re-posted every
``resend_interval_s`` while the episode lasts: they stay active as long as
liqmon runs, and expire on their own a few minutes after it stops. A
``resolved`` alert posts ``endsAt`` = its time, ending the episode at once; an
escalation (same episode, higher severity) ends the lower-severity alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import orjson

from monitor.aio import sleep_or_stop
from monitor.alert import Alert, EpisodeKey, episode_key
from monitor.alerts.config import AlertmanagerSettings, SeverityName
from monitor.alerts.http import make_client, post, raise_for_status
from monitor.alerts.text import facts, kind_title, since
from monitor.errors import AlertDeliveryError, PermanentDelivery
from monitor.logs import get_logger

log = get_logger(__name__)

API_PATH: Final = "/api/v2/alerts"


def _rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


ALERTNAME_SUFFIX: Final = "Detected"


def alertname(kind: str) -> str:
    """``liquidation_cascade`` → ``LiquidationCascadeDetected``."""
    return "".join(part.capitalize() for part in kind.split("_")) + ALERTNAME_SUFFIX


def category(kind: str) -> str:
    """``market`` for every detector alert (routed to the desk), ``test`` for ``liqmon alert test``."""
    return "test" if kind == "test" else "market"


def labels(alert: Alert) -> dict[str, str]:
    """The identifying label set of an alert."""
    out = {
        "alertname": alertname(alert.kind),
        "kind": alert.kind,
        "base": alert.base,
        "severity": alert.severity,
        "direction": alert.direction,
        "category": category(alert.kind),
        "source": "liqmon",
    }
    if alert.venue:
        out["venue"] = alert.venue
    return out


def to_postable(alert: Alert, *, now_s: float, hold_s: float, generator_url: str = "") -> dict[str, Any]:
    """One entry of the ``/api/v2/alerts`` body."""
    details = "; ".join(f"{k}: {v}" for k, v in facts(alert))
    description = f"{kind_title(alert.kind)} on {alert.base} since {since(alert)}."
    if details:
        description += f" {details}."
    ends = alert.ts_ms / 1000 if alert.status == "resolved" else now_s + hold_s
    body: dict[str, Any] = {
        "labels": labels(alert),
        "annotations": {"summary": alert.summary, "description": description, "alert_id": alert.id},
        "startsAt": _rfc3339(alert.started_ms / 1000),
        "endsAt": _rfc3339(ends),
    }
    if generator_url:
        body["generatorURL"] = generator_url
    return body


class AlertmanagerSink:
    """Pushes alerts to one Alertmanager and keeps firing ones alive."""

    def __init__(
        self, settings: AlertmanagerSettings, *, name: str = "alertmanager", client: httpx.AsyncClient | None = None
    ) -> None:
        self.name = name
        self.min_severity: SeverityName = settings.min_severity
        self._url = settings.url.rstrip("/") + API_PATH
        self._resend = settings.resend_interval_s
        self._generator = settings.generator_url
        self._headers = {"Content-Type": "application/json"}
        if settings.authorization is not None:
            self._headers["Authorization"] = settings.authorization.get()
        self._client = client or make_client(settings.timeouts)
        self._active: dict[EpisodeKey, Alert] = {}

    @property
    def active(self) -> dict[EpisodeKey, Alert]:
        """Firing alerts being kept alive, by episode."""
        return dict(self._active)

    async def _post(self, alerts: Sequence[Alert], *, ended: Sequence[Alert] = ()) -> None:
        now = time.time()
        hold = 4 * self._resend
        items = [to_postable(a, now_s=now, hold_s=hold, generator_url=self._generator) for a in alerts]
        for old in ended:  # end a superseded label set now
            item = to_postable(old, now_s=now, hold_s=hold, generator_url=self._generator)
            item["endsAt"] = _rfc3339(now)
            items.append(item)
        response = await post(
            self._client, self._url, content=orjson.dumps(items), headers=self._headers, what=self.name
        )
        try:
            raise_for_status(response, self.name, reject=frozenset({400, 422}))
        except PermanentDelivery as exc:
            raise PermanentDelivery(f"{exc}; check alerts.alertmanager.url and its authorization") from None

    async def send(self, alert: Alert) -> None:
        """Post a firing alert (ending a lower-severity one of the same episode) or a resolution."""
        key = episode_key(alert)
        previous = self._active.get(key)
        superseded: list[Alert] = [previous] if previous is not None and previous.severity != alert.severity else []
        if alert.status == "resolved" and previous is not None and previous.severity == alert.severity:
            superseded = []
        await self._post([alert], ended=superseded)
        if alert.status == "firing":
            self._active[key] = alert
        elif previous is not None and (previous.started_ms <= alert.started_ms or previous.id == alert.id):
            del self._active[key]

    async def withdraw(self, alert: Alert) -> None:
        """End ``alert`` in Alertmanager now (``alert test`` leaves no active TEST alert behind)."""
        self._active.pop(episode_key(alert), None)
        await self._post([], ended=[alert])

    async def resend_active(self) -> None:
        """Re-post every firing alert with a fresh ``endsAt``."""
        if self._active:
            await self._post(list(self._active.values()))

    async def run(self, stop: asyncio.Event) -> None:
        """Re-post firing alerts every ``resend_interval_s`` until ``stop``."""
        while not stop.is_set():
            await sleep_or_stop(stop, self._resend)
            if stop.is_set():
                return
            try:
                await self.resend_active()
            except AlertDeliveryError as exc:
                log.warning(
                    "alertmanager_resend_failed",
                    sink=self.name,
                    error=str(exc),
                    active=len(self._active),
                    hint="firing alerts may expire in Alertmanager until a re-send works",
                )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
