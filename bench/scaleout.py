"""Scale-out over Redis: 1 vs 2 collectors (split by venue) and 1 vs 2 detectors, events/s and CPU per process.

Collectors: the ``feb-2026-crash`` capture (or ``--capture``) is replayed into
Redis by one ``liqmon replay --no-detect`` process, then by two at once, each
with the venues of one half of the records; events/s is the events written
over the time until the last collector exits.

Detectors: the scenario is one asset (BTC), so its events all land on one
shard and a second detector could only stand by. The detector runs therefore
use the same events spread round-robin over eight assets (``base`` rewritten),
published into eight shards after one or two ``liqmon detect`` processes have
settled their shares; events/s is the events over the time from the first
publish until the group has read and acknowledged everything.

CPU seconds per process come from /proc (collectors: from ``wait4``). The
figures are only meaningful next to the machine line: on a 2-core machine two
collectors and redis-server already compete for the cores.

Run: ``.venv/bin/python bench/scaleout.py [--capture F] [--limit N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import orjson
import redis
from common import PYTHON, ROOT, machine, redis_server
from e2e import (
    SHARDS,
    count_lines,
    detector_caught_up,
    make_capture,
    precompile,
    process_cpu_s,
    redis_cpu_s,
    stream_events,
)
from prometheus_client import CollectorRegistry

from monitor.bus.codec import decode_batch
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.events import Event, Gap
from monitor.metrics import Metrics
from monitor.settings import BusSettings

ASSETS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX")


def env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "LIQMON_BUS__REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "LIQMON_BUS__SHARD_COUNT": str(SHARDS),
        "LIQMON_METRICS__ENABLED": "false",
        "LIQMON_DETECTORS__LEASE_TTL_S": "4",
        "LIQMON_DETECTORS__LEASE_RENEW_S": "1",
        "PYTHONPATH": str(ROOT),
    }


def split_by_venue(capture: Path, out: Path) -> list[Path]:
    """Two captures with the venues of ``capture`` split so that each holds about half the records."""
    with gzip.open(capture, "rb") as src:
        lines = src.read().splitlines()
    per_venue = Counter(orjson.loads(line).get("venue", "") for line in lines)
    halves: list[set[str]] = [set(), set()]
    sizes = [0, 0]
    for venue, n in per_venue.most_common():
        side = sizes.index(min(sizes))
        halves[side].add(venue)
        sizes[side] += n
    paths = []
    for i, venues in enumerate(halves):
        path = out / f"half{i}.jsonl.gz"
        with gzip.open(path, "wb") as dst:
            for line in lines:
                if orjson.loads(line).get("venue", "") in venues:
                    dst.write(line + b"\n")
        paths.append(path)
    print(f"collector split: {[sorted(h) for h in halves]} ({sizes[0]:,} / {sizes[1]:,} records)", file=sys.stderr)
    return paths


def collectors_run(captures: list[Path], port: int) -> dict[str, Any]:
    """Replay ``captures`` into Redis at once, one collector each; events/s until the last one exits."""
    client = redis.Redis(port=port)
    client.flushall()
    redis_before = redis_cpu_s(client)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(PYTHON), "-m", "monitor", "replay", str(capture), "--no-detect", "--log-level", "warning"],
            env=env(port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        for capture in captures
    ]
    cpu = []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"a collector exited with {os.waitstatus_to_exitcode(status)}")
        cpu.append(usage.ru_utime + usage.ru_stime)
    elapsed = time.perf_counter() - started
    return {"events": stream_events(client), "s": elapsed, "cpu": cpu, "redis_cpu": redis_cpu_s(client) - redis_before}


def spread_events(port: int) -> list[Event]:
    """Every event in the streams, its ``base`` rewritten round-robin over :data:`ASSETS`."""
    client = redis.Redis(port=port)
    out: list[Event] = []
    for shard in range(SHARDS):
        after = "-"
        while page := client.xrange(f"liqmon:events:{{{shard}}}", min=after, max="+", count=2000):
            for _, fields in page:
                events, _ = decode_batch(fields[b"data"])
                out.extend(events)
            after = "(" + page[-1][0].decode()
    return [
        event if isinstance(event, Gap) else msgspec.structs.replace(event, base=ASSETS[i % len(ASSETS)])
        for i, event in enumerate(out)
    ]


async def publish(port: int, events: list[Event]) -> None:
    settings = BusSettings(redis_url=f"redis://127.0.0.1:{port}/0", shard_count=SHARDS, buffer_max_events=len(events))
    bus = RedisStreamsBus(settings, Metrics(CollectorRegistry()))
    for start in range(0, len(events), 20_000):
        bus.publish(events[start : start + 20_000])
        if not await bus.flush(120):
            raise RuntimeError("publishing the spread events did not finish")
    await bus.close()


def leases(client: redis.Redis) -> Counter[str]:
    return Counter(
        holder.decode() for holder in (client.get(f"liqmon:lease:detector-shard-{s}") for s in range(SHARDS)) if holder
    )


def detectors_run(events: list[Event], port: int, count: int, timeout: float) -> dict[str, Any]:
    """``count`` detectors settle their shares on empty streams, then the events are published and drained."""
    client = redis.Redis(port=port)
    client.flushall()
    procs = [
        subprocess.Popen(
            [str(PYTHON), "-m", "monitor", "detect", "--consumer", f"d{i}", "--log-level", "warning"],
            env=env(port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        for i in range(count)
    ]
    try:
        share = -(-SHARDS // count)
        deadline = time.monotonic() + 60
        while not (len(leases(client)) == count and sorted(leases(client).values()) in ([share] * count, [8])):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the detectors never settled their shares: {leases(client)}")
            time.sleep(0.1)
        cpu_before = [process_cpu_s(p.pid) for p in procs]
        redis_before = redis_cpu_s(client)
        started = time.perf_counter()
        asyncio.run(publish(port, events))
        done = False
        deadline = time.monotonic() + timeout
        while not done and time.monotonic() < deadline:
            time.sleep(0.05)
            done, _ = detector_caught_up(client)
        elapsed = time.perf_counter() - started
        cpu = [process_cpu_s(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)]
        return {
            "events": len(events),
            "s": elapsed,
            "cpu": cpu,
            "redis_cpu": redis_cpu_s(client) - redis_before,
            "done": done,
            "shares": dict(leases(client)),
        }
    finally:
        for proc in procs:
            proc.send_signal(2)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def line(label: str, figures: dict[str, Any]) -> str:
    events = figures["events"]
    per = ", ".join(f"{cpu / events * 1e6:.1f}" for cpu in figures["cpu"])
    flag = "" if figures.get("done", True) else "  DID NOT CATCH UP"
    return (
        f"{label:<28}: {events / figures['s']:>9,.0f} events/s ({figures['s']:.2f} s); "
        f"CPU µs/event per process [{per}], redis-server {figures['redis_cpu'] / events * 1e6:.2f}{flag}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, help="capture to replay (default: generate feb-2026-crash)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N records of the capture")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the detectors")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capture = args.capture or make_capture(workdir / "crash.jsonl.gz", args.limit)
        halves = split_by_venue(capture, workdir)
        precompile(ROOT)
        with redis_server(workdir) as port:
            one = collectors_run([capture], port)
            events = spread_events(port)
            two = collectors_run(halves, port)
            det1 = detectors_run(events, port, 1, args.timeout)
            det2 = detectors_run(events, port, 2, args.timeout)
    print(f"machine: {machine()}")
    print(f"capture: {capture.name}, {count_lines(capture):,} records; {SHARDS} shards")
    print(line("1 collector", one))
    print(line("2 collectors (by venue)", two))
    print(f"detectors over {len(events):,} events spread over {len(ASSETS)} assets:")
    print(line("1 detector", det1))
    print(line(f"2 detectors (shares {sorted(det2['shares'].values())})", det2))


if __name__ == "__main__":
    main()
