"""What a daemon serves about itself: its metrics' figures and feed counters, and the alerts it raised."""

from __future__ import annotations

from monitor.metrics import Metrics
from monitor.settings import load_settings
from monitor.top.live import LiveState
from tests.unit.top.builders import alert, liquidation


def test_snapshot_reads_the_metrics_of_the_process(metrics: Metrics) -> None:
    settings = load_settings(None, overrides={"venues.okx.enabled": False})
    state = LiveState(settings, metrics, collects=True)
    metrics.feed_connected.labels(venue="bybit").set(2)
    metrics.feed_reconnects.labels(venue="bybit", reason="closed").inc(3)
    metrics.feed_reconnects.labels(venue="bybit", reason="stale").inc()
    metrics.feed_parse_errors.labels(venue="bybit", reason="json").inc()
    metrics.message_received("bybit", "liquidation")
    metrics.observe_events([liquidation("bybit", "long", 1_000.0)])
    state.on_alert(alert("firing"))
    snap = state.snapshot()
    venues = {v.venue: v for v in snap.venues}
    assert "okx" not in venues  # disabled in the configuration
    assert venues["bybit"].health is not None
    assert (venues["bybit"].health.connected, venues["bybit"].health.reconnects) == (2, 4)
    assert venues["bybit"].health.parse_errors == 1
    assert venues["bybit"].age_s is not None
    assert venues["bybit"].age_s < 60
    assert venues["bybit"].events == {"liquidation": 1}
    assert venues["binance"].age_s is None
    assert [a.status for a in snap.active] == ["firing"]


def test_a_process_that_does_not_collect_lists_no_feeds(metrics: Metrics) -> None:
    state = LiveState(load_settings(None), metrics, collects=False)
    assert state.snapshot().venues == []
