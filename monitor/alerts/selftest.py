"""``liqmon alert test``: send one clearly marked test alert through each configured sink directly.

Sinks that keep state (MQTT's retained topic, Alertmanager's active alerts)
withdraw the test alert right after it was delivered, so no TEST alert stays
"firing" behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass

from monitor.alert import Alert, alert_id
from monitor.alerts.base import Sink, Withdraws
from monitor.errors import AlertDeliveryError


@dataclass(frozen=True, slots=True)
class SinkResult:
    """The outcome of the test delivery to one sink."""

    sink: str
    ok: bool
    detail: str


def make_test_alert(now_ms: int | None = None) -> Alert:
    """An info-level alert of kind ``test`` whose summary says it is a test."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    host = socket.gethostname()
    return Alert(
        id=alert_id("test", "TEST", None, "up", now_ms, host),
        kind="test",
        status="firing",
        severity="info",
        base="TEST",
        venue=None,
        direction="up",
        started_ms=now_ms,
        ts_ms=now_ms,
        summary=f"liqmon test alert from {host}: this sink works. This is only a test; no action needed.",
        values={"test": True, "host": host},
    )


async def _one(sink: Sink, alert: Alert, timeout: float) -> SinkResult:
    stop = asyncio.Event()
    background = asyncio.create_task(sink.run(stop))
    try:
        async with asyncio.timeout(timeout):
            await sink.send(alert)
            if isinstance(sink, Withdraws):
                await sink.withdraw(alert)
    except AlertDeliveryError as exc:
        return SinkResult(sink.name, False, f"{type(exc).__name__}: {exc}")
    except TimeoutError:
        return SinkResult(sink.name, False, f"no answer within {timeout:.0f}s")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(background, 5)
        with contextlib.suppress(Exception):
            await sink.aclose()
    return SinkResult(sink.name, True, "ok")


async def send_test_alert(sinks: list[Sink], *, timeout: float = 30.0, alert: Alert | None = None) -> list[SinkResult]:
    """Send the test alert to every sink concurrently (one attempt each, no bus, no dedup)."""
    alert = alert or make_test_alert()
    return list(await asyncio.gather(*(_one(sink, alert, timeout) for sink in sinks)))
