"""Latency from venue event time to detector decision and to console alert delivery, embedded bus and Redis.

A Binance simulator (``run_simulators``) runs in a child process and sends
``forceOrder`` frames at ``--rate`` messages/s for ``--seconds``; every frame's
event time (``E``/``T``) is the wall-clock instant the simulator is scheduled
to send it, so event time → decision covers simulator send, websocket, parse,
bus and detectors. The pipeline (``Application``, all roles, console sink)
runs in this process, once on the embedded bus and once over a throwaway
redis-server. The ``liqmon_decision_latency_seconds`` and
``liqmon_alert_delivery_latency_seconds`` observations are recorded one by one
(the histograms themselves still get every value), so p50/p99/max are exact
rather than bucket estimates. Timestamps have 1 ms resolution. Over Redis the
detector checkpoints its shards (the defaults, unless ``--no-checkpoints``); each
write's time on the event loop (engine snapshot + encoding) and size are printed.

Run: ``.venv/bin/python bench/latency.py [--seconds 10] [--rate 10000]`` (``--seconds 60`` for the full run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from common import PYTHON, machine, percentile, redis_server
from prometheus_client import CollectorRegistry

from monitor.app import Application
from monitor.capture.format import CaptureRecord, read_capture
from monitor.detectors import checkpoint
from monitor.detectors.engine import DetectionEngine
from monitor.metrics import Metrics
from monitor.settings import load_settings


class Recorder:
    """Stands in for a histogram child: keeps every observation and forwards it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.values: list[float] = []
        self.children: dict[tuple[tuple[str, str], ...], Recorder] = {}

    def observe(self, value: float) -> None:
        self.values.append(value)
        self.inner.observe(value)

    def observe_many(self, values: list[float]) -> None:
        self.values.extend(values)
        self.inner.observe_many(values)

    def labels(self, **labels: str) -> Recorder:
        child = self.children.setdefault(tuple(sorted(labels.items())), Recorder(self.inner.labels(**labels)))
        child.values = self.values
        return child


def instrument_records(scenario: Path) -> list[CaptureRecord]:
    """Binance instrument lists from a scenario capture (its REST bodies carry old timestamps: left out)."""
    records = []
    for record in read_capture(scenario):
        if record.venue == "binance" and record.meta is not None:
            records.append(record)
            if len(records) > 40:
                break
    return records


def frames(start_ms: int, rate: int, seconds: float, seed: int = 3) -> list[CaptureRecord]:
    """forceOrder frames at ``rate``/s from ``start_ms``; event time = scheduled send time."""
    rng = random.Random(seed)
    out = []
    for i in range(int(rate * seconds)):
        at = start_ms + int(i * 1000 / rate)
        order = {
            "s": rng.choice(("BTCUSDT", "ETHUSDT")),
            "S": rng.choice(("SELL", "BUY")),
            "o": "LIMIT",
            "f": "IOC",
            "q": f"{rng.uniform(0.001, 0.5):.3f}",
            "p": f"{rng.uniform(69000, 71000):.1f}",
            "ap": f"{rng.uniform(69000, 71000):.1f}",
            "X": "FILLED",
            "l": "0.1",
            "z": "0.1",
            "T": at,
        }
        frame = orjson.dumps({"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "E": at, "o": order}}).decode()
        out.append(CaptureRecord(recv_ms=at, venue="binance", frame=frame))
    return out


async def serve(args: argparse.Namespace) -> None:
    """Child process: simulators; prints the settings overrides, starts playback at the announced time."""
    from monitor.sim.server import run_simulators
    from monitor.sim.venue import SimOptions

    start_ms = int(time.time() * 1000) + int(args.lead * 1000)
    records = [*instrument_records(Path(args.scenario)), *frames(start_ms, args.rate, args.seconds)]
    options = SimOptions(speed=1.0, wall_clock=True, auto_start=False, hold_timeout_s=30.0)
    async with run_simulators(records, venues=["binance"], speed=1.0, options=options) as sims:
        print(json.dumps({"overrides": sims.settings_overrides(), "start_ms": start_ms}), flush=True)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start_ms / 1000 - time.time()))
        sims["binance"].start_playback()
        await sims.wait_served(args.seconds + 60)
        stats = sims["binance"].stats
        print(json.dumps({"served": stats.frames_sent, "lateness": stats.send_lateness_ms}), flush=True)
        del loop


