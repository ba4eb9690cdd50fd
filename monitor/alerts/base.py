"""What every alert sink implements, and the errors a delivery attempt can end with.

A sink's :meth:`Sink.send` delivers one alert or raises:

* :class:`~monitor.errors.RetryableDelivery` — try again later (429, 5xx,
  timeouts, broker down); ``retry_after`` when the server said how long;
* :class:`RejectedAlert` — this alert can never be delivered (Slack 400: a
  payload bug); it is dead-lettered, the sink stays healthy;
* :class:`~monitor.errors.PermanentDelivery` — the sink is misconfigured
  (revoked webhook, forbidden, gone); the dispatcher breaks the sink.

Retries, rate limits, dedup and the breaker live in the dispatcher, so sinks
stay small.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from monitor.alert import Alert
from monitor.alerts.config import SeverityName
from monitor.errors import AlertDeliveryError


class RejectedAlert(AlertDeliveryError):
    """The sink refused this particular alert (a payload bug); retrying cannot help."""


class Sink(Protocol):
    """One alert destination."""

    name: str
    min_severity: SeverityName

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise RetryableDelivery / RejectedAlert / PermanentDelivery."""

    async def run(self, stop: asyncio.Event) -> None:
        """Background work (connections, periodic re-sends) until ``stop``; may just wait."""

    async def aclose(self) -> None:
        """Release connections. Idempotent."""


@runtime_checkable
class Withdraws(Protocol):
    """A sink that leaves state behind (a retained message, an active alert) and can remove it."""

    async def withdraw(self, alert: Alert) -> None:
        """Remove what :meth:`Sink.send` of ``alert`` left behind."""
