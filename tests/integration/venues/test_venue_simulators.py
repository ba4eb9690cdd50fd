"""Each venue's real adapter against its simulator over real websockets on 127.0.0.1.

Subscribe, receive, normalize; a server-side drop is followed by reconnect,
resubscription, a gap marker and exactly the same events as an undisturbed
run (nothing lost, nothing doubled); a client that does not keep the
connection alive the venue's way is dropped by the simulator.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from monitor.events import Gap
from monitor.metrics import Metrics
from monitor.sim.faults import Close
from monitor.sim.protocols import protocol_for
from monitor.sim.server import run_simulators
from monitor.sim.venue import SimOptions
from monitor.venues.adapter import Keepalive
from monitor.venues.collector import Collector
from monitor.venues.deribit import DeribitAdapter
from monitor.venues.registry import VENUES, adapter_class
from tests.integration.venues.support import (
    LIMIT_SCALE,
    deribit_push,
    drain,
    fast_options,
    market,
    new_bus,
    projection,
    records,
    running,
    sample,
    settings_for,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Case:
    venue: str
    symbols: tuple[str, ...]
    frames: tuple[str, ...]


CASES = {
    "binance": Case("binance", ("BTCUSDT",), (*sample("binance_forceOrder.jsonl"), *sample("binance_markPrice.jsonl"))),
    "bybit": Case(
        "bybit",
        ("BTCUSDT", "ROSEUSDT", "PIPPINUSDT"),
        (
            *sample("bybit_tickers.jsonl", [1, 2]),
            *sample("bybit_allLiquidation.jsonl"),
            *sample("bybit_tickers.jsonl", [5]),
        ),
    ),
    "okx": Case(
        "okx",
        ("BTC-USDT-SWAP", "BTC-USD-SWAP"),
        (
            *sample("okx_liquidation-orders.jsonl", [1]),
            *sample("okx_open-interest.jsonl"),
            *sample("okx_funding-rate.jsonl"),
        ),
    ),
    "deribit": Case(
        "deribit",
        ("BTC-PERPETUAL",),
        (
            deribit_push("ticker.BTC-PERPETUAL.100ms", sample("deribit_ticker.jsonl")[0]),
            *sample("deribit_trades.jsonl", [2, 3]),
            deribit_push("trades.BTC-PERPETUAL.100ms", sample("deribit_trades.jsonl")[0]),
        ),
    ),
    "bitmex": Case(
        "bitmex", ("XBTUSD",), (*sample("bitmex_instrument.jsonl"), *sample("bitmex_liquidation.jsonl", [1, 2]))
    ),
    "hyperliquid": Case(
        "hyperliquid",
        ("MOODENG",),
        (*sample("hyperliquid_activeAssetCtx.jsonl"), *sample("hyperliquid_activeAssetCtx.jsonl")),
    ),
    "gate": Case(
        "gate",
        ("BTC_USDT",),
        (*sample("gate_tickers.jsonl", [2, 3]), *sample("gate_public_liquidates.jsonl", [2, 3, 4])),
    ),
    "bitfinex": Case(
        "bitfinex",
        ("tBTCF0:USTF0",),
        (*sample("bitfinex_status.jsonl", [1, 2]), *sample("bitfinex_liquidation.jsonl")),
    ),
    "bitget": Case(
        "bitget", ("BTCUSDT",), (*sample("bitget_ticker.jsonl", [1]), *sample("bitget_liquidation.jsonl", [1]))
    ),
}

SIM = SimOptions(
    limit_scale=LIMIT_SCALE, hold_timeout_s=5.0, drop_after_s=2.0, ping_interval_s=0.05, heartbeat_interval_s=0.1
)


def keepalive_every(venue: str, seconds: float) -> Keepalive:
    """The venue's keepalive mode with a different interval."""
    ka = adapter_class(venue).keepalive
    return Keepalive(ka.mode, interval_s=seconds, payload=ka.payload, drop_after_s=ka.drop_after_s)


async def run_case(case: Case, metrics: Metrics, tmp: Path, *, close_at: int | None) -> tuple[list, object]:
    recs = records(case.venue, case.frames)
    async with run_simulators(recs, [case.venue], speed=None, options=SIM) as sims:
        sim = sims[case.venue]
        if close_at is not None:
            sim.inject(Close(), at_frame=close_at)
        settings = settings_for(sims.settings_overrides(), tmp, **{f"venues.{case.venue}.symbols": list(case.symbols)})
        bus = new_bus(metrics)
        collector = Collector(settings, bus, metrics, options=fast_options(keepalive=keepalive_every(case.venue, 0.05)))
        async with running(collector):
            assert await collector.wait_ready(10)
            await sims.wait_served(20)
            await sim.wait_for(lambda s: s.stats.pings >= 1 or case.venue in ("binance", "gate"), 10)
            events = await drain(bus)
            stats = sim.stats
    return events, stats


