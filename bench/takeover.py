"""Takeover time: ``kill -9`` of the shard owner with 24 h of history in the streams.

``feb-2026-crash`` is compressed into 24 hours of event time (``liqmon scenario
--hours 24``) and replayed into Redis by a collector while detectors A and B
share the shards (B joins after A and gets its share handed over). Once everything is handled, the owner of the
busiest shard is killed with SIGKILL. Reported: the time from the kill until the
survivor owns every shard (lease expiry + rebuild from the retained history,
`rebuild_hours = 24`), the events it rebuilt, and the time until everything is
acknowledged again.

Run: ``.venv/bin/python bench/takeover.py [--lease-ttl S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from common import LIQMON, PYTHON, ROOT, machine, redis_server
from e2e import SHARDS, detector_caught_up, stream_events


def env(port: int, ttl: float) -> dict[str, str]:
    return {
        **os.environ,
        "LIQMON_BUS__REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "LIQMON_BUS__SHARD_COUNT": str(SHARDS),
        "LIQMON_METRICS__ENABLED": "false",
        "LIQMON_DETECTORS__LEASE_TTL_S": str(ttl),
        "LIQMON_DETECTORS__LEASE_RENEW_S": str(ttl / 3),
        "LIQMON_DETECTORS__REBUILD_HOURS": "24",
        "LIQMON_LOG__FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }


def detector(name: str, port: int, ttl: float, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(PYTHON), "-m", "monitor", "detect", "--consumer", name, "--log-level", "info"],
            env=env(port, ttl),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def acquired(log: Path) -> list[dict[str, object]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "detector_shard_acquired":
            out.append(record)
    return out


def owners(client: redis.Redis) -> dict[int, str | None]:
    holders = [client.get(f"liqmon:lease:detector-shard-{s}") for s in range(SHARDS)]
    return {s: (h.decode() if h else None) for s, h in enumerate(holders)}


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease-ttl", type=float, default=15.0, help="detectors.lease_ttl_s (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capture = workdir / "crash24h.jsonl.gz"
        subprocess.run(
            [str(LIQMON), "scenario", "feb-2026-crash", "--hours", "24", "--out", str(capture)],
            check=True,
            capture_output=True,
        )
        with redis_server(workdir) as port:
            client = redis.Redis(port=port)
            log_a, log_b = workdir / "a.log", workdir / "b.log"
            a = detector("a", port, args.lease_ttl, log_a)
            procs = [a]
            try:
                wait(lambda: set(owners(client).values()) == {"a"}, 60, "detector a taking every shard")
                b = detector("b", port, args.lease_ttl, log_b)
                procs.append(b)
                wait(lambda: set(owners(client).values()) == {"a", "b"}, 120, "a and b sharing the shards")
                subprocess.run(
                    [str(PYTHON), "-m", "monitor", "replay", str(capture), "--no-detect", "--log-level", "warning"],
                    env=env(port, args.lease_ttl),
                    check=True,
                    capture_output=True,
                    cwd=ROOT,
                )
                events = stream_events(client)
                wait(lambda: detector_caught_up(client)[0], 300, "the detectors handling the history")
                # Kill the owner of the busiest shard: the survivor rebuilds all of its history.
                lengths = {s: client.xlen(f"liqmon:events:{{{s}}}") for s in range(SHARDS)}
                busiest = max(lengths, key=lambda s: lengths[s])
                victim_name = owners(client)[busiest]
                victim, survivor_log = (a, log_b) if victim_name == "a" else (b, log_a)
                before = len(acquired(survivor_log))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed = time.monotonic()
                survivor = "b" if victim_name == "a" else "a"
                wait(lambda: set(owners(client).values()) == {survivor}, 300, "the survivor owning every shard")
                owned_after = time.monotonic() - killed
                wait(lambda: detector_caught_up(client)[0], 300, "the survivor catching up")
                caught_up_after = time.monotonic() - killed
                takeovers = acquired(survivor_log)[before:]
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
                        proc.wait(30)
    rebuilt = sum(int(str(t.get("rebuilt_events", 0))) for t in takeovers)
    rebuild_s = sum(float(str(t.get("rebuild_s", 0.0))) for t in takeovers)
    print(f"machine: {machine()}")
    print(f"history: feb-2026-crash in 24 h, {events:,} events in {SHARDS} shards; lease TTL {args.lease_ttl} s")
    print(f"killed: {victim_name}, owner of the busiest shard {busiest} ({lengths[busiest]:,} entries)")
    print(
        f"kill -9 → survivor owns every shard    : {owned_after:.2f} s"
        f" ({len(takeovers)} shards taken over, {rebuilt:,} events rebuilt)"
    )
    print(f"rebuilding their state took            : {rebuild_s:.2f} s")
    print(f"kill -9 → everything acknowledged      : {caught_up_after:.2f} s")
    print(f"takeover beyond the lease time          : {owned_after - args.lease_ttl:+.2f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
