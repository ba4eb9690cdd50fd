"""Venue connection faults through the TCP fault proxy: liqmon's collector against real local venue simulators.

Binance (server pings, streams in the URL) and Bybit (JSON pings, subscribe
frames, ticker snapshots re-sent on every subscription) each sit behind their
own :class:`~tests.chaos.proxy.FaultProxy`. The simulators play numbered
liquidations only when the test releases them, and only once the consumer's
one live connection is the simulator's one client, so every released frame is
sent while connected. Between batches the link is faulted: silent, half-open,
reset, garbage bytes, an oversize frame, an accept-then-close series. The
checker then compares what the simulators sent with what reached the bus.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.bus.base import target_shards
from monitor.bus.memory import MemoryBus
from monitor.capture.format import CaptureRecord
from monitor.events import Event, Gap, Liquidation
from monitor.metrics import Metrics
from monitor.settings import load_settings
from monitor.sim.faults import AcceptThenClose, Close, Garbage, Oversize
from monitor.sim.protocols import protocol_for
from monitor.sim.venue import SimOptions, VenueSim
from monitor.venues.adapter import Keepalive
from monitor.venues.backoff import BackoffPolicy, backoff
from monitor.venues.base import LoopOptions
from monitor.venues.binance import BinanceAdapter
from monitor.venues.bybit import BybitAdapter
from monitor.venues.collector import Collector, CollectorOptions
from monitor.venues.registry import VENUES
from monitor.venues.rest import RestOptions
from tests.chaos.checker import check_events
from tests.chaos.proxy import HOST, FaultProxy, Mode
from tests.conftest import FIXTURES, SAMPLES
from tests.integration.test_redis_bus import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

T0 = 1_767_225_600_000  # event time of liquidation number 0
BATCH = 20  # liquidations per venue released between two faults
ACCEPT_THEN_CLOSE = 3
MAX_FRAME = 64 * 1024
PARSE_ERRORS = "liqmon_feed_parse_errors_total"
LIVENESS_S = 1.5
# No jitter and no reset inside the test (healthy_after_s is longer than the run): the delays are known exactly.
MIN_S, MAX_S, FACTOR, INITIAL_S = 0.05, 0.4, 2.0, 0.05
# Kinds that come over the websocket (Binance open interest is polled over REST, straight from the simulator).
STREAMED = {"binance": {"liquidation"}, "bybit": {"liquidation", "funding", "open_interest"}}
FAULTS = ("silent", "half_open", "reset", "garbage", "oversize", "accept_then_close")
# Frames played before the liquidations, and the keys of the events they carry: Bybit's BTCUSDT ticker snapshot,
# which the simulator sends again to every new subscriber (the consumer must drop those copies).
TICKER = (SAMPLES / "bybit_tickers.jsonl").read_text().splitlines()[0]
LEAD = {"binance": [], "bybit": [TICKER]}
LEAD_KEYS = {
    "binance": [],
    "bybit": [f"bybit:{kind}:{orjson.loads(TICKER)['ts']}" for kind in ("funding", "open_interest")],
}


class QuickBinance(BinanceAdapter):
    """Binance with a protocol ping every 100 ms (the pongs prove the path within the liveness window)."""

    keepalive = Keepalive("server_ping", interval_s=0.1, drop_after_s=600.0)


class QuickBybit(BybitAdapter):
    """Bybit with its JSON ping every 100 ms."""

    keepalive = Keepalive("client_ping", interval_s=0.1, payload='{"op":"ping"}', drop_after_s=600.0)


def binance_liq(n: int) -> str:
    """Binance ``forceOrder`` number ``n`` (event time ``T0 + n``)."""
    ts = T0 + n
    order: dict[str, object] = {
        "s": "BTCUSDT",
        "S": "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": "0.010",
        "p": "60000",
        "ap": "60000",
    }
    order |= {"X": "FILLED", "l": "0.010", "z": "0.010", "T": ts}
    return orjson.dumps({"e": "forceOrder", "E": ts, "o": order}).decode()


def bybit_liq(n: int) -> str:
    """Bybit ``allLiquidation`` number ``n`` (event time ``T0 + n``)."""
    ts = T0 + n
    row = {"T": ts, "s": "BTCUSDT", "S": "Sell", "v": "0.010", "p": "60000"}
    return orjson.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": ts, "data": [row]}).decode()


def instrument_records(venue: str) -> list[CaptureRecord]:
    """The venue's instrument lists (and Binance's open-interest answer) as REST records of the simulator."""
    bodies = {
        "binance": {
            "/fapi/v1/exchangeInfo": (FIXTURES / "instruments" / "binance_exchangeInfo.json").read_text(),
            "/fapi/v1/fundingInfo": (FIXTURES / "instruments" / "binance_fundingInfo.json").read_text(),
            "/fapi/v1/openInterest?symbol=BTCUSDT": (SAMPLES / "binance_openInterest_rest.jsonl").read_text().strip(),
        },
        "bybit": {
            f"/v5/market/instruments-info?category={c}&limit=1000": (
                FIXTURES / "instruments" / f"bybit_{c}.json"
            ).read_text()
            for c in ("linear", "inverse")
        },
    }[venue]
    return [CaptureRecord(recv_ms=T0 - 60_000, venue=venue, frame=b, rest=p) for p, b in bodies.items()]


def capture(venue: str, liquidations: int) -> list[CaptureRecord]:
    """Instrument lists, the lead frames, then ``liquidations`` numbered liquidations."""
    frames = LEAD[venue] + [(binance_liq if venue == "binance" else bybit_liq)(n) for n in range(liquidations)]
    return instrument_records(venue) + [
        CaptureRecord(recv_ms=T0 + i, venue=venue, frame=f) for i, f in enumerate(frames)
    ]


class GatedSim(VenueSim):
    """A venue simulator that plays its capture only as far as the test released it."""

    def __init__(self, venue: str, records: Sequence[CaptureRecord]) -> None:
        super().__init__(protocol_for(venue), records, SimOptions(speed=None, hold_timeout_s=30.0))
        self.released = 0
        self.played = 0

    async def release(self, frames: int) -> None:
        """Let ``frames`` more frames be played."""
        self.released += frames
        await self._notify()

    async def _deliver(self, frame: str) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.played < self.released)
        await super()._deliver(frame)
        self.played += 1

    def peer_ports(self) -> set[int]:
        """Remote ports of the clients connected right now."""
        return {int(conn.ws.remote_address[1]) for conn in self._conns}


class RecordingBus(MemoryBus):
    """The in-memory bus, keeping every published event with its shard, in order."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(metrics=metrics)
        self.seen: list[tuple[int, Event]] = []

    def publish(self, events: Sequence[Event]) -> None:
        super().publish(events)
        self.seen += [(shard, e) for e in events for shard in target_shards(e, self.shard_count)]

    def keys(self, venue: str) -> list[tuple[int, str]]:
        """(shard, key) of the venue's streamed events in publication order; a liquidation's key is its number."""
        return [(s, event_key(e)) for s, e in self.seen if e.venue == venue and e.kind in STREAMED[venue]]

    def gaps(self, venue: str) -> list[Gap]:
        """The venue's gap markers, in order."""
        return [e for _, e in self.seen if isinstance(e, Gap) and e.venue == venue]


