"""The Redis Streams bus on a real three-node Redis Cluster (hash-tagged shard keys, one read per slot)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.bus.base import shard_of
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.metrics import Metrics
from monitor.settings import BusSettings
from tests.integration.test_redis_bus import BASES, running
from tests.support.builders import alert, event_ids, liq
from tests.support.services import HOST, free_port, wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[list[int]]:
    """Three cluster-enabled redis-servers joined into one cluster (no replicas); yields the ports."""
    binary = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if binary is None or cli is None:
        raise RuntimeError("redis-server and redis-cli are needed: apt-get install redis-server")
    ports = [free_port() for _ in range(3)]
    procs = []
    try:
        for port in ports:
            workdir = tmp_path / str(port)
            workdir.mkdir()
            procs.append(
                subprocess.Popen(
                    # The cluster bus port is chosen too: the default (port + 10000) may not exist.
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        HOST,
                        "--cluster-enabled",
                        "yes",
                        "--dir",
                        str(workdir),
                        "--cluster-port",
                        str(free_port()),
                        "--cluster-config-file",
                        "nodes.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_port(port, proc=procs[-1])
        subprocess.run(
            [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in ports), "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 20

        def healthy(port: int) -> bool:
            info = subprocess.run([cli, "-p", str(port), "cluster", "info"], check=False, capture_output=True)
            return b"cluster_state:ok" in info.stdout

        while not all(healthy(p) for p in ports):
            if time.monotonic() > deadline:
                raise TimeoutError("Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


async def test_cluster_mode_delivers_every_shard_in_order(redis_cluster: list[int], metrics: Metrics) -> None:
    settings = BusSettings(
        redis_url=f"redis://{HOST}:{redis_cluster[0]}/0",
        cluster=True,
        shard_count=8,
        block_ms=200,
    )
    bus = RedisStreamsBus(settings, metrics)
    events = [liq(i, BASES[i % len(BASES)]) for i in range(2000)]
    sent: dict[int, list[str]] = defaultdict(list)
    for event in events:
        sent[shard_of(event.base, 8)].append(event.id)
    seen: dict[int, list[str]] = defaultdict(list)
    async with running(bus):
        bus.publish(events)
        async with asyncio.timeout(30):
            while sum(map(len, seen.values())) < len(events):
                batch = await bus.read_events(range(8), "c", count=100, block_ms=200)
                for d in batch:
                    seen[d.shard].extend(e.id for e in d.events)
                await bus.ack_events(batch)
        await bus.publish_alert(alert(1))
        assert [d.item.id for d in await bus.read_alerts("d", count=5, block_ms=200)] == ["a1"]
        assert await bus.acquire_lease("shard:3", "me", 10_000) is True
        assert await bus.acquire_lease("shard:3", "other", 10_000) is False
        # The fenced write reads the lease and writes the checkpoint in one script: one slot.
        assert await bus.store_checkpoint("shard:3", "me", b"state") is True
        assert await bus.store_checkpoint("shard:3", "other", b"stale") is False
        assert await bus.load_checkpoint("shard:3") == b"state"
        busiest = max(sent, key=lambda shard: len(sent[shard]))
        history = await bus.read_history(busiest, "0", 10_000)
        assert event_ids(history) == sent[busiest]
    assert dict(seen) == dict(sent)
