"""Alertmanager sink against a real prometheus-alertmanager (Debian package)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from monitor.alerts.alertmanager import AlertmanagerSink
from monitor.alerts.config import AlertmanagerSettings, AlertSettings, RetrySettings
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.selftest import send_test_alert
from monitor.alerts.worker import SinkPolicy
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from tests.integration.alerts.alertmanager_server import running_alertmanager
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

CONFIG = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager that routes everything nowhere; yields its base URL."""
    with running_alertmanager(tmp_path, CONFIG) as url:
        yield url


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ours(url: str) -> list[dict]:
    alerts = httpx.get(f"{url}/api/v2/alerts", params={"filter": 'source="liqmon"'}, timeout=5).json()
    return [a for a in alerts if a["labels"].get("source") == "liqmon"]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_firing_then_resolved_through_the_dispatcher(alertmanager: str, metrics: Metrics) -> None:
    settings = AlertmanagerSettings(url=alertmanager, resend_interval_s=120)
    sink = AlertmanagerSink(settings)
    bus = MemoryBus(metrics=metrics)
    quick = RetrySettings(initial_s=0.05, max_s=0.5, give_up_after_s=10)
    dispatcher = Dispatcher(
        AlertSettings(console=False, block_ms=100),
        bus,
        metrics,
        consumer="t",
        sinks=[(sink, SinkPolicy(100, 100, quick, 300))],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    started = _now_ms() - 60_000
    firing = make_alert(1, venue="binance", started_ms=started, ts_ms=started + 30_000)
    await bus.publish_alert(firing)
    await dispatcher.wait_acked(1, timeout=10)

    active = await asyncio.to_thread(_ours, alertmanager)
    assert len(active) == 1
    am_alert = active[0]
    assert am_alert["status"]["state"] == "active"
    assert am_alert["labels"] == {
        "alertname": "LiquidationCascadeDetected",
        "kind": "liquidation_cascade",
        "base": "BTC",
        "severity": "critical",
        "direction": "long",
        "venue": "binance",
        "category": "market",
        "source": "liqmon",
    }
    assert am_alert["annotations"]["summary"] == firing.summary
    assert abs(_epoch(am_alert["startsAt"]) - started / 1000) < 0.01
    assert _epoch(am_alert["endsAt"]) > time.time() + 400  # 4 × resend: no early auto-resolve

    resolved = make_alert(2, venue="binance", status="resolved", started_ms=started, ts_ms=_now_ms())
    await bus.publish_alert(resolved)
    await dispatcher.wait_acked(2, timeout=10)
    assert await asyncio.to_thread(_ours, alertmanager) == []  # resolved alerts leave the active list
    stop.set()
    await task


async def test_escalation_ends_the_lower_severity_and_resend_extends_ends_at(alertmanager: str) -> None:
    sink = AlertmanagerSink(AlertmanagerSettings(url=alertmanager, resend_interval_s=200))
    started = _now_ms() - 10_000
    await sink.send(make_alert(1, severity="warning", started_ms=started, ts_ms=started))
    await sink.send(make_alert(2, severity="critical", started_ms=started, ts_ms=started + 5000))
    active = await asyncio.to_thread(_ours, alertmanager)
    assert [a["labels"]["severity"] for a in active] == ["critical"]
    first_end = _epoch(active[0]["endsAt"])
    await sink.resend_active()
    again = await asyncio.to_thread(_ours, alertmanager)
    assert _epoch(again[0]["endsAt"]) > first_end
    assert len(sink.active) == 1
    await sink.aclose()


async def test_alert_test_leaves_no_active_test_alert(alertmanager: str) -> None:
    [result] = await send_test_alert([AlertmanagerSink(AlertmanagerSettings(url=alertmanager))])
    assert (result.sink, result.ok) == ("alertmanager", True)
    everything = await asyncio.to_thread(
        lambda: httpx.get(f"{alertmanager}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
    )
    assert [a["labels"]["alertname"] for a in everything] == []  # accepted (ok), then ended at once