class Decisions:
    """Wraps ``DetectionEngine.feed``: receive stamp → detector decision (after the engine returns), per event.

    This is the part of the latency liqmon owns; event time → receive stamp is the simulator's send
    lateness, loopback and the websocket read, and both stamps are floored to the millisecond.
    """

    def __init__(self) -> None:
        self.values: list[float] = []
        self.original = DetectionEngine.feed

    def install(self) -> None:
        original, values = self.original, self.values

        def feed(engine: DetectionEngine, event: Any) -> Any:
            alerts = original(engine, event)
            if engine.last_outcome == "processed":
                values.append(max(0.0, time.time() - event.recv_ms / 1000))
            return alerts

        DetectionEngine.feed = feed  # type: ignore[method-assign]

    def remove(self) -> None:
        DetectionEngine.feed = self.original  # type: ignore[method-assign]


class Arrivals:
    """Wraps ``Metrics.observe_events`` (called as each frame's events leave the parser) to split the latency:
    event time → receive stamp (simulator send lateness + loopback + websocket read), receive → parsed."""

    def __init__(self, metrics: Metrics) -> None:
        self.observe = metrics.observe_events
        self.transport: list[float] = []
        self.parsed: list[float] = []

    def __call__(self, events: Any) -> None:
        now_ms = time.time() * 1000
        for event in events:
            self.transport.append((event.recv_ms - event.ts_ms) / 1000)
            self.parsed.append((now_ms - event.recv_ms) / 1000)
        self.observe(events)


