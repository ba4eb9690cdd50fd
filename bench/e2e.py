"""End-to-end throughput: capture → venue parsers → Redis Streams → detectors, in separate processes.

Starts its own redis-server on a free port, measures the ``redis-benchmark``
pipelined XADD ceiling against it, then runs one collector process
(``liqmon replay CAPTURE --no-detect`` with Redis configured) and one detector
process (``liqmon detect``) at the same time. Events/s is the number of events
the collector wrote divided by the time from the collector's start until the
detector group has read and acknowledged every entry. The same capture is also
replayed in one process on the embedded bus (``liqmon replay``, all roles) for
comparison. Both trees and the installed dependencies are byte-compiled first
(as ``pip install`` does for the image), so no process spends its measured CPU
compiling modules.

The capture comes from ``liqmon scenario feb-2026-crash`` (≈217,000 records,
all eight venues) unless ``--capture`` names one. ``--profile DIR`` runs both
processes under cProfile (``DIR/collector.prof``, ``DIR/detector.prof``) and
prints their heaviest functions by own time.

``--baseline DIR`` names another source tree (``git archive <rev> | tar -x -C
DIR``) to measure back to back in the same run: rounds alternate between that
tree and this one (``--rounds``), each on a fresh redis-server, and the best
round of each is compared. Events are counted from the streams themselves
(``n`` of each batched entry; one per entry in the one-event-per-entry layout).

Run: ``.venv/bin/python bench/e2e.py [--capture F] [--limit N] [--profile DIR] [--baseline DIR --rounds N]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import pstats
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from common import LIQMON, PYTHON, ROOT, machine, redis_benchmark_xadd, redis_server

SHARDS = 8


def make_capture(out: Path, limit: int | None) -> Path:
    """Write the crash scenario to ``out`` (truncated to ``limit`` records when given)."""
    full = out.with_name("full.jsonl.gz")
    subprocess.run([str(LIQMON), "scenario", "feb-2026-crash", "--out", str(full)], check=True, capture_output=True)
    if limit is None:
        return full
    with gzip.open(full, "rt") as src, gzip.open(out, "wt") as dst:
        for i, line in enumerate(src):
            if i >= limit:
                break
            dst.write(line)
    return out


def precompile(*trees: Path) -> None:
    """Write the bytecode of each tree's package and of the installed dependencies, as an installed image has it.

    ``PYTHONDONTWRITEBYTECODE`` (set here, as in the Dockerfile) keeps every process from caching what it
    compiles, so without this each collector would spend ≈1 s of its measured CPU compiling modules at
    start; ``pip install`` compiles them once when the image is built.
    """
    site = Path(sysconfig.get_paths()["purelib"])
    for path in (site, *(tree / "monitor" for tree in trees)):
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(path)], check=True, capture_output=True)


def command(args: list[str], profile: Path | None, name: str) -> list[str]:
    """``python -m monitor args`` (of the tree on PYTHONPATH), under cProfile when profiling."""
    if profile is None:
        return [str(PYTHON), "-m", "monitor", *args]
    return [str(PYTHON), "-m", "cProfile", "-o", str(profile / f"{name}.prof"), "-m", "monitor", *args]


def env(port: int, tree: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LIQMON_BUS__REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "LIQMON_BUS__SHARD_COUNT": str(SHARDS),
        "LIQMON_METRICS__ENABLED": "false",
        "PYTHONPATH": str(tree),
    }


def stream_events(client: redis.Redis) -> int:
    """Events held in the shards: ``n`` of each batched entry, 1 for a one-event entry."""
    total = 0
    for shard in range(SHARDS):
        key = f"liqmon:events:{{{shard}}}"
        after = "-"
        while page := client.xrange(key, min=after, max="+", count=5000):
            total += sum(int(fields.get(b"n", 1)) for _, fields in page)
            after = "(" + page[-1][0].decode()
    return total


def detector_caught_up(client: redis.Redis) -> tuple[bool, int]:
    """(every shard read and acknowledged by the detector group, entries added to the shards)."""
    added = 0
    done = True
    for shard in range(SHARDS):
        key = f"liqmon:events:{{{shard}}}"
        if not client.exists(key):
            continue
        info = client.xinfo_stream(key)
        added += int(info["entries-added"])
        groups = client.xinfo_groups(key)
        if not groups:
            done = False
            continue
        group = groups[0]
        last = info["last-generated-id"]
        if group["pending"] or group["last-delivered-id"] != last:
            done = False
    return done, added


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_run(capture: Path, port: int, profile: Path | None, timeout: float, tree: Path = ROOT) -> dict[str, Any]:
    client = redis.Redis(port=port)
    client.flushall()
    detector = subprocess.Popen(
        command(["detect", "--log-level", "warning"], profile, "detector"),
        env=env(port, tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tree,
    )
    try:
        # Measure from the moment the detector owns every shard (its consumer groups exist), so its
        # interpreter start and imports are not counted as work per event.
        ready_by = time.monotonic() + 60
        while not all(client.exists(f"liqmon:events:{{{shard}}}") for shard in range(SHARDS)):
            if time.monotonic() > ready_by or detector.poll() is not None:
                raise RuntimeError("the detector did not take its shards within 60 s")
            time.sleep(0.05)
        client.config_resetstat()
        redis_before = redis_cpu_s(client)
        detector_before = process_cpu_s(detector.pid)
        started = time.perf_counter()
        collector = subprocess.Popen(
            command(["replay", str(capture), "--no-detect", "--log-level", "warning"], profile, "collector"),
            env=env(port, tree),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tree,
        )
        _, status, usage = os.wait4(collector.pid, 0)
        collector.returncode = os.waitstatus_to_exitcode(status)
        if collector.returncode != 0:
            raise RuntimeError(f"the collector exited with {collector.returncode}")
        collected = time.perf_counter() - started
        deadline = time.monotonic() + timeout
        done, added = detector_caught_up(client)
        while not done and time.monotonic() < deadline:
            time.sleep(0.05)
            done, added = detector_caught_up(client)
        finished = time.perf_counter() - started
        detector_cpu = process_cpu_s(detector.pid) - detector_before
        redis_cpu = redis_cpu_s(client) - redis_before
        commands = {
            name.removeprefix("cmdstat_"): (int(stats["calls"]), float(stats["usec"]) / 1e6)
            for name, stats in client.info("commandstats").items()
        }
        if not done:
            print(f"detector did not catch up within {timeout} s", file=sys.stderr)
    finally:
        detector.send_signal(2)
        try:
            detector.wait(60)
        except subprocess.TimeoutExpired:
            detector.kill()
            detector.wait()
    return {
        "events": stream_events(client),
        "entries": added,
        "collector_s": collected,
        "e2e_s": finished,
        "caught_up": float(done),
        "collector_cpu_s": usage.ru_utime + usage.ru_stime,
        "detector_cpu_s": detector_cpu,
        "redis_cpu_s": redis_cpu,
        "commands": commands,
    }


def embedded_run(capture: Path) -> float:
    """Seconds for ``liqmon replay`` (all roles, in-memory bus) over the capture."""
    started = time.perf_counter()
    subprocess.run(
        [str(LIQMON), "replay", str(capture), "--log-level", "warning"],
        env={**os.environ, "LIQMON_METRICS__ENABLED": "false"},
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return time.perf_counter() - started


def count_lines(capture: Path) -> int:
    """Records in a (possibly gzipped) capture."""
    with gzip.open(capture, "rt") if capture.suffix == ".gz" else capture.open() as handle:
        return sum(1 for _ in handle)


def top_functions(report: Path, n: int = 25) -> str:
    """The ``n`` functions of a cProfile report with the most own time."""
    out = io.StringIO()
    pstats.Stats(str(report), stream=out).sort_stats("tottime").print_stats(n)
    return out.getvalue()


def report(figures: dict[str, Any], label: str) -> None:
    """The figures of one run: events/s, CPU per process and per event, Redis time per command."""
    events = figures["events"]
    print(f"== {label}: {events:,.0f} events in {figures['entries']:,.0f} stream entries")
    print(
        f"collector (replay --no-detect → Redis)     : {events / figures['collector_s']:>10,.0f} events/s"
        f"  ({figures['collector_s']:.2f} s, includes interpreter start)"
    )
    print(
        f"end to end (collector + detect process)    : {events / figures['e2e_s']:>10,.0f} events/s"
        f"  ({figures['e2e_s']:.2f} s){'' if figures['caught_up'] else '  DETECTOR DID NOT CATCH UP'}"
    )
    cpu = {name: figures[f"{name}_cpu_s"] for name in ("collector", "detector", "redis")}
    total_cpu = sum(cpu.values())
    print(
        "CPU seconds during the run                 : "
        + ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items())
        + f"; total {total_cpu:.2f} = {total_cpu / (os.cpu_count() or 1):.2f} s of wall time on {os.cpu_count()} cores"
    )
    print(
        "CPU microseconds per event                 : "
        + ", ".join(f"{name} {seconds / events * 1e6:.1f}" for name, seconds in cpu.items())
    )
    busiest = sorted(figures["commands"].items(), key=lambda item: -item[1][1])[:5]
    print(
        "redis-server time per command (µs/event)  : "
        + ", ".join(f"{name} {seconds / events * 1e6:.2f} ({calls:,} calls)" for name, (calls, seconds) in busiest)
    )


def lowest_cpu(runs: list[dict[str, Any]]) -> str:
    """Each process's lowest CPU per event over the rounds (on a shared machine the least disturbed figure)."""
    return ", ".join(
        f"{name} {min(f[f'{name}_cpu_s'] / f['events'] for f in runs) * 1e6:.1f}"
        for name in ("collector", "detector", "redis")
    )


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the highest end-to-end rate (the one least disturbed by other work on the machine)."""
    return max(runs, key=lambda f: f["events"] / f["e2e_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, help="capture to replay (default: generate feb-2026-crash)")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N records of the capture")
    parser.add_argument("--profile", type=Path, help="directory for cProfile reports of both processes")
    parser.add_argument("--ceiling-n", type=int, default=1_000_000, help="XADDs for redis-benchmark")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the detector")
    parser.add_argument("--baseline", type=Path, help="another source tree to measure back to back (alternating)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per tree (alternating with --baseline)")
    parser.add_argument("--no-embedded", action="store_true", help="skip the one-process embedded run")
    args = parser.parse_args()

    trees = [("this tree", ROOT)]
    if args.baseline:
        trees.insert(0, (f"baseline {args.baseline}", args.baseline.resolve()))
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capture = args.capture or make_capture(workdir / "crash.jsonl.gz", args.limit)
        records = count_lines(capture)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        precompile(*(tree for _, tree in trees))
        with redis_server(workdir) as port:
            ceiling = redis_benchmark_xadd(port, args.ceiling_n, 16)
            ceiling64 = redis_benchmark_xadd(port, args.ceiling_n, 64)
        for round_no in range(args.rounds):
            for label, tree in trees:
                with redis_server(workdir) as port:
                    figures = redis_run(capture, port, args.profile, args.timeout, tree)
                runs[label].append(figures)
                rate = figures["events"] / figures["e2e_s"]
                print(f"round {round_no + 1} {label}: {rate:,.0f} events/s end to end", file=sys.stderr)
        embedded = None if args.no_embedded else embedded_run(capture)

    print(f"machine: {machine()}")
    print(f"capture: {capture.name}, {records} records, {SHARDS} shards, {args.rounds} round(s) per tree")
    print(f"redis-benchmark XADD -P 16                 : {ceiling:>10,.0f} entries/s (ceiling)")
    print(f"redis-benchmark XADD -P 64                 : {ceiling64:>10,.0f} entries/s")
    for label, _ in trees:
        rates = [f["events"] / f["e2e_s"] for f in runs[label]]
        print(f"\n{label}: end to end per round " + ", ".join(f"{r:,.0f}" for r in rates) + " events/s")
        report(best(runs[label]), f"{label}, best round")
        if len(runs[label]) > 1:
            print(f"CPU µs per event, each process's lowest of {len(runs[label])} rounds: " + lowest_cpu(runs[label]))
    if args.baseline:
        new, old = best(runs["this tree"]), best(runs[trees[0][0]])
        ratio = (new["events"] / new["e2e_s"]) / (old["events"] / old["e2e_s"])
        print(f"\nthis tree / baseline, end to end (best rounds): {ratio:.2f}×")
    if embedded is not None:
        events = best(runs["this tree"])["events"]
        print(f"embedded bus, one process (liqmon replay)  : {events / embedded:>10,.0f} events/s  ({embedded:.2f} s)")
    if args.profile:
        for name in ("collector", "detector"):
            report_file = args.profile / f"{name}.prof"
            if report_file.exists():
                print(f"\n== cProfile {name} ({report_file})")
                print(top_functions(report_file))


if __name__ == "__main__":
    main()
