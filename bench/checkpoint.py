"""Detector checkpoint cost: size, snapshot + encode (time on the event loop) and decode + restore, full dedup memory.

An engine is fed ``--events`` liquidations of ``--assets`` assets within a few seconds of event time (the
default 200,000 fill ``dedup_capacity``, the worst case for a checkpoint), then checkpointed as the
runner does: ``engine.snapshot()`` + ``checkpoint.encode`` (the pause of the detector's loop), and
restored as a new owner does: ``restore_checkpoint`` (decode + a fresh engine's ``restore``). Best of
``--best-of``. With ``--baseline-src DIR`` (a tree holding a ``monitor`` package, e.g. from
``git archive``) each round runs both trees in fresh interpreters, alternating, and prints the ratios.

Run: ``.venv/bin/python bench/checkpoint.py [--baseline-src /tmp/base] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

T0 = 1_770_249_600_000
FIGURES = ("bytes", "snapshot + encode ms", "decode + restore ms")


def measure(events: int, assets: int, best_of: int) -> dict[str, float]:
    """One tree's figures (the ``monitor`` package first on the path)."""
    from monitor.detectors import checkpoint
    from monitor.detectors.config import DetectorSettings
    from monitor.detectors.engine import DetectionEngine
    from monitor.detectors.runner import restore_checkpoint
    from monitor.events import Liquidation

    rng = random.Random(7)
    settings = DetectorSettings()
    engine = DetectionEngine(settings)
    for i in range(events):
        base = f"A{i % assets}"
        ts = T0 + i * 5_000 // max(1, events)  # all within 5 s: nothing is late, the dedup memory fills
        engine.feed(
            Liquidation(
                id=f"{rng.getrandbits(64):016x}",
                venue="binance",
                symbol=f"{base}USDT",
                base=base,
                quote="USDT",
                contract="linear",
                ts_ms=ts,
                recv_ms=ts,
                side=rng.choice(("long", "short")),
                price=100.0,
                qty_base=1.0,
                notional_usd=100.0,
            )
        )
    fingerprint = checkpoint.settings_fingerprint(settings)
    entry = f"{T0 + 5_000}-0"
    save, load = [], []
    data = b""
    for _ in range(best_of):
        started = time.perf_counter()
        saved = checkpoint.Checkpoint(checkpoint.VERSION, fingerprint, 0, entry, T0, engine.snapshot())
        data = checkpoint.encode(saved)
        save.append(time.perf_counter() - started)
        started = time.perf_counter()
        restore_checkpoint(data, 0, None, settings, now_ms=T0 + 10_000)
        load.append(time.perf_counter() - started)
    return dict(zip(FIGURES, (float(len(data)), min(save) * 1000, min(load) * 1000), strict=True))


def child(src: str | None, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (src, env.get("PYTHONPATH"))))
    command = [sys.executable, __file__, "--json", "--events", str(args.events), "--assets", str(args.assets)]
    command += ["--best-of", str(args.best_of)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = json.loads(out.splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=2)
    parser.add_argument("--best-of", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-src", help="a tree holding the previous release's monitor package")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.events, args.assets, args.best_of)))
        return
    current: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    for _ in range(args.rounds):
        if args.baseline_src:
            baseline.append(child(args.baseline_src, args))
        current.append(child(None, args))
    print(f"{args.events:,} liquidations of {args.assets} assets, best of {args.best_of}, {args.rounds} round(s)")
    print(f"{'':<24}{'current':>14}" + (f"{'baseline':>14}{'ratio':>9}" if baseline else ""))
    for name in FIGURES:
        value = statistics.median(r[name] for r in current)
        line = f"{name:<24}{value:>14,.1f}"
        if baseline:
            base = statistics.median(r[name] for r in baseline)
            line += f"{base:>14,.1f}{value / base:>8.2f}×"
        print(line)


if __name__ == "__main__":
    main()
