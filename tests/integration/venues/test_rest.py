"""REST polling and instrument lists against the simulators: rate limits, bans, the disk cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from monitor.bus.memory import MemoryBus
from monitor.capture.format import CaptureRecord
from monitor.events import OpenInterest
from monitor.metrics import Metrics
from monitor.sim.faults import RestError
from monitor.sim.server import run_simulators
from monitor.sim.venue import SimOptions
from monitor.venues.binance import BinanceAdapter
from monitor.venues.feed import FeedSink
from monitor.venues.okx import OkxAdapter
from monitor.venues.rest import RestClient, RestOptions, RestPoller, load_instruments
from tests.integration.venues.support import FAST_BACKOFF, sample
from tests.support.services import free_port

pytestmark = pytest.mark.integration

OI_PATH = "/fapi/v1/openInterest?symbol=BTCUSDT"
OI_BODY = sample("binance_openInterest_rest.jsonl")[0]
OKX_INSTRUMENTS = orjson.dumps(
    {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "instType": "SWAP",
                "ctType": "linear",
                "ctVal": "0.01",
                "ctMult": "1",
                "ctValCcy": "BTC",
                "settleCcy": "USDT",
                "state": "live",
            },
        ],
    }
).decode()


def binance_records() -> list[CaptureRecord]:
    return [CaptureRecord(recv_ms=1, venue="binance", rest=OI_PATH, frame=OI_BODY)]


async def poll_until_event(poller: RestPoller, bus: MemoryBus) -> list[OpenInterest]:
    """Run the poller until its first event reaches the bus."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        batch = await bus.read_events([0], "test", count=10, block_ms=10_000)
    finally:
        stop.set()
        await task
    return [e for d in batch for e in d.events if isinstance(e, OpenInterest)]


@pytest.mark.parametrize(("status", "expected_wait"), [(429, 0.05), (418, 0.2)])
async def test_rate_limit_answers_are_honoured(status: int, expected_wait: float, metrics: Metrics) -> None:
    options = RestOptions(backoff=FAST_BACKOFF, ban_wait_s=0.2)
    async with run_simulators(binance_records(), ["binance"], speed=None) as sims, httpx.AsyncClient() as http:
        sims["binance"].inject(RestError(status, retry_after_s=0.05, path_contains="openInterest"))
        adapter = BinanceAdapter()
        bus = MemoryBus(metrics=metrics)
        rest = RestClient("binance", sims.rest_url("binance"), http, metrics, options)
        poller = RestPoller(adapter, rest, FeedSink("binance", bus, metrics), adapter.rest_polls(["BTCUSDT"]))
        events = await poll_until_event(poller, bus)
    assert poller.waits[0] == (status, expected_wait)
    assert (
        metrics.registry.get_sample_value("liqmon_rest_requests_total", {"venue": "binance", "status": str(status)})
        == 1
    )
    assert len(events) == 1


async def test_weight_header_is_tracked_and_429_then_418(metrics: Metrics) -> None:
    opts = SimOptions(weight_budget=3, weight_window_s=3600.0, ban_s=60.0)
    async with (
        run_simulators(binance_records(), ["binance"], speed=None, options=opts) as sims,
        httpx.AsyncClient() as http,
    ):
        rest = RestClient(
            "binance",
            sims.rest_url("binance"),
            http,
            metrics,
            RestOptions(weight_budget=3, weight_window_s=3600.0, slow_at=0.6),
        )
        statuses = []
        for _ in range(5):
            statuses.append((await rest.fetch(OI_PATH)).status)
            if len(statuses) == 2:
                assert rest.pace_s() > 0  # 2 of 3 used: past slow_at, the poller would wait for the next window
    assert statuses == [200, 200, 200, 429, 418]
    assert metrics.registry.get_sample_value("liqmon_rest_weight_used", {"venue": "binance"}) == 4


async def test_instrument_cache_is_used_when_rest_is_unreachable(metrics: Metrics, tmp_path: Path) -> None:
    records = [CaptureRecord(recv_ms=1, venue="okx", meta="instruments", frame=OKX_INSTRUMENTS)]
    async with run_simulators(records, ["okx"], speed=None) as sims, httpx.AsyncClient() as http:
        rest = RestClient("okx", sims.rest_url("okx"), http, metrics, RestOptions(backoff=FAST_BACKOFF))
        assert await load_instruments(OkxAdapter(), rest, tmp_path) >= 1
    assert (tmp_path / "instruments-okx.json").exists()

    offline = OkxAdapter()
    async with httpx.AsyncClient() as http:
        rest = RestClient("okx", f"http://127.0.0.1:{free_port()}", http, metrics, RestOptions(timeout_s=2.0))
        assert await load_instruments(offline, rest, tmp_path) >= 1
    inst = offline.instruments.get("BTC-USDT-SWAP")
    assert inst is not None
    assert inst.contract_size == 0.01
    assert metrics.registry.get_sample_value("liqmon_rest_requests_total", {"venue": "okx", "status": "error"}) == 2


async def test_first_polls_are_spread_over_the_interval_and_new_listings_join(metrics: Metrics) -> None:
    adapter = BinanceAdapter()
    symbols = [f"C{i}USDT" for i in range(600)]
    polls = adapter.rest_polls(symbols)
    interval = polls[0].interval_s
    async with httpx.AsyncClient() as http:
        rest = RestClient("binance", f"http://127.0.0.1:{free_port()}", http, metrics)  # never requested here
        poller = RestPoller(adapter, rest, FeedSink("binance", MemoryBus(metrics=metrics), metrics), [])
        poller.replan(polls)
        start = min(poller.due.values())
        offsets = sorted(due - start for due in poller.due.values())
        # Spread over one interval, never two at once: the first second holds only its share, not all 600.
        assert offsets[-1] < interval
        assert len({round(o, 9) for o in offsets}) == len(polls)
        assert sum(1 for o in offsets if o < 1.0) <= len(polls) / interval + 1
        kept = dict(poller.due)
        poller.replan(adapter.rest_polls([*symbols, "NEWUSDT"]))  # the refreshed instrument list
    assert all(poller.due[path] == due for path, due in kept.items())
    assert "/fapi/v1/openInterest?symbol=NEWUSDT" in poller.due
