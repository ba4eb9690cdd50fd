"""Detector throughput (events/s per detector and for the whole engine) and memory per tracked asset.

Run: .venv/bin/python bench/detectors.py [--assets N] [--events N]
Prints figures only; never part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable

from monitor.detectors.config import DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.events import Event, Funding, Liquidation, OpenInterest

T0 = 1_770_249_600_000
VENUES = ("binance", "bybit", "okx", "bitget", "gate")


def liquidation(rng: random.Random, ts: int, base: str, i: int) -> Event:
    venue = rng.choice(VENUES)
    usd = rng.lognormvariate(9, 1.5)
    return Liquidation(
        id=f"l{i}",
        venue=venue,
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        side=rng.choice(("long", "short")),
        price=100.0,
        qty_base=usd / 100,
        notional_usd=usd,
    )


def funding(rng: random.Random, ts: int, base: str, i: int) -> Event:
    rate = 0.0001 + rng.gauss(0, 0.00001)
    return Funding(
        id=f"f{i}",
        venue=rng.choice(VENUES),
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        rate=rate,
        interval_h=8.0,
        rate_8h=rate,
        mark_price=100.0,
    )


def open_interest(rng: random.Random, ts: int, base: str, i: int) -> Event:
    value = 1e6 * (1 + rng.gauss(0, 0.001))
    return OpenInterest(
        id=f"o{i}",
        venue=rng.choice(VENUES),
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        oi_base=value,
        oi_usd=value * 100,
    )


def stream(make: Callable[[random.Random, int, str, int], Event], count: int, assets: int, step_ms: int) -> list[Event]:
    rng = random.Random(1)
    bases = [f"A{n}" for n in range(assets)]
    return [make(rng, T0 + i * step_ms, bases[i % assets], i) for i in range(count)]


def throughput(events: list[Event]) -> float:
    engine = DetectionEngine(DetectorSettings())
    gc.collect()
    start = time.perf_counter()
    for event in events:
        engine.feed(event)
    return len(events) / (time.perf_counter() - start)


def memory_per_asset(assets: int, minutes: int) -> float:
    """Bytes held per asset after ``minutes`` of a busy mixed stream on every asset."""
    rng = random.Random(2)
    makers = (liquidation, funding, open_interest, open_interest)
    events: list[Event] = []
    per_asset_per_minute = 120  # two events a second per asset
    for m in range(minutes):
        for a in range(assets):
            for k in range(per_asset_per_minute):
                ts = T0 + m * 60_000 + k * 500
                events.append(makers[k % 4](rng, ts, f"A{a}", len(events)))
    events.sort(key=lambda e: e.ts_ms)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    engine = DetectionEngine(DetectorSettings(dedup_capacity=1))  # leave the dedup LRU out of the figure
    for event in events:
        engine.feed(event)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return grown / assets


def dedup_bytes(capacity: int) -> int:
    """Bytes held by the duplicate-id LRU when full."""
    from monitor.detectors.hygiene import RecentIds

    gc.collect()
    tracemalloc.start()
    ids = RecentIds(capacity)
    for i in range(capacity):
        ids.seen(("liquidation", "binance", f"{i:020d}"))
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=20)
    args = parser.parse_args()
    n, assets = args.events, args.assets
    print(f"detector throughput, {n} events over {assets} assets, 5 venues (events/s, higher is better)")
    # 10 ms apart: a busy market (100 events/s), so ticks (every asset, once a second) are a small share.
    for name, make in (("liquidation cascade", liquidation), ("funding", funding), ("open interest", open_interest)):
        print(f"  {name:<22} {throughput(stream(make, n, assets, 10)):>10,.0f}")
    rng = random.Random(3)
    makers = (liquidation, funding, open_interest, open_interest)
    mixed = [makers[i % 4](rng, T0 + i * 10, f"A{i % assets}", i) for i in range(n)]
    print(f"  {'mixed (whole engine)':<22} {throughput(mixed):>10,.0f}")
    per = memory_per_asset(assets=10, minutes=90)
    print(f"memory per tracked asset after 90 min at 2 events/s (tracemalloc): {per / 1024:,.1f} KiB")
    print(f"duplicate-id LRU at its default capacity (200k ids, shared): {dedup_bytes(200_000) / 2**20:,.1f} MiB")


if __name__ == "__main__":
    main()
