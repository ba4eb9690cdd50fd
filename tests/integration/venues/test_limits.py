"""The venues' documented limits: the client keeps within them and the simulators enforce them.

The default plan (every perpetual of every venue, the vendored instrument lists
scaled to realistic counts) runs against simulators enforcing each venue's
limits from its spec, at real time scale: no simulator may report a violation.
The simulators must also catch a client that breaks a limit, and a venue that
drops every connection after a few seconds must see the reconnect delays grow.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from monitor.capture.format import CaptureRecord
from monitor.metrics import Metrics
from monitor.sim.server import run_simulators
from monitor.sim.venue import SimOptions
from monitor.venues.backoff import BackoffPolicy
from monitor.venues.base import LoopOptions
from monitor.venues.collector import Collector, CollectorOptions
from monitor.venues.registry import VENUES, create_adapter
from monitor.venues.rest import RestOptions
from tests.conftest import FIXTURES
from tests.integration.venues.support import FAST_BACKOFF, new_bus, running, settings_for
from tests.unit.venues.golden import INSTRUMENT_FILES

pytestmark = pytest.mark.integration

SCALE = 50.0  # the flapping test runs 50 times faster than real time

# Perpetuals each venue lists, roughly (2026): the vendored lists are cloned up to these counts.
REALISTIC = {
    "binance": 530,
    "bybit": 500,
    "okx": 300,
    "deribit": 12,
    "bitmex": 100,
    "hyperliquid": 200,
    "gate": 550,
    "bitget": 520,
    "bitfinex": 50,
}


def _rows(doc: Any) -> Iterator[list[Any]]:
    """Every JSON array of objects in ``doc`` (the instrument rows, wherever the venue nests them)."""
    if isinstance(doc, list):
        if doc and all(isinstance(r, dict) for r in doc):
            yield doc
        for item in doc:
            yield from _rows(item)
    elif isinstance(doc, dict):
        for value in doc.values():
            yield from _rows(value)


def _renamed(value: Any, symbols: set[str], prefix: str) -> Any:
    """``value`` with every string equal to a known symbol given ``prefix`` (a new listing)."""
    if isinstance(value, str) and value in symbols:
        return prefix + value
    if isinstance(value, dict):
        return {k: _renamed(v, symbols, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, symbols, prefix) for v in value]
    return value


def scaled_instruments(venue: str) -> list[CaptureRecord]:
    """The venue's vendored instrument lists with the perpetuals cloned up to a realistic count."""
    book = create_adapter(venue)
    for path, name in INSTRUMENT_FILES[venue]:
        book.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    perpetuals = set(book.instruments.perpetuals())
    copies = max(1, REALISTIC[venue] // max(1, len(perpetuals)))
    requests = [r.path for r in book.instrument_requests()]
    records = []
    for prefix, name in INSTRUMENT_FILES[venue]:
        path = next((r for r in requests if r.startswith(prefix)), prefix)
        doc = orjson.loads((FIXTURES / "instruments" / name).read_bytes())
        for rows in _rows(doc):
            originals = [r for r in rows if perpetuals & set(map(str, r.values()))]
            rows.extend(_renamed(r, perpetuals, f"Q{i}") for i in range(1, copies) for r in originals)
        records.append(
            CaptureRecord(recv_ms=0, venue=venue, meta="instruments", rest=path, frame=orjson.dumps(doc).decode())
        )
    return records


async def _all_connected(collector: Collector, timeout_s: float = 60.0) -> None:
    """Wait until every venue has its connection plan and every connection of it has opened."""
    waiting: dict[str, int] = {}
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                waiting = {
                    venue: sum(1 for loop in collector.loops.get(venue, []) if not loop.connects) or -1
                    for venue in VENUES
                    if not collector.loops.get(venue) or any(not loop.connects for loop in collector.loops[venue])
                }
                if not waiting:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"connections not open (-1: no plan yet): {waiting}") from None


async def test_default_plan_keeps_within_every_venues_documented_limits(metrics: Metrics, tmp_path: Path) -> None:
    records = [r for venue in VENUES for r in scaled_instruments(venue)]
    options = SimOptions(hold_timeout_s=1.0)  # the venues' real limits, real time
    async with run_simulators(records, list(VENUES), speed=None, options=options) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path)
        collector = Collector(
            settings,
            new_bus(metrics),
            metrics,
            options=CollectorOptions(loop=LoopOptions(backoff=FAST_BACKOFF), rest=RestOptions(timeout_s=5.0)),
        )
        async with running(collector):
            await _all_connected(collector)
            plan = {venue: len(collector.loops[venue]) for venue in VENUES}
            for venue in VENUES:  # every socket of the plan opened and subscribed
                await sims[venue].wait_for(lambda s, n=plan[venue]: s.stats.connections >= n and s.clients >= n, 30)
        violations = {venue: sims[venue].stats.violations for venue in VENUES}
        reconnects = {venue: sum(len(loop.disconnects) for loop in collector.loops[venue]) for venue in VENUES}
    assert violations == {key: [] for key in VENUES}
    assert reconnects == dict.fromkeys(VENUES, 0)
    # The plan is the realistic one: several sockets where the venue's topic limits demand them.
    assert sum(plan.values()) > len(VENUES)


async def test_simulator_answers_a_connection_burst_with_429() -> None:
    spec_rate = create_adapter("okx").limits.connections
    assert spec_rate is not None
    async with run_simulators([], ["okx"], speed=None) as sims:
        sim = sims["okx"]
        outcomes: list[int] = []
        for _ in range(spec_rate.count + 1):  # one more than OKX allows per second, back to back
            try:
                async with connect(sim.ws_url + "/ws/v5/public", proxy=None):
                    outcomes.append(101)
            except InvalidStatus as exc:
                outcomes.append(exc.response.status_code)
        assert outcomes == [101] * spec_rate.count + [429]
        assert len(sim.stats.violations) == 1


async def test_flapping_venue_sees_reconnects_spaced_by_a_growing_backoff(metrics: Metrics, tmp_path: Path) -> None:
    """A venue closing every connection soon after it opens (11 s against the 300 s a connection must
    live to count as healthy, here both scaled by 1/50) gets delays that grow, not a reconnect a second."""
    drawn: list[float] = []
    starts: list[int] = []
    healthy_after_s = BackoffPolicy().healthy_after_s / SCALE  # the production rule, scaled
    base = BackoffPolicy(initial_s=0.01, min_s=0.05, max_s=1.0, factor=2.0)

    def recorded() -> Iterator[float]:
        starts.append(1)
        for delay in base.start():
            drawn.append(delay)
            yield delay

    policy = BackoffPolicy(healthy_after_s=healthy_after_s, delays=recorded)
    lifetime = 11.0 / SCALE
    async with run_simulators([], ["bybit"], speed=None, options=SimOptions(close_after_s=lifetime)) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path, **{"venues.bybit.symbols": ["BTCUSDT"]})
        collector = Collector(
            settings, new_bus(metrics), metrics, options=CollectorOptions(loop=LoopOptions(backoff=policy))
        )
        async with running(collector):
            await sims["bybit"].wait_for(lambda s: s.stats.connections >= 6, 30)
        times = sims["bybit"].stats.connect_times[:6]
    assert starts == [1]  # one backoff for the whole episode: never reset by a connection that lived "11 s"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Each reconnect came after the connection's lifetime plus the next, growing delay drawn.
    for gap, delay in zip(gaps, drawn, strict=False):
        assert gap >= lifetime + delay
    assert drawn[4] >= 4 * 0.05 * 0.8
