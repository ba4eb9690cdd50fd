"""Takeover time: ``kill -9`` of the shard owner with 24 h of history in the streams.

``feb-2026-crash`` is compressed into 24 hours of event time (``liqmon scenario
--hours 24``) and replayed into Redis by a collector while detectors A and B
share the shards (B joins after A and gets its share handed over). Once everything is handled, the owner of the
busiest shard is killed with SIGKILL. Reported: the time from the kill until the
survivor owns every shard (lease expiry + restoring the checkpoints and replaying
the entries after them, or without checkpoints the rebuild from the retained
history, `rebuild_hours = 24`), the same from the instant the victim's leases ran
out (their remaining time to live is read just before the kill: a lease renewed
just before is the worst case, the full lease time), the events it replayed, and
the time until everything is acknowledged again.

Both ways are measured in one run (``--mode both``, the default): ``checkpoint``
(the defaults; the victim is killed once its checkpoints cover everything it
handled, i.e. right after a checkpoint: a kill later in the interval leaves a tail
of at most ``checkpoint_interval_s`` of live events to replay) and ``rebuild``
(checkpoints off: ``checkpoint_interval_s = checkpoint_events = 0``, the
previous behaviour).

Run: ``.venv/bin/python bench/takeover.py [--lease-ttl S] [--mode both|checkpoint|rebuild]``.
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

from monitor.bus.keys import Keys
from monitor.detectors.runner import lease_name

KEYS = Keys()


def env(port: int, ttl: float, checkpoints: bool = True) -> dict[str, str]:
    off = (
        {}
        if checkpoints
        else {"LIQMON_DETECTORS__CHECKPOINT_INTERVAL_S": "0", "LIQMON_DETECTORS__CHECKPOINT_EVENTS": "0"}
    )
    return {
        **off,
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


def detector(name: str, port: int, ttl: float, log: Path, checkpoints: bool) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(PYTHON), "-m", "monitor", "detect", "--consumer", name, "--log-level", "info"],
            env=env(port, ttl, checkpoints),
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
    holders = [client.get(KEYS.lease(lease_name(s))) for s in range(SHARDS)]
    return {s: (h.decode() if h else None) for s, h in enumerate(holders)}


def checkpoints_cover(client: redis.Redis, shards: list[int]) -> bool:
    """Every shard's checkpoint covers the shard's last entry."""
    for shard in shards:
        raw = client.get(KEYS.checkpoint(lease_name(shard)))
        last = client.xrevrange(KEYS.events(shard), count=1)
        if last and (raw is None or json.loads(raw)["entry_id"] != last[0][0].decode()):
            return False
    return True


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def run(capture: Path, workdir: Path, ttl: float, checkpoints: bool) -> dict[str, object]:
    """One takeover: A and B share the shards, the history is replayed, the busiest shard's owner is killed."""
    with redis_server(workdir) as port:
        client = redis.Redis(port=port)
        log_a, log_b = workdir / "a.log", workdir / "b.log"
        a = detector("a", port, ttl, log_a, checkpoints)
        procs = [a]
        try:
            wait(lambda: set(owners(client).values()) == {"a"}, 60, "detector a taking every shard")
            b = detector("b", port, ttl, log_b, checkpoints)
            procs.append(b)
            wait(lambda: set(owners(client).values()) == {"a", "b"}, 120, "a and b sharing the shards")
            subprocess.run(
                [str(PYTHON), "-m", "monitor", "replay", str(capture), "--no-detect", "--log-level", "warning"],
                env=env(port, ttl),
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            events = stream_events(client)
            wait(lambda: detector_caught_up(client)[0], 300, "the detectors handling the history")
            # Kill the owner of the busiest shard: the survivor takes over all of its shards.
            lengths = {s: client.xlen(KEYS.events(s)) for s in range(SHARDS)}
            busiest = max(lengths, key=lambda s: lengths[s])
            victim_name = owners(client)[busiest]
            if checkpoints:
                mine = [s for s, owner in owners(client).items() if owner == victim_name]
                wait(lambda: checkpoints_cover(client, mine), 120, "the victim's checkpoints covering its entries")
            victim, survivor_log = (a, log_b) if victim_name == "a" else (b, log_a)
            before = len(acquired(survivor_log))
            theirs = [s for s, owner in owners(client).items() if owner == victim_name]
            # When the victim's leases run out (the last of them): the takeover cannot start before.
            lease_left_s = max(int(client.pttl(KEYS.lease(lease_name(s)))) for s in theirs) / 1000
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed = time.monotonic()
            survivor = "b" if victim_name == "a" else "a"
            wait(lambda: set(owners(client).values()) == {survivor}, 300, "the survivor owning every shard")
            owned_after = time.monotonic() - killed
            wait(lambda: detector_caught_up(client)[0], 300, "the survivor catching up")
            caught_up_after = time.monotonic() - killed
            takeovers = acquired(survivor_log)[before:]
            sizes = [len(raw) for s in range(SHARDS) if (raw := client.get(KEYS.checkpoint(lease_name(s))))]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(30)
    return {
        "events": events,
        "victim": victim_name,
        "busiest": busiest,
        "entries": lengths[busiest],
        "owned_after": owned_after,
        "lease_left": lease_left_s,
        "caught_up_after": caught_up_after,
        "shards": len(takeovers),
        "restored": sum(1 for t in takeovers if t.get("checkpoint")),
        "replayed": sum(int(str(t.get("rebuilt_events", 0))) for t in takeovers),
        "replay_s": sum(float(str(t.get("rebuild_s", 0.0))) for t in takeovers),
        "checkpoint_bytes": max(sizes, default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease-ttl", type=float, default=15.0, help="detectors.lease_ttl_s (default 15)")
    parser.add_argument("--mode", choices=("both", "checkpoint", "rebuild"), default="both")
    args = parser.parse_args()
    modes = ["rebuild", "checkpoint"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capture = workdir / "crash24h.jsonl.gz"
        subprocess.run(
            [str(LIQMON), "scenario", "feb-2026-crash", "--hours", "24", "--out", str(capture)],
            check=True,
            capture_output=True,
        )
        print(f"machine: {machine()}")
        for mode in modes:
            run_dir = workdir / mode
            run_dir.mkdir()
            report(mode, run(capture, run_dir, args.lease_ttl, checkpoints=mode == "checkpoint"), args.lease_ttl)


def report(mode: str, r: dict[str, object], ttl: float) -> None:
    print(f"--- {mode}: feb-2026-crash in 24 h, {r['events']:,} events in {SHARDS} shards; lease TTL {ttl} s")
    print(f"killed: {r['victim']}, owner of the busiest shard {r['busiest']} ({r['entries']:,} entries)")
    print(
        f"kill -9 → survivor owns every shard    : {r['owned_after']:.2f} s"
        f" ({r['shards']} shards taken over, {r['restored']} from a checkpoint, {r['replayed']:,} events replayed)"
    )
    print(f"restoring / rebuilding their state took : {r['replay_s']:.2f} s")
    print(f"kill -9 → everything acknowledged      : {r['caught_up_after']:.2f} s")
    print(f"takeover beyond the lease time          : {float(str(r['owned_after'])) - ttl:+.2f} s")
    beyond = float(str(r["owned_after"])) - float(str(r["lease_left"]))
    print(f"victim's leases ran out after the kill  : {float(str(r['lease_left'])):.2f} s")
    print(f"lease expiry → survivor owns every shard: {beyond:+.2f} s")
    if r["checkpoint_bytes"]:
        print(f"largest checkpoint                      : {int(str(r['checkpoint_bytes'])):,} bytes")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
