"""Real ``liqmon`` subprocesses under stress: SIGTERM under load over Redis, memory over a 24 h replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from monitor.bus.keys import FIELD_COUNT, FIELD_DATA, Keys
from tests.chaos.checker import check_events
from tests.support.services import RedisServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
LIQMON = [sys.executable, "-m", "monitor"]


def liqmon_env(**extra: str) -> dict[str, str]:
    """The environment of a liqmon child: no config file from the caller, extra LIQMON_ keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture(scope="module")
def calm_24h(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The calm scenario compressed into 24 hours of market time (about 150k events)."""
    out = tmp_path_factory.mktemp("scenario") / "calm24.jsonl.gz"
    subprocess.run(
        [*LIQMON, "scenario", "calm", "--hours", "24", "--out", str(out)],
        check=True,
        cwd=ROOT,
        env=liqmon_env(),
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    return out


def wait_for(condition: object, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    """Poll ``condition()`` with a deadline; fail early if ``proc`` exited."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert proc.poll() is None, f"liqmon exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.05)


def stream_entries(server: RedisServer, shards: int) -> list[tuple[int, str, str]]:
    """(shard, event id, kind) of every entry in the event streams, in stream order."""
    client = redis.Redis(host="127.0.0.1", port=server.port)
    keys = Keys("liqmon")
    out: list[tuple[int, str, str]] = []
    try:
        for shard in range(shards):
            for _, fields in client.xrange(keys.events(shard)):
                batch = orjson.loads(fields[FIELD_DATA])
                assert len(batch) == int(fields[FIELD_COUNT])
                out.extend((shard, event["id"], event["kind"]) for event in batch)
    finally:
        client.close()
    return out


def occurrences(ids: list[str]) -> list[str]:
    """Ids made unique by their occurrence number.

    A venue update that repeats an unchanged state (a funding rate pushed every
    few seconds) keeps its stable id, so one id can be published many times; each
    publication must still reach Redis, and the same id always lands on the same
    shard, so numbering occurrences keeps the comparison exact.
    """
    seen: dict[str, int] = {}
    out = []
    for event_id in ids:
        seen[event_id] = seen.get(event_id, 0) + 1
        out.append(f"{event_id}#{seen[event_id]}")
    return out


def test_sigterm_under_load_drains_and_exits_0_with_nothing_lost(
    calm_24h: Path, redis_server: RedisServer, tmp_path: Path
) -> None:
    events_out = tmp_path / "events.jsonl"
    shards = 2
    proc = subprocess.Popen(
        [*LIQMON, "replay", str(calm_24h), "--events-out", str(events_out), "--metrics-port", "0"],
        cwd=tmp_path,
        env=liqmon_env(LIQMON_BUS__REDIS_URL=redis_server.url, LIQMON_BUS__SHARD_COUNT=str(shards)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Under load: tens of thousands of events already published, the replay far from its end.
        wait_for(lambda: events_out.exists() and events_out.stat().st_size > 8_000_000, 60, proc)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"replay_interrupted" in stderr  # stopped by the signal, not by the end of the capture

    published = [orjson.loads(line) for line in events_out.read_bytes().splitlines()]
    sent = occurrences([e["id"] for e in published if e["kind"] != "gap"])
    entries = [(shard, event_id) for shard, event_id, kind in stream_entries(redis_server, shards) if kind != "gap"]
    in_redis = list(zip([shard for shard, _ in entries], occurrences([i for _, i in entries]), strict=True))
    # Every event the process accepted before SIGTERM was flushed to Redis once, in order per shard.
    report = check_events(sent, sent, in_redis)
    report.assert_ok(duplicates_allowed=False)
    assert 20_000 < len(sent) < 150_000
    assert report.delivered == len(sent)
    print(f"SIGTERM under load: {len(sent)} events accepted before the signal, all in Redis once, in order")


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (None once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def sampled(proc: subprocess.Popen[bytes], every: float = 0.1) -> Iterator[int]:
    """RSS samples of ``proc`` until it exits (a measurement, not a synchronisation)."""
    while proc.poll() is None:
        value = rss_kib(proc.pid)
        if value is not None:
            yield value
        time.sleep(every)


MEMORY_GROWTH_BOUND_KIB = 48 * 1024
DEDUP_CAPACITY = 20_000


def test_24h_replay_memory_is_flat_after_warm_up(calm_24h: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*LIQMON, "replay", str(calm_24h), "--metrics-port", "0"],
        cwd=tmp_path,
        # The detectors' duplicate filter is bounded (200k ids by default, more than this whole replay):
        # a smaller bound fills during warm-up, so what grows after it is growth that has no bound.
        env=liqmon_env(LIQMON_DETECTORS__DEDUP_CAPACITY=str(DEDUP_CAPACITY)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        samples = list(sampled(proc))
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"replay_finished" in stderr
    assert len(samples) >= 20, f"too few RSS samples ({len(samples)}) to judge"
    n = len(samples)
    warm = max(samples[n // 4 : n // 2])  # after warm-up: detector windows and buffers are full
    late = max(samples[(3 * n) // 4 :])
    print(
        f"24h calm replay: {n} RSS samples, first {samples[0] // 1024} MiB, after warm-up max {warm // 1024} MiB, "
        f"last quarter max {late // 1024} MiB, overall max {max(samples) // 1024} MiB, "
        f"growth {(late - warm) // 1024} MiB; "
        f"by tenth: {[samples[min(n - 1, n * k // 10)] // 1024 for k in range(11)]} MiB"
    )
    assert late - warm < MEMORY_GROWTH_BOUND_KIB