def event_key(event: Event) -> str:
    """What the checker calls an event: a liquidation by its number, anything else by kind and event time."""
    if isinstance(event, Liquidation):
        return f"{event.venue}:liq:{event.ts_ms - T0}"
    return f"{event.venue}:{event.kind}:{event.ts_ms}"


@dataclass
class Recorded:
    """Every delay generator the loops started, and what each one handed out."""

    drawn: list[list[float]] = field(default_factory=list)

    def factory(self) -> Iterator[float]:
        mine: list[float] = []
        self.drawn.append(mine)
        for delay in backoff(INITIAL_S, MIN_S, MAX_S, FACTOR, jitter=0.0):
            mine.append(delay)
            yield delay


@dataclass
class Rig:
    """The simulators, their proxies, the collector and its bus."""

    sims: dict[str, GatedSim]
    proxies: dict[str, FaultProxy]
    collector: Collector
    bus: RecordingBus
    metrics: Metrics
    sent: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, dict[str, int]] = field(default_factory=dict)

    def reconnects(self, venue: str) -> dict[str, int]:
        """``liqmon_feed_reconnects_total`` of ``venue`` by reason (reasons never counted left out)."""
        out = {}
        for reason in ("closed", "error", "stale", "planned", "rejected"):
            value = self.metrics.registry.get_sample_value(
                "liqmon_feed_reconnects_total", {"venue": venue, "reason": reason}
            )
            if value:
                out[reason] = int(value)
        return out

    def value(self, name: str, **labels: str) -> float:
        """One sample of the collector's metrics (0 when absent)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def settled(self, venue: str) -> bool:
        """The consumer has one open, subscribed socket, and it is the simulator's only client."""
        loops = self.collector.loops.get(venue) or []
        ports = self.proxies[venue].upstream_ports()
        return len(loops) == 1 and loops[0].is_open and len(ports) == 1 and ports == self.sims[venue].peer_ports()

    async def settle(self) -> None:
        """Wait until every venue is :meth:`settled`."""
        await wait_until(lambda: all(self.settled(v) for v in self.sims), timeout=20)

    async def batch(self) -> None:
        """Release the next ``BATCH`` liquidations of every venue and wait until all of them are on the bus."""
        await self.settle()
        for venue, sim in self.sims.items():
            if sim.released == 0:
                await sim.release(len(LEAD[venue]))
                self.sent[venue] += LEAD_KEYS[venue]
            start = sim.released - len(LEAD[venue])
            await sim.release(BATCH)
            self.sent[venue] += [f"{venue}:liq:{n}" for n in range(start, start + BATCH)]

        def arrived() -> bool:
            return all({k for _, k in self.bus.keys(v)} >= set(self.sent[v]) for v in self.sims)

        await wait_until(arrived, timeout=20)

    def expect(self, venue: str, reason: str, n: int = 1) -> None:
        """Count ``n`` more disconnects of ``venue`` for ``reason``."""
        self.expected[venue][reason] = self.expected[venue].get(reason, 0) + n

    async def until_expected(self, reason: str) -> None:
        """Every venue counted one more disconnect for ``reason``, and the counters reached it."""
        for venue in self.sims:
            self.expect(venue, reason)
        await wait_until(
            lambda: all(self.reconnects(v).get(reason, 0) >= self.expected[v][reason] for v in self.sims), timeout=20
        )

    async def proxy_fault(self, mode: Mode, reason: str) -> None:
        """Put every link in ``mode`` until the disconnect is counted, then let traffic pass again."""
        for proxy in self.proxies.values():
            proxy.set_mode(mode)
        await self.until_expected(reason)
        for proxy in self.proxies.values():
            proxy.set_mode("pass")

    async def inflict(self, fault: str) -> None:
        """One fault on both venues' links, waited for until the consumer has noticed it."""
        match fault:
            case "silent":  # the link goes quiet both ways: no data, no pongs -> stale
                await self.proxy_fault("blackhole", "stale")
            case "half_open":  # the client reads EOF while its own writes still go somewhere
                await self.proxy_fault("half_close", "closed")
            case "reset":
                await self.proxy_fault("reset", "closed")
            case "garbage":
                # A frame that is not the venue's: counted, the connection stays.
                for sim in self.sims.values():
                    sim.inject(Garbage())
                await wait_until(lambda: all(self.value(PARSE_ERRORS, venue=v, reason="json") == 1 for v in self.sims))
                # Bytes that are not even websocket framing: the client fails the connection (1002).
                for proxy in self.proxies.values():
                    proxy.inject(b"\xff\x05\x00garbage")
                await self.until_expected("closed")
            case "oversize":  # over max_size: the client closes with 1009, an error
                for sim in self.sims.values():
                    sim.inject(Oversize(size_bytes=4 * MAX_FRAME))
                await self.until_expected("error")
            case "accept_then_close":  # the live socket is closed, the next ones die right after the handshake
                wanted = {v: s.stats.connections + ACCEPT_THEN_CLOSE + 1 for v, s in self.sims.items()}
                for sim in self.sims.values():
                    sim.inject(AcceptThenClose(count=ACCEPT_THEN_CLOSE))
                    sim.inject(Close())
                await wait_until(
                    lambda: all(s.stats.connections >= wanted[v] for v, s in self.sims.items()), timeout=20
                )
                self.expect("binance", "closed", 1 + ACCEPT_THEN_CLOSE)
                self.expect("bybit", "closed", 1)  # its refused sockets may die before the subscribe (not counted)


