"""A configured venue that never connects raises feed_down through the bus, like any other alert."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.alert import Alert
from monitor.app import Application
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from monitor.settings import load_settings
from monitor.venues.registry import VENUES
from tests.support.services import free_port


async def test_a_venue_that_never_connects_raises_feed_down(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here: every connection attempt is refused
    environ = {f"LIQMON_VENUES__{v.upper()}__ENABLED": "false" for v in VENUES if v != "okx"}
    environ |= {
        "LIQMON_VENUES__OKX__WS_URL": f"ws://127.0.0.1:{dead}/ws/v5/public",
        "LIQMON_VENUES__OKX__REST_URL": f"http://127.0.0.1:{dead}",
        "LIQMON_VENUES__OKX__SYMBOLS": "BTC-USDT-SWAP",
        "LIQMON_VENUES__CACHE_DIR": str(tmp_path / "cache"),
        "LIQMON_APP__FEED_DOWN_AFTER_S": "1",
    }
    settings = load_settings(environ=environ)
    metrics = Metrics()
    seen: list[Alert] = []
    arrived = asyncio.Event()

    def tap(alert: Alert) -> None:
        seen.append(alert)
        arrived.set()

    app = Application(
        settings,
        roles={"collect"},
        metrics=metrics,
        bus=MemoryBus(metrics=metrics),
        alert_taps=[tap],
        serve_metrics=False,
    )
    running = asyncio.create_task(app.run(install_signals=False))
    await asyncio.wait_for(arrived.wait(), 20)
    app.request_stop()
    assert await asyncio.wait_for(running, 30) == 0
    alert = seen[0]
    assert (alert.kind, alert.venue, alert.status, alert.direction) == ("feed_down", "okx", "firing", "down")
    assert alert.values["never_connected"] is True
    assert alert.values["connected"] is False
    assert "never connected" in alert.summary
    assert metrics.feed_configured.labels(venue="okx")._value.get() == 1
