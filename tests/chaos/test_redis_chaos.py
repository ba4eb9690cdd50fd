"""The pipeline over Redis under faults: kill -9 with AOF, restart without persistence, a blackholed link.

Each scenario publishes a known number of numbered events, runs the real
detector role of :class:`~monitor.app.Application` against them, and hands what
was sent, what the bus acknowledged and what the detectors read to the checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.app import Application
from monitor.bus.base import EventEntry
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.events import Event
from monitor.metrics import Metrics
from monitor.settings import Settings, load_settings
from tests.chaos.checker import check_events
from tests.chaos.logfile import logs_to, tail
from tests.chaos.proxy import FaultProxy
from tests.integration.test_redis_bus import BASES, running, wait_until
from tests.support.builders import liq
from tests.support.services import HOST, RedisServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SHARDS = 2


def numbered(start: int, count: int) -> list[Event]:
    """Liquidations ``start`` .. ``start + count - 1``, spread over the assets (and so the shards)."""
    return [liq(i, BASES[i % len(BASES)]) for i in range(start, start + count)]


class RecordingBus(RedisStreamsBus):
    """The real Redis bus, noting every event the consumer side reads (shard, id) in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: list[tuple[int, str]] = []

    async def read_events(self, shards: Sequence[int], consumer: str, *, count: int, block_ms: int) -> list[EventEntry]:
        batch = await super().read_events(shards, consumer, count=count, block_ms=block_ms)
        self.read.extend((d.shard, e.id) for d in batch for e in d.events)
        return batch


def app_settings(url: str, **extra: Any) -> Settings:
    """Detector-role settings over Redis at ``url``, short timers, metrics on a free port."""
    return load_settings(
        environ={},
        overrides={
            "bus.redis_url": url,
            "bus.shard_count": SHARDS,
            "bus.block_ms": 200,
            "bus.claim_idle_ms": 60_000,
            "metrics.port": 0,
            "detectors.block_ms": 200,
            "detectors.lease_ttl_s": 30.0,
            "detectors.lease_renew_s": 1.0,
            **extra,
        },
    )


@dataclass
class Detecting:
    """A running detector-role Application and what its bus read."""

    app: Application
    bus: RecordingBus
    metrics: Metrics
    task: asyncio.Task[int] = field(init=False)

    def ids(self) -> set[str]:
        return {i for _, i in self.bus.read}


@contextlib.asynccontextmanager
async def detecting(url: str, metrics: Metrics, log: Path, **extra: Any) -> AsyncIterator[Detecting]:
    """The detector role of liqmon running in this loop, logging to ``log``; stopped (exit code 0 checked) on exit.

    A non-zero exit code (or a shutdown that does not finish) fails with the last
    lines of the role's log in the message, traceback included.
    """
    settings = app_settings(url, **extra)
    bus = RecordingBus(settings.bus, metrics, max_backoff_s=0.2, stats_interval_s=0.5)
    app = Application(settings, roles={"detect"}, metrics=metrics, bus=bus)
    run = Detecting(app, bus, metrics)
    with logs_to(log):
        run.task = asyncio.create_task(app.run(install_signals=False))
        try:
            async with asyncio.timeout(15):
                await app.metrics_started.wait()
            yield run
        finally:
            app.request_stop()
            try:
                async with asyncio.timeout(30):
                    code = await run.task
            except Exception as exc:
                raise AssertionError(f"the detector role did not stop cleanly: {exc!r}\n{tail(log)}") from exc
            assert code == 0, f"the detector role exited with {code}\n{tail(log)}"


def producer_for(url: str, *, buffer_max_events: int = 200_000) -> tuple[RedisStreamsBus, Metrics]:
    """A publishing bus with its own metric registry (its gauges do not mix with the detector's)."""
    metrics = Metrics(CollectorRegistry())
    settings = app_settings(url, **{"bus.buffer_max_events": buffer_max_events}).bus
    return RedisStreamsBus(settings, metrics, max_backoff_s=0.2), metrics


def value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_redis_kill9_with_aof_loses_no_acknowledged_event(
    redis_aof_server: RedisServer, metrics: Metrics, tmp_path: Path
) -> None:
    producer, _ = producer_for(redis_aof_server.url)
    sent: list[str] = []
    acked: list[str] = []
    async with detecting(redis_aof_server.url, metrics, tmp_path / "detector.log") as run, running(producer):
        for batch in range(10):
            events = numbered(batch * 100, 100)
            producer.publish(events)
            sent += [e.id for e in events]
            if batch == 5:
                redis_aof_server.stop(kill=True)  # mid-stream, while the detectors are reading
                # Published while Redis is dead: buffered, not acknowledged yet.
                assert await producer.flush(0.3) is False
                redis_aof_server.start()
            assert await producer.flush(20)
            acked = list(sent)  # flush returned True: everything published so far is in Redis
        await wait_until(lambda: set(acked) <= run.ids(), timeout=30)
        delivered = list(run.bus.read)
    report = check_events(sent, acked, delivered)
    report.assert_ok(duplicates_allowed=True)  # at-least-once: a lost XACK reply means a redelivery
    assert report.delivered == 1000
    assert value(metrics, "liqmon_bus_stream_resets_total") == 0  # AOF kept the groups
    await producer.close()


