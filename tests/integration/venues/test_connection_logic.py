"""The shared connection loop against a simulator: backoff, bad frames, planned overlap, rejection, staleness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import orjson
import pytest
from structlog.testing import capture_logs

from monitor.bus.memory import MemoryBus
from monitor.capture.format import CaptureRecord
from monitor.events import Event, Gap, OpenInterest
from monitor.metrics import Metrics
from monitor.sim.faults import AcceptThenClose, Garbage, Oversize, RejectSubscriptions, Silence
from monitor.sim.server import Simulators, run_simulators
from monitor.sim.venue import SimOptions
from monitor.venues.adapter import Keepalive
from monitor.venues.backoff import BackoffPolicy
from monitor.venues.base import FeedLoop, LoopOptions
from monitor.venues.feed import FeedSink
from monitor.venues.okx import OkxAdapter
from monitor.venues.registry import adapter_class as adapter_for
from tests.integration.venues.support import FAST_BACKOFF, FAST_GOVERNOR, LIMIT_SCALE, drain, market, sample

pytestmark = pytest.mark.integration

OI = orjson.loads(sample("okx_open-interest.jsonl")[0])


def oi_frames(n: int, start_ms: int = 1_738_771_200_000, step_ms: int = 50) -> list[CaptureRecord]:
    """``n`` distinct open-interest pushes for BTC-USDT-SWAP, ``step_ms`` apart."""
    out = []
    for i in range(n):
        row = dict(OI["data"][0], ts=str(start_ms + i * step_ms), oi=str(2_000_000 + i), oiCcy=str(20_000 + i))
        frame = orjson.dumps({"arg": OI["arg"], "data": [row]}).decode()
        out.append(CaptureRecord(recv_ms=start_ms + i * step_ms, venue="okx", frame=frame))
    return out


def okx_loop(sims: Simulators, metrics: Metrics, bus: MemoryBus, options: LoopOptions) -> FeedLoop:
    adapter = OkxAdapter()
    (connection,) = [c for c in adapter.connections(["BTC-USDT-SWAP"], sims.ws_url("okx")) if c.symbols]
    sink = FeedSink("okx", bus, metrics)
    return FeedLoop(lambda: OkxAdapter(adapter.instruments), connection, sink, options)


@asynccontextmanager
async def looping(loop: FeedLoop) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task
    assert loop.open_sockets == 0


def sample_value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_accept_then_close_is_bounded_by_the_backoff(metrics: Metrics) -> None:
    drawn: list[float] = []
    starts: list[int] = []

    def recorded() -> Iterator[float]:
        starts.append(1)
        delay = 0.001
        while True:
            drawn.append(delay)
            yield delay
            delay = min(delay * 2, 0.016)

    policy = BackoffPolicy(healthy_after_s=30.0, delays=recorded)
    async with run_simulators(oi_frames(1), ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE)) as sims:
        sims["okx"].inject(AcceptThenClose())
        loop = okx_loop(sims, metrics, MemoryBus(metrics=metrics), LoopOptions(governor=FAST_GOVERNOR, backoff=policy))
        async with looping(loop):
            await sims["okx"].wait_for(lambda s: s.stats.connections >= 8, 10)
        connections = sims["okx"].stats.connections
    # One generator for the whole outage (never reset by a connection that died young),
    # and every reconnection waited for the next, growing delay.
    assert starts == [1]
    assert len(drawn) >= connections - 1
    assert drawn[:6] == [0.001, 0.002, 0.004, 0.008, 0.016, 0.016]


async def test_garbage_and_oversize_frames_are_counted_not_fatal(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    async with run_simulators(
        oi_frames(4), ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=5)
    ) as sims:
        sim = sims["okx"]
        sim.inject(Garbage(), at_frame=1)
        sim.inject(Oversize(size_bytes=256 * 1024), at_frame=2)
        loop = okx_loop(
            sims, metrics, bus, LoopOptions(governor=FAST_GOVERNOR, backoff=FAST_BACKOFF, max_size=64 * 1024)
        )
        with capture_logs() as logs:
            async with looping(loop):
                await sim.wait_served(10)
                events = await drain(bus)
    too_large = [entry for entry in logs if entry["event"] == "venue_frame_too_large"]
    assert [entry["limit_bytes"] for entry in too_large] == [64 * 1024]
    assert not [entry for entry in logs if entry["event"] == "venue_disconnected"]
    assert sample_value(metrics, "liqmon_feed_parse_errors_total", venue="okx", reason="json") == 1
    assert sample_value(metrics, "liqmon_feed_parse_errors_total", venue="okx", reason="too_large") == 1
    assert sample_value(metrics, "liqmon_feed_reconnects_total", venue="okx", reason="error") == 1
    assert loop.disconnects == ["error"]
    assert len([e for e in events if isinstance(e, OpenInterest)]) == 4
    assert [e.reason for e in events if isinstance(e, Gap)] == ["error"]


async def test_planned_reconnect_overlaps_without_loss_or_duplicates(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    frames = oi_frames(40, step_ms=25)
    options = LoopOptions(
        governor=FAST_GOVERNOR,
        backoff=FAST_BACKOFF,
        max_connection_age_s=0.25,
        planned_margin_s=0.0,
        overlap_timeout_s=1.0,
    )
    async with run_simulators(
        frames, ["okx"], speed=1.0, options=SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=5)
    ) as sims:
        loop = okx_loop(sims, metrics, bus, options)
        async with looping(loop):
            await sims["okx"].wait_served(20)
            events = await drain(bus)
        assert sims["okx"].stats.connections >= 2
    assert not [e for e in events if isinstance(e, Gap)]
    values = sorted(e.oi_base for e in market(events) if isinstance(e, OpenInterest))
    assert len(values) == 40
    assert len(set(values)) == 40
    assert sample_value(metrics, "liqmon_feed_reconnects_total", venue="okx", reason="planned") >= 1
    assert sample_value(metrics, "liqmon_feed_duplicates_dropped_total", venue="okx") >= 1
    assert loop.disconnects == []


async def test_rejected_subscription_is_retried_slowly(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    async with run_simulators(
        oi_frames(2), ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=5)
    ) as sims:
        sims["okx"].inject(RejectSubscriptions(count=1))
        loop = okx_loop(sims, metrics, bus, LoopOptions(governor=FAST_GOVERNOR, backoff=FAST_BACKOFF))
        async with looping(loop):
            await sims["okx"].wait_served(10)
            events = await drain(bus)
        stats = sims["okx"].stats
    assert stats.rejected_subscriptions == 1
    assert stats.subscribe_requests == 2
    assert loop.disconnects == ["rejected"]
    assert sample_value(metrics, "liqmon_feed_reconnects_total", venue="okx", reason="rejected") == 1
    assert len([e for e in events if isinstance(e, OpenInterest)]) == 2


async def test_silent_connection_goes_stale_and_reconnects(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    options = LoopOptions(
        backoff=FAST_BACKOFF,
        liveness_timeout_s=0.3,
        keepalive=Keepalive("client_ping", interval_s=0.05, payload="ping"),
    )
    async with run_simulators(
        oi_frames(3), ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=5)
    ) as sims:
        sim = sims["okx"]
        sim.inject(Silence(), at_frame=1)
        loop = okx_loop(sims, metrics, bus, options)
        async with looping(loop):
            await sim.wait_served(10)
            events = await drain(bus)
    assert loop.disconnects[:1] == ["stale"]
    assert len([e for e in events if isinstance(e, OpenInterest)]) == 3
    assert sample_value(metrics, "liqmon_feed_gaps_total", venue="okx") >= 1


async def test_quiet_but_pinging_connection_stays_up(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    options = LoopOptions(
        backoff=FAST_BACKOFF,
        liveness_timeout_s=0.2,
        keepalive=Keepalive("client_ping", interval_s=0.02, payload="ping"),
    )
    async with run_simulators(
        oi_frames(1), ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE, drop_after_s=1.0)
    ) as sims:
        loop = okx_loop(sims, metrics, bus, options)
        async with looping(loop):
            # No data after the first frame; many liveness windows pass on pongs alone.
            await sims["okx"].wait_for(lambda s: s.stats.pings >= 30, 10)
    assert loop.disconnects == []
    assert loop.connects == 1


async def test_wall_clock_playback_sends_no_frame_before_its_instant(metrics: Metrics) -> None:
    bus = MemoryBus(metrics=metrics)
    start_ms = int(time.time() * 1000) + 300
    frames = oi_frames(5, start_ms=start_ms, step_ms=40)
    options = SimOptions(limit_scale=LIMIT_SCALE, wall_clock=True, hold_timeout_s=5)
    async with run_simulators(frames, ["okx"], speed=1.0, options=options) as sims:
        loop = okx_loop(sims, metrics, bus, LoopOptions(governor=FAST_GOVERNOR, backoff=FAST_BACKOFF))
        async with looping(loop):
            await sims["okx"].wait_served(10)
            events = await drain(bus)
        lateness = sims["okx"].stats.send_lateness_ms
    received = [e for e in market(events) if isinstance(e, OpenInterest)]
    assert len(received) == 5
    # Each push arrives at or after the instant its timestamp names (receive stamps are floored to the ms).
    assert all(e.recv_ms >= e.ts_ms for e in received)
    assert len(lateness) == 5
    assert all(ms >= 0 for ms in lateness)


GATE_LIQUIDATION = orjson.loads(sample("gate_public_liquidates.jsonl")[1])
BITMEX_LIQUIDATION = orjson.loads(sample("bitmex_liquidation.jsonl")[0])


def flood(venue: str, rows: int) -> str:
    """A well-formed liquidation frame of ``rows`` duplicated rows (what 5-7 MB attack frames looked like)."""
    base = GATE_LIQUIDATION if venue == "gate" else BITMEX_LIQUIDATION
    key = "result" if venue == "gate" else "data"
    return orjson.dumps({**base, key: base[key] * rows}).decode()


@pytest.mark.parametrize("venue", ["gate", "bitmex"])
async def test_a_frame_past_the_venue_bound_is_dropped_unread_and_counted(venue: str, metrics: Metrics) -> None:
    """A 6 MB frame of duplicated rows is refused from its header and never reaches the parser.

    The socket closes with 1009 (what was sent behind the big frame on it is lost, and the gap marker
    says so), the loop reconnects; the small frame before it was parsed as usual.
    """
    adapter_class = adapter_for(venue)
    small = flood(venue, 1)
    row_bytes = len(flood(venue, 2)) - len(small)
    big = flood(venue, 6_000_000 // row_bytes)
    assert 5_900_000 < len(big.encode()) < 6_100_000
    records = [
        CaptureRecord(recv_ms=1_738_771_200_000 + i, venue=venue, frame=f) for i, f in enumerate([small, big, small])
    ]
    parsed: list[int] = []

    class Counting(adapter_class):  # type: ignore[misc, valid-type]
        def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
            parsed.append(len(frame))
            return list(super().read(frame, recv_ms))

    bus = MemoryBus(metrics=metrics)
    async with run_simulators(records, [venue], speed=None, options=SimOptions(hold_timeout_s=5)) as sims:
        adapter = Counting()
        (connection, *_) = adapter.connections([], sims.ws_url(venue))
        loop = FeedLoop(Counting, connection, FeedSink(venue, bus, metrics), LoopOptions(backoff=FAST_BACKOFF))
        async with looping(loop):
            await sims[venue].wait_served(20)
            events = await drain(bus)
    assert [e.reason for e in events if isinstance(e, Gap)] == ["error"]
    assert loop.max_frame_bytes == adapter_class.max_frame_bytes
    assert sample_value(metrics, "liqmon_feed_parse_errors_total", venue=venue, reason="too_large") == 1
    assert loop.disconnects == ["error"]
    assert max(parsed) < adapter_class.max_frame_bytes  # the big frame was never handed to the parser
    assert len(small) in parsed
