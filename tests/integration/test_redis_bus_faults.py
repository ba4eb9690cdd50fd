"""The Redis Streams bus under faults: a killed consumer, a Redis restart, Redis down, bad credentials."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from monitor.bus.base import EventEntry
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.config_loader import Secret
from monitor.errors import BusError, BusUnavailable
from monitor.metrics import Metrics
from tests.integration.test_redis_bus import bus_settings, running, sample, wait_until
from tests.support.builders import alert, event_ids, liq, publish_entries
from tests.support.services import RedisServer, running_redis

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def test_killed_consumer_entries_are_claimed_by_another(redis_server: RedisServer, metrics: Metrics) -> None:
    # Long enough that the survivor never holds its own entries that long, even on a loaded machine.
    settings = bus_settings(redis_server, shard_count=1, key_prefix="kill", claim_idle_ms=1000)
    producer = RedisStreamsBus(settings, metrics)
    await publish_entries(producer, [liq(i) for i in range(50)])
    await producer.close()

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.bus_worker",
        redis_server.url,
        "kill",
        "1",
        "victim",
        "20",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert worker.stdout is not None
    async with asyncio.timeout(30):
        line = (await worker.stdout.readline()).decode()
    held = line.split()[1:]
    assert line.startswith("READ ")
    assert len(held) == 20
    worker.send_signal(signal.SIGKILL)
    await worker.wait()
    await worker.stdout.read()  # drain to EOF so the pipe transport closes

    survivor = RedisStreamsBus(settings, metrics)
    seen: dict[str, int] = {}
    async with running(survivor), asyncio.timeout(30):
        while len(seen) < 50:
            batch = await survivor.read_events([0], "survivor", count=100, block_ms=100)
            for d in batch:
                for e in d.events:
                    seen[e.id] = d.deliveries
            await survivor.ack_events(batch)
    assert sorted(seen, key=int) == [str(i) for i in range(50)]
    assert sample(metrics, "liqmon_bus_claimed_total") == 20
    # The victim's entries were delivered again; the rest only once.
    assert all(seen[str(i)] >= 2 for i in range(20))
    assert all(seen[str(i)] == 1 for i in range(20, 50))


async def test_redis_restart_without_persistence_is_survived(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, shard_count=2)
    bus = RedisStreamsBus(settings, metrics)
    async with running(bus):
        bus.publish([liq(i) for i in range(5)])
        assert await bus.flush(10)
        first: list[EventEntry] = []
        async with asyncio.timeout(10):
            while len(event_ids(first)) < 5:
                first += await bus.read_events([0, 1], "w", count=10, block_ms=200)
        assert len(event_ids(first)) == 5
        await bus.ack_events(first)

        redis_server.restart()  # no persistence: streams and groups are gone

        bus.publish([liq(i) for i in range(100, 105)])
        assert await bus.flush(10)
        got: list[str] = []
        async with asyncio.timeout(15):
            while len(got) < 5:
                batch = await bus.read_events([0, 1], "w", count=10, block_ms=100)
                got += event_ids(batch)
                await bus.ack_events(batch)
    assert sorted(got) == ["100", "101", "102", "103", "104"]
    # One reset per consumer group Redis lost (one per shard here), however many calls noticed it.
    assert sample(metrics, "liqmon_bus_stream_resets_total") == 2


async def test_publish_buffers_while_redis_is_down_and_flushes_after(
    redis_server: RedisServer, metrics: Metrics
) -> None:
    settings = bus_settings(redis_server, shard_count=1, buffer_max_events=100, batch_size=20)
    bus = RedisStreamsBus(settings, metrics, max_backoff_s=0.1)
    redis_server.stop()
    async with running(bus):
        bus.publish([liq(i) for i in range(150)])
        assert sample(metrics, "liqmon_bus_overflow_total") == 50
        assert sample(metrics, "liqmon_bus_buffered_events") == 100
        await wait_until(lambda: sample(metrics, "liqmon_bus_redis_up") == 0)
        assert await bus.flush(0.2) is False
        with pytest.raises(BusUnavailable):
            await bus.publish_alert(alert(1))
        assert sample(metrics, "liqmon_bus_buffered_events") == 100

        redis_server.start()
        await wait_until(lambda: sample(metrics, "liqmon_bus_buffered_events") == 0)
        assert sample(metrics, "liqmon_bus_redis_up") == 1
        got: list[str] = []
        async with asyncio.timeout(15):
            while len(got) < 100:
                got += event_ids(await bus.read_events([0], "w", count=200, block_ms=100))
    # The oldest 50 overflowed; the newest 100 arrive once each, in order.
    assert got == [str(i) for i in range(50, 150)]
    assert sample(metrics, "liqmon_bus_overflow_total") == 50


async def test_password_protected_redis(tmp_path: Path, metrics: Metrics) -> None:
    with running_redis(tmp_path / "auth", password="s3cret-pass") as server:
        good = RedisStreamsBus(bus_settings(server, redis_password=Secret("s3cret-pass")), metrics)
        await good.connect()
        await good.publish_alert(alert(7))
        got = await good.read_alerts("d", count=5, block_ms=100)
        assert [d.item.id for d in got] == ["a7"]
        await good.close()

        wrong = RedisStreamsBus(bus_settings(server, redis_password=Secret("nope")), metrics)
        with pytest.raises(BusError, match="rejected the credentials") as info:
            await wrong.connect()
        assert not isinstance(info.value, BusUnavailable)
        assert "nope" not in str(info.value)
        assert await wrong.ping() is False
        await wrong.close()

        missing = RedisStreamsBus(bus_settings(server), metrics)
        with pytest.raises(BusError, match="redis_password"):
            await missing.read_events([0], "w", count=1, block_ms=10)
        await missing.close()


async def test_writes_refused_at_maxmemory_show_in_a_metric_and_are_retried(
    redis_server: RedisServer, metrics: Metrics
) -> None:
    """Redis at maxmemory with noeviction answers every write with OOM: up, but refusing writes."""
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1), metrics, max_backoff_s=0.1)
    async with running(bus):
        await bus.connect()
        assert sample(metrics, "liqmon_bus_writes_refused") == 0
        assert redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction") == b"+OK\r\n"
        assert redis_server.command("CONFIG", "SET", "maxmemory", "1") == b"+OK\r\n"  # below what Redis uses
        bus.publish([liq(i) for i in range(20)])
        await wait_until(lambda: sample(metrics, "liqmon_bus_writes_refused") == 1)
        assert sample(metrics, "liqmon_bus_redis_up") == 1  # reachable: it answers, with OOM
        with pytest.raises(BusUnavailable, match="refuses writes"):  # so the detector retries its alert
            await bus.publish_alert(alert(1))
        assert sample(metrics, "liqmon_bus_buffered_events") == 20  # kept for later, not dropped

        assert redis_server.command("CONFIG", "SET", "maxmemory", "0") == b"+OK\r\n"
        await wait_until(lambda: sample(metrics, "liqmon_bus_buffered_events") == 0)
        assert sample(metrics, "liqmon_bus_writes_refused") == 0
        got = await bus.read_events([0], "w", count=50, block_ms=100)
    assert event_ids(got) == [str(i) for i in range(20)]
