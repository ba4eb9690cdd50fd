"""Detector throughput (events per CPU second, per detector and whole engine) and memory per tracked asset.

Run: .venv/bin/python bench/detectors.py [--assets N] [--events N] [--rounds N] [--baseline-src DIR]
Prints figures only; never part of the test suite.

Before/after comparison on one (shared, noisy) machine: export the old detectors next to the current
rest of the package and let each round run both, alternately, in fresh interpreters:

    mkdir -p /tmp/base/monitor && for f in monitor/*; do ln -s "$PWD/$f" /tmp/base/monitor/; done
    rm /tmp/base/monitor/detectors && git archive HEAD monitor/detectors | tar -x -C /tmp/base
    .venv/bin/python bench/detectors.py --rounds 3 --baseline-src /tmp/base
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
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


def throughput(events: list[Event], best_of: int = 1) -> float:
    """Events per CPU second through a fresh engine; the best of ``best_of`` runs (the least disturbed one).

    CPU time of this process, not wall time: on a shared machine the time spent waiting for a core
    does not count (the engine is single-threaded and does no I/O, so on an idle machine both agree).
    """
    best = 0.0
    for _ in range(best_of):
        engine = DetectionEngine(DetectorSettings())
        gc.collect()
        start = time.process_time()
        for event in events:
            engine.feed(event)
        best = max(best, len(events) / (time.process_time() - start))
    return best


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
    """Bytes the duplicate-id LRU holds when full (events are dropped after admission, as in the daemon)."""
    from monitor.detectors.hygiene import Gatekeeper

    rng = random.Random(4)
    gc.collect()
    tracemalloc.start()
    gate = Gatekeeper(capacity=capacity, tolerance_ms=10_000, future_tolerance_ms=5_000)
    for i in range(capacity):
        gate.admit(liquidation(rng, T0 + i, "BTC", 10**12 + i))  # ids like a venue's 13-digit trade ids
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size


THROUGHPUT = ("liquidation cascade", "funding", "open interest", "mixed (whole engine)")
MEMORY = ("KiB per asset", "dedup MiB at 200k")


def measure(n: int, assets: int, memory: bool, best_of: int = 1) -> dict[str, float]:
    """One round of every figure (events/s for the throughputs)."""
    figures: dict[str, float] = {}
    # 10 ms apart: a busy market (100 events/s), so ticks (every asset, once a second) are a small share.
    for name, make in zip(THROUGHPUT, (liquidation, funding, open_interest), strict=False):
        figures[name] = throughput(stream(make, n, assets, 10), best_of)
    rng = random.Random(3)
    makers = (liquidation, funding, open_interest, open_interest)
    mixed = [makers[i % 4](rng, T0 + i * 10, f"A{i % assets}", i) for i in range(n)]
    figures[THROUGHPUT[3]] = throughput(mixed, best_of)
    if memory:
        figures[MEMORY[0]] = memory_per_asset(assets=10, minutes=90) / 1024
        figures[MEMORY[1]] = dedup_bytes(200_000) / 2**20
    return figures


def run_child(args: argparse.Namespace, src: str | None) -> dict[str, float]:
    """One round in a fresh interpreter, with ``src`` (a directory holding a ``monitor`` package) first on the path."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (src, env.get("PYTHONPATH"))))
    command = [sys.executable, __file__, "--json", "--events", str(args.events), "--assets", str(args.assets)]
    command += ["--best-of", str(args.best_of)]
    if args.no_memory:
        command.append("--no-memory")
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = json.loads(out.splitlines()[-1])
    return figures


def spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:,.0f}" if round(low) == round(high) else f"{low:,.0f}–{high:,.0f}"


def report(rounds: list[dict[str, float]], baseline: list[dict[str, float]]) -> None:
    """Figures as ranges over the rounds; with a baseline, the ratio current / baseline of the medians and per round."""
    print(f"{'events per CPU s (higher better)':<28}{'current':>20}", end="")
    print(f"{'baseline':>20}{'ratio':>8}{'per round':>14}" if baseline else "")
    for name in (*THROUGHPUT, *MEMORY):
        if name not in rounds[0]:
            continue
        if name == MEMORY[0]:
            print("memory (lower is better)")
        values = [r[name] for r in rounds]
        line = f"  {name:<26}{spread(values):>20}"
        if baseline:
            base = [r[name] for r in baseline]
            per_round = [c / b for c, b in zip(values, base, strict=True)]
            ratio = statistics.median(values) / statistics.median(base)
            line += f"{spread(base):>20}{ratio:>7.2f}×{min(per_round):>8.2f}–{max(per_round):.2f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every figure this many times (report ranges)")
    parser.add_argument(
        "--baseline-src",
        help="a directory holding another `monitor` package (e.g. an export of the previous commit); each round "
        "runs it and the current code in fresh interpreters, alternately, and ratios are printed",
    )
    parser.add_argument("--best-of", type=int, default=1, help="run each throughput this often, keep the best")
    parser.add_argument("--no-memory", action="store_true", help="throughput only (the memory figures take a while)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one round, for run_child
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.events, args.assets, not args.no_memory, args.best_of)))
        return
    print(
        f"detector throughput, {args.events:,} events over {args.assets} assets, 5 venues; "
        f"{args.rounds} round(s), best of {args.best_of} per figure and round"
    )
    rounds: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    for _ in range(args.rounds):
        if args.baseline_src:
            baseline.append(run_child(args, args.baseline_src))
            rounds.append(run_child(args, None))
        else:
            rounds.append(measure(args.events, args.assets, not args.no_memory, args.best_of))
    report(rounds, baseline)


if __name__ == "__main__":
    main()
