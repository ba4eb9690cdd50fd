"""A webhook that accepts connections and never answers, next to two healthy ones (real local HTTP servers).

The hung sink must cost the healthy sinks nothing, cost its own later alerts at
most one bounded wait (read timeout + longest backoff) once it answers again,
and give its whole backlog up after one ``give_up_after_s``, not one per alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from monitor.alert import Alert
from monitor.alerts.config import AlertSettings, HttpTimeouts, RetrySettings, WebhookSettings
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.webhook import ID_HEADER, WebhookSink
from monitor.alerts.worker import SinkPolicy
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from tests.integration.alerts.http_receiver import HttpReceiver, Reply, Request
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

READ_S = 0.3
MAX_BACKOFF_S = 0.3
CONCURRENCY = 4
BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LINK", "DOT")


class Hangable:
    """A responder that answers 200 once ``recovered`` is set; before that it never answers."""

    def __init__(self) -> None:
        self.recovered = asyncio.Event()
        self._never = asyncio.Event()

    async def __call__(self, _request: Request) -> Reply:
        if not self.recovered.is_set():
            await self._never.wait()
        return Reply(200, b"")


def twenty_alerts() -> list[Alert]:
    """Ten episodes, each a firing then its resolved."""
    out = []
    for n, base in enumerate(BASES):
        out.append(make_alert(2 * n, base=base))
        out.append(make_alert(2 * n + 1, base=base, status="resolved", ts_ms=make_alert().ts_ms + 60_000))
    return out


def _delivered(rx: HttpReceiver) -> list[str]:
    return [req.headers[ID_HEADER.lower()] for req, status, _ in rx.answered if status == 200]


def healthy(metrics: Metrics) -> dict[str, float | None]:
    names = ("webhook:a", "webhook:b", "webhook:hung")
    return {n: metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": n}) for n in names}


def _sinks(urls: dict[str, str], retry: RetrySettings) -> list[tuple[WebhookSink, SinkPolicy]]:
    timeouts = HttpTimeouts(connect_s=READ_S, read_s=READ_S)
    return [
        (
            WebhookSink(f"webhook:{name}", WebhookSettings(url=url, timeouts=timeouts)),
            SinkPolicy(1000, 1000, retry, probe_interval_s=300, concurrency=CONCURRENCY),
        )
        for name, url in urls.items()
    ]


@asynccontextmanager
async def dispatching(dispatcher: Dispatcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_healthy_sinks_get_everything_and_the_hung_backlog_drains_within_one_bounded_wait(
    metrics: Metrics,
) -> None:
    hung = Hangable()
    retry = RetrySettings(initial_s=0.1, factor=2.0, max_s=MAX_BACKOFF_S, give_up_after_s=120)
    alerts = twenty_alerts()
    async with HttpReceiver() as a, HttpReceiver() as b, HttpReceiver(hung) as h:
        bus = MemoryBus(metrics=metrics)
        settings = AlertSettings(console=False, block_ms=50, drain_timeout_s=1)
        sinks = _sinks({"a": a.url, "b": b.url, "hung": h.url}, retry)
        dispatcher = Dispatcher(settings, bus, metrics, consumer="t", sinks=sinks)
        hung_worker = next(w for w in dispatcher.workers if w.name == "webhook:hung")
        async with dispatching(dispatcher):
            for alert in alerts:
                await bus.publish_alert(alert)
            await a.wait_for(lambda rx: len(_delivered(rx)) == 20)
            await b.wait_for(lambda rx: len(_delivered(rx)) == 20)
            assert h.answered == []  # the healthy sinks finished while the hung one still hangs
            # The hung sink is in one outage: a first wave of at most CONCURRENCY requests, then one probe at a time.
            await h.wait_for(lambda rx: len(rx.requests) >= CONCURRENCY + 2)
            assert hung_worker.outage.down
            assert 1 <= hung_worker.peak_in_flight <= CONCURRENCY
            hung_worker.peak_in_flight = hung_worker.in_flight
            await h.wait_for(lambda rx: len(rx.requests) >= CONCURRENCY + 3)
            assert hung_worker.peak_in_flight == 1  # only the probe goes out during the outage
            assert dispatcher.acked == 0
            assert healthy(metrics) == {"webhook:a": 1, "webhook:b": 1, "webhook:hung": 0}

            hung.recovered.set()
            recovered_at = time.monotonic()
            # One bounded wait: the probe in flight times out (READ_S), the next is due within MAX_BACKOFF_S.
            await h.wait_for(lambda rx: len(_delivered(rx)) == 20, timeout=READ_S + MAX_BACKOFF_S + 3)
            await dispatcher.wait_acked(20, timeout=5)
            drained_s = max(at for _, status, at in h.answered if status == 200) - recovered_at
            requests_while_hung = len(h.requests) - 20
        assert not hung_worker.outage.down
        assert healthy(metrics)["webhook:hung"] == 1
    for rx in (a, b, h):
        got = _delivered(rx)
        assert sorted(got) == sorted(x.id for x in alerts)  # every alert exactly once
        for n in range(len(BASES)):  # a resolved never overtakes its firing
            assert got.index(f"alert-{2 * n}") < got.index(f"alert-{2 * n + 1}")
    assert bus.dead_letters == []
    print(
        f"hung endpoint: 20 alerts, healthy sinks complete while it hung; {requests_while_hung} requests to it "
        f"while hung; backlog drained {drained_s:.2f} s after it recovered "
        f"(bound {READ_S + MAX_BACKOFF_S:.1f} s + sends)"
    )


async def test_a_sink_hung_past_give_up_drops_its_backlog_once_not_alert_by_alert(metrics: Metrics) -> None:
    hung = Hangable()
    give_up = 1.0
    retry = RetrySettings(initial_s=0.1, factor=2.0, max_s=MAX_BACKOFF_S, give_up_after_s=give_up)
    async with HttpReceiver() as a, HttpReceiver(hung) as h:
        bus = MemoryBus(metrics=metrics)
        settings = AlertSettings(console=False, block_ms=50, drain_timeout_s=1)
        dispatcher = Dispatcher(settings, bus, metrics, consumer="t", sinks=_sinks({"a": a.url, "hung": h.url}, retry))
        async with dispatching(dispatcher):
            for alert in twenty_alerts():
                await bus.publish_alert(alert)
            # One outage clock for all: the whole backlog is given up after about give_up + one request,
            # where one clock per alert in sequence would take 20 × give_up.
            await dispatcher.wait_acked(20, timeout=give_up + READ_S + 4)
            hung.recovered.set()
            later = make_alert(99, base="NEAR")
            await bus.publish_alert(later)
            await h.wait_for(lambda rx: _delivered(rx) == [later.id], timeout=READ_S + MAX_BACKOFF_S + 3)
    dead = [(x.id, sink) for x, sink, _ in bus.dead_letters]
    assert sorted(dead) == sorted((x.id, "webhook:hung") for x in twenty_alerts())
    assert all("sink failing for" in reason for _, _, reason in bus.dead_letters)
    assert len(h.requests) <= CONCURRENCY + give_up / READ_S + 3  # probes, not 20 alerts' retries
    assert len(_delivered(a)) == 21  # the twenty and the later one
