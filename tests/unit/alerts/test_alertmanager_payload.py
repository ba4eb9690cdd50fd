"""Alertmanager v2 postable alerts."""

from __future__ import annotations

from monitor.alerts.alertmanager import alertname, episode_key, labels, to_postable
from tests.unit.alerts.helpers import T0, make_alert


def test_firing_alert_labels_annotations_and_a_future_ends_at() -> None:
    body = to_postable(make_alert(venue="bybit"), now_s=T0 / 1000 + 100, hold_s=240, generator_url="http://g/d")
    assert body["labels"] == {
        "alertname": "LiquidationCascadeDetected",
        "kind": "liquidation_cascade",
        "base": "BTC",
        "severity": "critical",
        "direction": "long",
        "venue": "bybit",
        "category": "market",
        "source": "liqmon",
    }
    assert body["annotations"]["summary"].startswith("BTC long liquidation cascade #1")
    assert "Liquidated: $412M" in body["annotations"]["description"]
    assert body["annotations"]["alert_id"] == "alert-1"
    assert body["startsAt"] == "2025-02-05T16:00:00.000000Z"
    assert body["endsAt"] == "2025-02-05T16:05:40.000000Z"  # now + hold
    assert body["generatorURL"] == "http://g/d"


def test_resolved_alert_ends_at_its_own_time_and_venue_label_is_optional() -> None:
    body = to_postable(make_alert(status="resolved", ts_ms=T0 + 60_000), now_s=T0 / 1000 + 999, hold_s=240)
    assert body["endsAt"] == "2025-02-05T16:01:00.000000Z"
    assert "venue" not in body["labels"]
    assert "generatorURL" not in body


def test_names_and_episode_identity() -> None:
    assert alertname("oi_collapse") == "OiCollapseDetected"
    assert labels(make_alert(kind="test"))["category"] == "test"
    assert labels(make_alert(severity="warning"))["severity"] == "warning"
    assert episode_key(make_alert(1, severity="warning")) == episode_key(make_alert(2, status="resolved"))