@asynccontextmanager
async def rig(metrics: Metrics, tmp_path: Path, recorded: Recorded) -> AsyncIterator[Rig]:
    """Both simulators behind their proxies and a collector pointed at the proxies, running."""
    liquidations = BATCH * (len(FAULTS) + 1)
    sims = {v: GatedSim(v, capture(v, liquidations)) for v in ("binance", "bybit")}
    proxies: dict[str, FaultProxy] = {}
    try:
        overrides: dict[str, Any] = {"venues.cache_dir": str(tmp_path / "cache")}
        for venue in VENUES:
            overrides[f"venues.{venue}.enabled"] = venue in sims
        for venue, sim in sims.items():
            await sim.start()
            port = int(sim.ws_url.rsplit(":", 1)[1])
            proxies[venue] = await FaultProxy(port).start()
            overrides[f"venues.{venue}.ws_url"] = f"ws://{HOST}:{proxies[venue].port}"
            overrides[f"venues.{venue}.rest_url"] = sim.rest_url
            overrides[f"venues.{venue}.symbols"] = ["BTCUSDT"]
        policy = BackoffPolicy(
            initial_s=INITIAL_S,
            min_s=MIN_S,
            max_s=MAX_S,
            factor=FACTOR,
            jitter=0.0,
            healthy_after_s=600.0,
            rejected_s=1.0,
            delays=recorded.factory,
        )
        options = CollectorOptions(
            loop=LoopOptions(
                backoff=policy,
                liveness_timeout_s=LIVENESS_S,
                open_timeout_s=2.0,
                close_timeout_s=0.5,
                max_size=MAX_FRAME,
            ),
            rest=RestOptions(timeout_s=5.0, backoff=BackoffPolicy(initial_s=0.05, min_s=0.05, max_s=0.5)),
            adapters={"binance": QuickBinance, "bybit": QuickBybit},
            no_symbols_retry_s=0.1,
        )
        bus = RecordingBus(metrics)
        collector = Collector(load_settings(environ={}, overrides=overrides), bus, metrics, options=options)
        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(stop))
        try:
            assert await collector.wait_ready(20)
            yield Rig(sims, proxies, collector, bus, metrics, {v: [] for v in sims}, {v: {} for v in sims})
            assert not task.done(), "the collector stopped on its own"
        finally:
            stop.set()
            async with asyncio.timeout(15):
                await task  # an exception inside the collector would surface here
    finally:
        for proxy in proxies.values():
            await proxy.close()
        for sim in sims.values():
            await sim.close()


