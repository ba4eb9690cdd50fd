"""A real ``liqmon detect`` process whose Redis connections are reset, idle ones included.

The detector runs as the command does in production (its own process, on
uvloop) and reaches Redis through :class:`~tests.chaos.proxy.FaultProxy`. The
proxy resets every connection at once: the reader's blocked XREADGROUP sees the
reset, but the connections idle in redis-py's pool (the janitor's, the stats
task's) do not until they are used again, and on uvloop writing to such a
connection raises ``RuntimeError`` ("the handler is closed") rather than a
connection error. What an operator sees is checked, not how a given redis-py
release words its retries: ``liqmon_bus_redis_up`` drops to 0 while Redis cannot
be reached and returns to 1, the process keeps consuming what follows, and it
exits 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis

from monitor.bus.keys import EVENTS_GROUP, Keys
from tests.chaos.proxy import FaultProxy
from tests.chaos.test_redis_chaos import numbered, producer_for
from tests.integration.test_detect_failover import Detector
from tests.integration.test_redis_bus import running
from tests.support.services import RedisServer, free_port

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SHARDS = 2
CONFIG = f"""
[log]
format = "json"
level = "info"

[metrics]
enabled = true
host = "127.0.0.1"
port = {{metrics_port}}

[app]
shutdown_timeout_s = 5.0

[bus]
redis_url = "{{url}}"
shard_count = {SHARDS}
block_ms = 200
claim_idle_ms = 1000

[detectors]
lease_ttl_s = 4.0
lease_renew_s = 1.0
block_ms = 200
"""


def crash_report(detector: Detector) -> str:
    """How the detector ended, with the tail of its log."""
    lines = detector.log.read_text(encoding="utf-8", errors="replace").splitlines()
    return f"{detector.name} exit code {detector.proc.poll()}; last log lines:\n" + "\n".join(lines[-40:])


async def wait_alive(detector: Detector, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` with a deadline, failing at once (with the log) if the detector exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if detector.proc.poll() is not None:
            raise AssertionError(crash_report(detector))
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached before the deadline\n{crash_report(detector)}")
        await asyncio.sleep(0.05)


def caught_up(client: redis.Redis) -> bool:
    """Every entry of every shard delivered to the detectors and acknowledged."""
    keys = Keys()
    for shard in range(SHARDS):
        groups = client.xinfo_groups(keys.events(shard)) if client.exists(keys.events(shard)) else []
        group = next((g for g in groups if g["name"] == EVENTS_GROUP.encode()), None)
        if group is None or group["pending"] or group["lag"]:
            return False
    return True


def calls(client: redis.Redis, command: str) -> int:
    """How many times Redis ran ``command`` (INFO commandstats)."""
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def redis_up(port: int) -> float | None:
    """``liqmon_bus_redis_up`` as the detector's metrics endpoint serves it (None while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("liqmon_bus_redis_up "):
            return float(line.split()[1])
    return None


def acquired(detector: Detector) -> set[object]:
    return {line.get("shard") for line in detector.lines() if line.get("event") == "detector_shard_acquired"}


@pytest.fixture
async def proxied_detector(
    redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[tuple[FaultProxy, Detector, int]]:
    """A ``liqmon detect`` process reaching Redis through a fault proxy, with its metrics port;
    SIGTERM'd afterwards (exit 0 checked)."""
    async with FaultProxy(redis_server.port) as proxy:
        config = tmp_path / "detect.toml"
        metrics_port = free_port()
        config.write_text(CONFIG.format(url=proxy.url, metrics_port=metrics_port), encoding="utf-8")
        detector = Detector(config, "detector", tmp_path)
        try:
            yield proxy, detector, metrics_port
        finally:
            running_at_end = detector.proc.poll() is None
            if running_at_end:
                detector.proc.send_signal(signal.SIGTERM)
            try:  # waited for in a thread: the proxy lives in this loop, and the shutdown goes through it
                await asyncio.to_thread(detector.proc.wait, 20)
            except subprocess.TimeoutExpired:
                detector.proc.kill()
                detector.proc.wait(timeout=5)
    if running_at_end:  # an earlier exit is the test's own failure
        assert detector.proc.returncode == 0, crash_report(detector)


async def test_detect_survives_its_redis_connections_being_reset_idle_ones_included(
    redis_server: RedisServer, proxied_detector: tuple[FaultProxy, Detector, int]
) -> None:
    proxy, detector, metrics_port = proxied_detector
    client = redis.Redis(port=redis_server.port)
    producer, _ = producer_for(redis_server.url)
    async with running(producer):
        await wait_alive(detector, lambda: acquired(detector) == set(range(SHARDS)))
        producer.publish(numbered(0, 200))
        assert await producer.flush(10)
        await wait_alive(detector, lambda: caught_up(client) and redis_up(metrics_port) == 1)

        live = proxy.connections
        claims, stats = calls(client, "xautoclaim"), calls(client, "xlen")
        # Every connection through the proxy gets an RST, busy or idle, and so does every new one
        # until Redis counts as down; whatever retries the client library makes of its own give up.
        proxy.set_mode("reset")
        assert live >= 2  # the reader's and at least one idle one (janitor, stats) were reset
        await wait_alive(detector, lambda: redis_up(metrics_port) == 0)
        proxy.set_mode("pass")

        producer.publish(numbered(1000, 200))
        assert await producer.flush(10)
        # Consumed again, Redis reported up again, and the janitor (every 0.5 s) and the stats task
        # (every 5 s) each ran a command after the reset, on a connection they had to replace.
        await wait_alive(
            detector,
            lambda: (
                caught_up(client)
                and redis_up(metrics_port) == 1
                and calls(client, "xautoclaim") > claims + 1
                and calls(client, "xlen") > stats
            ),
        )
    await producer.close()
    client.close()
    assert detector.proc.poll() is None, crash_report(detector)
    assert "task_crashed" not in [line.get("event") for line in detector.lines()], crash_report(detector)