class Checkpoints:
    """Wraps ``DetectionEngine.snapshot`` and ``checkpoint.encode``: the loop time and size of each checkpoint."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.sizes: list[int] = []
        self.snapshot, self.encode = DetectionEngine.snapshot, checkpoint.encode

    def install(self) -> None:
        snapshot, encode, began = self.snapshot, self.encode, [0.0]

        def timed_snapshot(engine: DetectionEngine) -> Any:
            began[0] = time.perf_counter()
            return snapshot(engine)

        def timed_encode(saved: checkpoint.Checkpoint) -> bytes:
            data = encode(saved)
            self.pauses.append(time.perf_counter() - began[0])
            self.sizes.append(len(data))
            return data

        DetectionEngine.snapshot = timed_snapshot  # type: ignore[method-assign]
        checkpoint.encode = timed_encode

    def remove(self) -> None:
        DetectionEngine.snapshot = self.snapshot  # type: ignore[method-assign]
        checkpoint.encode = self.encode


async def measure(
    overrides: dict[str, Any], redis_url: str | None, until_ms: int, checkpoints: Checkpoints, *, save: bool
) -> tuple[Recorder, Recorder, Arrivals, Decisions]:
    extra: dict[str, Any] = {"metrics.enabled": False, "alerts.console": True}
    if redis_url:
        extra["bus.redis_url"] = redis_url
    if not save:
        extra |= {"detectors.checkpoint_events": 0, "detectors.checkpoint_interval_s": 0}
    settings = load_settings(environ={}, overrides={**overrides, **extra})
    metrics = Metrics(CollectorRegistry())
    decision = Recorder(metrics.decision_latency)
    delivery = Recorder(metrics.delivery_latency)
    metrics.decision_latency = decision  # type: ignore[assignment]
    metrics.delivery_latency = delivery  # type: ignore[assignment]
    arrivals = Arrivals(metrics)
    metrics.observe_events = arrivals  # type: ignore[method-assign]
    decided = Decisions()
    decided.install()
    checkpoints.install()
    try:
        app = Application(settings, metrics=metrics, serve_metrics=False)
        runner = asyncio.create_task(app.run(install_signals=False))
        await asyncio.sleep(max(0.0, until_ms / 1000 - time.time()))
        app.request_stop()
        if await runner != 0:
            raise SystemExit("the pipeline crashed during the measurement (see the task_crashed log line)")
    finally:
        decided.remove()
        checkpoints.remove()
    return decision, delivery, arrivals, decided


def summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<44}no observations"
    ordered = sorted(values)
    ms = [percentile(ordered, q) * 1000 for q in (0.5, 0.99)]
    return f"{label:<44}n={len(ordered):>8}  p50 {ms[0]:7.2f} ms  p99 {ms[1]:7.2f} ms  max {ordered[-1] * 1000:8.2f} ms"


def one_run(args: argparse.Namespace, redis_url: str | None) -> list[str]:
    cmd = [str(PYTHON), __file__, "--serve", "--rate", str(args.rate), "--seconds", str(args.seconds)]
    cmd += ["--lead", str(args.lead), "--scenario", str(args.scenario)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert child.stdout is not None
        hello = json.loads(child.stdout.readline())
        until_ms = hello["start_ms"] + int(args.seconds * 1000) + 2000
        saved = Checkpoints()
        with contextlib.redirect_stdout(io.StringIO()):
            decision, delivery, arrivals, decided = asyncio.run(
                measure(hello["overrides"], redis_url, until_ms, saved, save=args.checkpoints)
            )
        done = json.loads(child.stdout.readline() or "{}")
        served, lateness = done.get("served", "?"), [ms / 1000 for ms in done.get("lateness", [])]
    finally:
        child.wait(30)
    bus = "redis" if redis_url else "embedded"
    return [
        f"[{bus}] frames served by the simulator: {served}",
        summary(f"[{bus}]   simulator send lateness", lateness),
        summary(f"[{bus}]   of which event time → received", arrivals.transport),
        summary(f"[{bus}]   of which received → parsed", arrivals.parsed),
        summary(f"[{bus}] received → detector decision", decided.values),
        summary(f"[{bus}] event time → detector decision", decision.values),
        summary(f"[{bus}] event time → console delivery", delivery.values),
        summary(f"[{bus}] checkpoint snapshot + encode", saved.pauses)
        + (f"  largest {max(saved.sizes):,} bytes" if saved.sizes else ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sending period (60 for the full run)")
    parser.add_argument("--rate", type=int, default=10_000, help="messages per second")
    parser.add_argument("--lead", type=float, default=6.0, help="seconds between start-up and the first frame")
    parser.add_argument("--scenario", type=Path, help="scenario capture for instrument lists (default: generate)")
    parser.add_argument("--bus", choices=("both", "embedded", "redis"), default="both")
    parser.add_argument(
        "--no-checkpoints", dest="checkpoints", action="store_false", help="detector checkpoints off (Redis bus)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.scenario is None:
            args.scenario = Path(tmp) / "crash.jsonl.gz"
            liqmon = Path(PYTHON).with_name("liqmon")
            subprocess.run(
                [str(liqmon), "scenario", "feb-2026-crash", "--out", str(args.scenario)],
                check=True,
                capture_output=True,
            )
        saving = "on" if args.checkpoints else "off"
        lines = [f"machine: {machine()}; {args.rate} msg/s for {args.seconds:g} s, Binance forceOrder"]
        lines[0] += f"; detector checkpoints {saving}"
        if args.bus in ("both", "embedded"):
            lines += one_run(args, None)
        if args.bus in ("both", "redis"):
            with redis_server(Path(tmp)) as port:
                lines += one_run(args, f"redis://127.0.0.1:{port}/0")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