async def test_redis_restart_without_persistence_is_recovered_and_counted(
    redis_server: RedisServer, metrics: Metrics, tmp_path: Path
) -> None:
    producer, _ = producer_for(redis_server.url)
    async with detecting(redis_server.url, metrics, tmp_path / "detector.log") as run, running(producer):
        before = numbered(0, 200)
        producer.publish(before)
        assert await producer.flush(10)
        await wait_until(lambda: {e.id for e in before} <= run.ids())

        redis_server.restart()  # no persistence: streams, groups and leases are gone

        after = numbered(1000, 200)
        producer.publish(after)
        assert await producer.flush(20)
        await wait_until(lambda: {e.id for e in after} <= run.ids(), timeout=30)
        await wait_until(lambda: value(metrics, "liqmon_bus_stream_resets_total") >= 1)
        delivered = list(run.bus.read)
    sent = [e.id for e in before + after]
    report = check_events(sent, sent, delivered)
    report.assert_ok(duplicates_allowed=True)
    # One reset per consumer group the restart wiped out, counted by the process that noticed.
    assert 1 <= value(metrics, "liqmon_bus_stream_resets_total") <= SHARDS


async def _probe(port: int, path: str) -> float:
    """One GET against the metrics endpoint; its response time in seconds (raises if it fails)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
        await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 200"), status
    return time.perf_counter() - started


BLACKHOLE_S = 30.0  # as long as the detectors' shard lease (app_settings)


async def test_redis_blackholed_ingest_buffers_flushes_and_metrics_keep_answering(
    redis_server: RedisServer, metrics: Metrics, tmp_path: Path
) -> None:
    async with FaultProxy(redis_server.port) as proxy:
        producer, producer_metrics = producer_for(proxy.url)
        sent: list[str] = []
        probes: list[float] = []
        failures: list[str] = []
        stop_probing = asyncio.Event()

        async with detecting(proxy.url, metrics, tmp_path / "detector.log") as run, running(producer):
            port = run.app.metrics_port
            assert port is not None

            async def probe_loop() -> None:
                while not stop_probing.is_set():
                    for path in ("/healthz", "/metrics"):
                        try:
                            probes.append(await asyncio.wait_for(_probe(port, path), 5))
                        except (OSError, TimeoutError, AssertionError) as exc:
                            failures.append(f"{path}: {exc!r}")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop_probing.wait(), 0.1)

            prober = asyncio.create_task(probe_loop())
            next_id = 0

            def ingest(n: int) -> None:
                nonlocal next_id
                events = numbered(next_id, n)
                next_id += n
                producer.publish(events)
                sent.extend(e.id for e in events)

            ingest(200)
            assert await producer.flush(10)
            await wait_until(lambda: set(sent) <= run.ids())

            proxy.set_mode("blackhole")
            loop = asyncio.get_running_loop()
            until = loop.time() + BLACKHOLE_S
            while loop.time() < until:  # ingest keeps going at a steady pace during the outage
                ingest(50)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_probing.wait(), 0.1)
            buffered = value(producer_metrics, "liqmon_bus_buffered_events")
            proxy.set_mode("pass")

            assert await producer.flush(30)
            await wait_until(lambda: set(sent) <= run.ids(), timeout=30)
            # An outage as long as the shard lease: afterwards the detector owns every shard again.
            await wait_until(lambda: value(metrics, "liqmon_detector_shards_owned") == SHARDS)
            stop_probing.set()
            await prober
            delivered = list(run.bus.read)
    report = check_events(sent, sent, delivered)
    report.assert_ok(duplicates_allowed=True)
    assert buffered > 0  # events were held in the bounded buffer during the outage
    assert value(producer_metrics, "liqmon_bus_overflow_total") == 0
    assert value(producer_metrics, "liqmon_bus_buffered_events") == 0
    assert proxy.stats.bytes_dropped > 0
    assert not failures, failures
    assert len(probes) >= 20
    probes.sort()
    print(
        f"blackhole {BLACKHOLE_S}s: {len(probes)} probes, median {probes[len(probes) // 2] * 1000:.1f} ms, "
        f"max {probes[-1] * 1000:.1f} ms, buffered at peak {buffered:.0f}, events {len(sent)}"
    )