async def test_venue_link_faults_reconnect_with_gaps_and_lose_or_double_nothing(
    metrics: Metrics, tmp_path: Path
) -> None:
    recorded = Recorded()
    async with rig(metrics, tmp_path, recorded) as r:
        await r.batch()
        for fault in FAULTS:
            await r.inflict(fault)
            await r.batch()
        await r.settle()
        connections = {v: s.stats.connections for v, s in r.sims.items()}
        skipped = {v: s.stats.frames_skipped for v, s in r.sims.items()}
        reconnects = {v: r.reconnects(v) for v in r.sims}
        accepts = {v: list(p.stats.accepted_at) for v, p in r.proxies.items()}
        keys = {v: r.bus.keys(v) for v in r.sims}
        gaps = {v: r.bus.gaps(v) for v in r.sims}
        sent = r.sent
        dropped = {v: r.value("liqmon_feed_duplicates_dropped_total", venue=v) for v in r.sims}
        gap_metric = {v: r.value("liqmon_feed_gaps_total", venue=v) for v in r.sims}
        open_now = {v: r.value("liqmon_feed_connected", venue=v) for v in r.sims}
        expected = r.expected

    for venue in ("binance", "bybit"):
        report = check_events(sent[venue], sent[venue], keys[venue])
        report.assert_ok(duplicates_allowed=False)
        assert report.delivered == len(sent[venue]), venue
        assert skipped[venue] == 0, venue
        assert open_now[venue] == 1, venue  # exactly one socket per venue at the end, none leaked
        # One gap marker per disconnect of an open connection, each naming the venue's assets.
        total = sum(reconnects[venue].values())
        assert len(gaps[venue]) == total == gap_metric[venue], (venue, reconnects[venue], len(gaps[venue]))
        assert all(g.bases == ("BTC",) for g in gaps[venue])
        assert [g.reason for g in gaps[venue]].count("stale") == 1

    counted = {v: sum(c.values()) for v, c in reconnects.items()}
    assert reconnects["binance"] == expected["binance"]
    bybit = dict(reconnects["bybit"])
    bybit_closed, closed_floor = bybit.pop("closed"), expected["bybit"].pop("closed")
    assert closed_floor <= bybit_closed <= closed_floor + ACCEPT_THEN_CLOSE
    assert bybit == expected["bybit"]
    # The ticker snapshot re-sent on each resubscription (funding and open interest) was dropped by id every time.
    assert dropped["bybit"] == 2 * len(FAULTS)
    assert dropped["binance"] == 0

    # Backoff: one generator per connection, never reset (no connection lived healthy_after_s),
    # every delay exactly the policy's and none above max_s.
    assert len(recorded.drawn) == 2
    policy = [min(MAX_S, MIN_S * FACTOR**i) for i in range(1000)]
    for drawn in recorded.drawn:
        assert 0 <= drawn[0] < INITIAL_S
        assert drawn[1:] == policy[: len(drawn) - 1]
        assert max(drawn) <= MAX_S
    assert sum(len(d) for d in recorded.drawn) >= sum(counted.values())
    for venue, times in accepts.items():
        # Every attempt after the first waited its delay: at most one gap (the random first delay) is below min_s.
        waits = sorted(b - a for a, b in itertools.pairwise(times))
        assert all(w >= MIN_S - 0.002 for w in waits[1:]), (venue, waits[:5])
        assert len(times) >= connections[venue]
    print(
        "venue faults: "
        + "; ".join(
            f"{v}: {len(sent[v])} events sent, delivered once each; reconnects {reconnects[v]}, gaps {len(gaps[v])}, "
            f"simulator connections {connections[v]}, proxy accepts {len(accepts[v])}, "
            f"duplicates dropped {dropped[v]:.0f}"
            for v in ("binance", "bybit")
        )
        + f"; delays drawn per loop {[len(d) for d in recorded.drawn]}, longest {max(max(d) for d in recorded.drawn)} s"
    )