@pytest.mark.parametrize("venue", list(CASES))
async def test_subscribe_receive_drop_reconnect(venue: str, metrics: Metrics, tmp_path: Path) -> None:
    case = CASES[venue]
    clean, clean_stats = await run_case(case, metrics, tmp_path / "a", close_at=None)
    assert market(clean), f"{venue}: no events normalized from the sample frames"
    assert not [e for e in clean if isinstance(e, Gap)]
    assert clean_stats.frames_skipped == 0
    assert clean_stats.keepalive_drops == 0

    dropped, stats = await run_case(case, metrics, tmp_path / "b", close_at=len(case.frames) // 2)
    gaps = [e for e in dropped if isinstance(e, Gap)]
    assert gaps
    assert all(g.venue == venue for g in gaps)
    # The connection that carried the frames was closed, came back and subscribed again (a connection with
    # nothing to deliver, such as Deribit's options one here, is not dropped); nothing was lost or doubled.
    assert stats.connections >= clean_stats.connections + 1
    # (venues that subscribe in the URL send no subscribe request at all)
    assert stats.subscribe_requests > clean_stats.subscribe_requests or clean_stats.subscribe_requests == 0
    assert stats.frames_skipped == 0
    ids = [e.id for e in market(dropped)]
    assert len(ids) == len(set(ids))
    assert Counter(map(projection, market(dropped))) == Counter(map(projection, market(clean)))
    assert metrics.registry.get_sample_value("liqmon_feed_gaps_total", {"venue": venue}) >= 1
    assert metrics.registry.get_sample_value("liqmon_feed_reconnects_total", {"venue": venue, "reason": "closed"}) >= 1


CLIENT_PING = [v for v in CASES if protocol_for(v).keepalive == "client_ping"]


@pytest.mark.parametrize("venue", CLIENT_PING)
async def test_client_that_stops_pinging_is_dropped(venue: str, metrics: Metrics, tmp_path: Path) -> None:
    case = CASES[venue]
    opts = SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=1.0, drop_after_s=0.2)
    async with run_simulators(records(venue, case.frames[:1]), [venue], speed=None, options=opts) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path, **{f"venues.{venue}.symbols": list(case.symbols)})
        # A keepalive the client never honours: one ping an hour.
        collector = Collector(
            settings, new_bus(metrics), metrics, options=fast_options(keepalive=keepalive_every(venue, 3600.0))
        )
        async with running(collector):
            sim = sims[venue]

            def gaps() -> float:
                return metrics.registry.get_sample_value("liqmon_feed_gaps_total", {"venue": venue}) or 0.0

            # A drop while the client is still subscribing is a failed connect, with no gap; one after it
            # is a gap, published before the client connects again (which wakes the simulator's waiters).
            await sim.wait_for(lambda s: s.stats.keepalive_drops >= 1 and gaps() >= 1, 10)
            await sim.wait_for(lambda s: s.stats.connections > s.stats.keepalive_drops, 10)
            assert sim.stats.pings == 0
    assert metrics.registry.get_sample_value("liqmon_feed_gaps_total", {"venue": venue}) >= 1


class SilentDeribit(DeribitAdapter):
    """Never answers test_request."""

    def reply(self, frame: str | bytes) -> str | None:
        return None


async def test_deribit_unanswered_heartbeat_is_dropped(metrics: Metrics, tmp_path: Path) -> None:
    case = CASES["deribit"]
    opts = SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=1.0, heartbeat_interval_s=0.1)
    async with run_simulators(records("deribit", case.frames[:1]), ["deribit"], speed=None, options=opts) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path, **{"venues.deribit.symbols": ["BTC-PERPETUAL"]})
        collector = Collector(
            settings, new_bus(metrics), metrics, options=fast_options(adapters={"deribit": SilentDeribit})
        )
        async with running(collector):
            # Two connections (instruments and BTC options): after three drops one of them has dropped,
            # reconnected and dropped again, so its first gap has been published.
            await sims["deribit"].wait_for(lambda s: s.stats.keepalive_drops >= 3, 10)
    assert metrics.registry.get_sample_value("liqmon_feed_gaps_total", {"venue": "deribit"}) >= 1


@pytest.mark.parametrize("venue", ["binance", "gate"])
async def test_server_ping_venue_drops_a_client_that_never_pongs(venue: str) -> None:
    opts = SimOptions(limit_scale=LIMIT_SCALE, ping_interval_s=0.05, drop_after_s=0.2)
    async with (
        run_simulators(records(venue, CASES[venue].frames[:1]), [venue], speed=None, options=opts) as sims,
        connect(sims.ws_url(venue) + "/ws/btcusdt@forceOrder", proxy=None, ping_interval=None, close_timeout=0.1) as ws,
    ):
        ws.transport.pause_reading()  # pings are never read, so never answered
        await sims[venue].wait_for(lambda s: s.stats.keepalive_drops == 1, 10)


@pytest.mark.parametrize("venue", ["binance", "gate"])
async def test_server_ping_venue_keeps_a_client_that_pongs(venue: str, metrics: Metrics, tmp_path: Path) -> None:
    case = CASES[venue]
    opts = SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=1.0, ping_interval_s=0.02, drop_after_s=0.5)
    async with run_simulators(records(venue, case.frames), [venue], speed=None, options=opts) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path, **{f"venues.{venue}.symbols": list(case.symbols)})
        collector = Collector(settings, new_bus(metrics), metrics, options=fast_options())
        async with running(collector):
            assert await collector.wait_ready(10)
            await sims.wait_served(10)
            # Many server pings later the client is still the first and only connection.
            gauge = metrics.registry.get_sample_value("liqmon_feed_connected", {"venue": venue})
            assert gauge is not None
            assert gauge >= 1
        assert sims[venue].stats.keepalive_drops == 0


async def test_gate_connection_sends_size_decimal_header(metrics: Metrics, tmp_path: Path) -> None:
    case = CASES["gate"]
    async with run_simulators(records("gate", case.frames[:1]), ["gate"], speed=None, options=SIM) as sims:
        settings = settings_for(sims.settings_overrides(), tmp_path, **{"venues.gate.symbols": ["BTC_USDT"]})
        collector = Collector(settings, new_bus(metrics), metrics, options=fast_options())
        async with running(collector):
            assert await collector.wait_ready(10)
        assert all(h.get("x-gate-size-decimal") == "1" for h in sims["gate"].stats.headers)


def test_every_venue_has_a_case() -> None:
    assert sorted(CASES) == sorted(VENUES)
    assert asyncio.iscoroutinefunction(run_case)
