"""Takeover from a checkpoint: real ``liqmon detect`` processes on a real Redis, the owner killed after a checkpoint.

The owner checkpoints after every handled entry. The test keeps the checkpoint
written mid-cascade and puts it back after the owner (which went on handling
entries) is killed, as if it had died right after writing it: the survivor
restores it, replays only the entries after it, and the cascade resolves
exactly once, reporting the whole episode. An unusable checkpoint (another
format version) is logged and ignored: the survivor rebuilds from history
and the outcome is the same.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import msgspec
import pytest
import redis
from prometheus_client import CollectorRegistry

from monitor.bus.keys import Keys
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.detectors import checkpoint
from monitor.detectors.config import DetectorSettings
from monitor.detectors.runner import DetectorRunner, lease_name
from monitor.metrics import Metrics
from monitor.settings import BusSettings
from tests.integration.test_detect_failover import (
    CONFIG,
    Detector,
    alerts,
    owner_caught_up,
    publish,
    wait_alerts,
)
from tests.integration.test_redis_bus import wait_until
from tests.support import builders
from tests.support.builders import publish_entries
from tests.support.services import RedisServer
from tests.unit.detectors.market import heartbeat, liq

pytestmark = pytest.mark.integration

CHECKPOINT = Keys().checkpoint(lease_name(0))
CHECKPOINT_EVERY_EVENT = CONFIG.replace("[detectors]\n", "[detectors]\ncheckpoint_events = 1\n", 1)


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def checkpoint_of(client: redis.Redis) -> dict[str, object] | None:
    raw = client.get(CHECKPOINT)
    return None if raw is None else msgspec.json.decode(raw)


@pytest.mark.parametrize("usable", [True, False], ids=["restored", "ignored"])
def test_survivor_restores_the_checkpoint_and_replays_only_the_tail(
    redis_server: RedisServer, tmp_path: Path, usable: bool
) -> None:
    config = tmp_path / "liqmon.toml"
    config.write_text(CHECKPOINT_EVERY_EVENT.format(url=redis_server.url), encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000
    started: list[Detector] = []
    try:
        owner = Detector(config, "owner", tmp_path)
        started.append(owner)
        owner.wait_for("detector_shard_acquired")
        standby = Detector(config, "standby", tmp_path)
        started.append(standby)
        standby.wait_for("detector_runner_started")

        publish(client, [heartbeat(t0)] + [liq(t0 + 1000 + i * 500, "long", 400e3) for i in range(3)])
        first = wait_alerts(client, lambda a: len(a) >= 1)
        assert [(a["kind"], a["status"]) for a in first] == [("liquidation_cascade", "firing")]
        wait(lambda: owner_caught_up(client), 10, "the owner handling the first entries")
        last_id = client.xrevrange(Keys().events(0), count=1)[0][0].decode()
        # Written after the owner handled (and acked) the entries, covering the last of them.
        wait(lambda: (checkpoint_of(client) or {}).get("entry_id") == last_id, 10, "a checkpoint of every entry")
        mid_cascade = client.get(CHECKPOINT)
        assert mid_cascade is not None

        # The owner handles three more liquidations (checkpointing them too), then dies; the checkpoint it
        # wrote mid-cascade is put back, as if it had died right after writing it.
        publish(client, [liq(t0 + 3000 + i * 500, "long", 200e3) for i in range(3)])
        wait(lambda: owner_caught_up(client), 10, "the owner handling the rest of the cascade")
        owner.proc.send_signal(signal.SIGKILL)
        owner.proc.wait(timeout=10)
        if usable:
            client.set(CHECKPOINT, mid_cascade)
        else:
            stored = msgspec.json.decode(mid_cascade)
            previous = checkpoint.VERSION - 1  # the previous format
            client.set(CHECKPOINT, msgspec.json.encode({**stored, "version": previous}))

        publish(client, [heartbeat(t0 + s * 1000) for s in range(6, 40)])
        acquired = standby.wait_for("detector_shard_acquired", timeout=10)
        assert acquired["firing"] == ["liquidation_cascade:BTC:long"]
        if usable:
            assert acquired["checkpoint"] == last_id
            assert acquired["rebuilt_events"] == 3  # only the entries after the checkpoint
        else:
            ignored = standby.wait_for("detector_checkpoint_ignored", timeout=1)
            assert ignored["reason"] == "version"
            assert acquired["checkpoint"] is None
            assert acquired["rebuilt_events"] == 7  # everything the owner had handled
        publish(client, [heartbeat(t0 + s * 1000) for s in range(40, 120)])

        final = wait_alerts(client, lambda a: any(x["status"] == "resolved" for x in a))
        cascade = [a for a in final if a["kind"] == "liquidation_cascade"]
        assert [a["status"] for a in cascade] == ["firing", "resolved"]
        assert cascade[1]["started_ms"] == cascade[0]["started_ms"]
        assert cascade[1]["values"]["count"] == 6  # type: ignore[index]

        # The survivor checkpoints from then on: a new owner would start from its state.
        wait(
            lambda: (
                (checkpoint_of(client) or {}).get("entry_id")
                == client.xrevrange(Keys().events(0), count=1)[0][0].decode()
            ),
            10,
            "the survivor checkpointing the shard",
        )
        standby.stop()
        assert standby.proc.returncode == 0
        assert [a["status"] for a in alerts(client) if a["kind"] == "liquidation_cascade"] == ["firing", "resolved"]
    finally:
        for detector in started:
            detector.stop()


def test_a_shard_that_went_quiet_is_checkpointed_once_its_interval_has_passed(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "liqmon.toml"
    by_time = CONFIG.replace("[detectors]\n", "[detectors]\ncheckpoint_events = 0\ncheckpoint_interval_s = 0.5\n", 1)
    config.write_text(by_time.format(url=redis_server.url), encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000
    owner = Detector(config, "owner", tmp_path)
    try:
        owner.wait_for("detector_shard_acquired")
        publish(client, [heartbeat(t0)] + [liq(t0 + 1000 + i * 500, "long", 400e3) for i in range(3)])
        wait(lambda: owner_caught_up(client), 10, "the owner handling the entries")
        last_id = client.xrevrange(Keys().events(0), count=1)[0][0].decode()
        # Nothing more arrives: the checkpoint still comes, by time, covering the last entry.
        wait(lambda: (checkpoint_of(client) or {}).get("entry_id") == last_id, 10, "a checkpoint by time")
        assert owner.proc.poll() is None
    finally:
        owner.stop()


async def test_a_former_owner_cannot_overwrite_its_successors_checkpoint(redis_server: RedisServer) -> None:
    """The owner's lease moves on while it is paused: its next checkpoint is refused, counted, and it lets go."""
    metrics = Metrics(CollectorRegistry())
    bus = RedisStreamsBus(BusSettings(redis_url=redis_server.url, shard_count=1, block_ms=50), metrics)
    # Renewal far apart: the runner does not notice the lease moved on before it checkpoints.
    settings = DetectorSettings(lease_ttl_s=120.0, lease_renew_s=60.0, block_ms=50, checkpoint_events=1)
    runner = DetectorRunner(settings, bus, metrics, consumer="former")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)

    def checkpoints(outcome: str) -> float:
        return metrics.registry.get_sample_value("liqmon_detector_checkpoints_total", {"outcome": outcome}) or 0.0

    try:
        await wait_until(lambda: runner.owned() == {0})
        await publish_entries(bus, [builders.liq(1)])
        await wait_until(lambda: checkpoints("written") == 1)  # the first entry checkpointed
        assert client.get(CHECKPOINT) is not None

        # Paused past its lease: the successor holds the lease and has checkpointed the shard.
        client.set(Keys().lease(lease_name(0)), "successor")
        client.set(CHECKPOINT, b"the successor's checkpoint")
        await publish_entries(bus, [builders.liq(2)])
        await wait_until(lambda: checkpoints("fenced") == 1)  # the former owner's checkpoint refused

        assert client.get(CHECKPOINT) == b"the successor's checkpoint"
        assert checkpoints("written") == 1
        assert runner.owned() == set()  # it gave the shard up
    finally:
        stop.set()
        await task
        await bus.close()
    assert client.get(Keys().lease(lease_name(0))) == b"successor"  # leaving released nothing of the successor's
