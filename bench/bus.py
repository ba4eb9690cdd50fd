"""Events per second through each bus (publish → consume → ack), with Redis's own ceiling.

Starts a throwaway redis-server on a free port, measures the in-memory bus and
the Redis Streams bus end to end, then runs ``redis-benchmark`` (pipelined XADD,
P=16) against the same server as the ceiling. Run: ``.venv/bin/python bench/bus.py [N]``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.bus.base import Bus
from monitor.bus.memory import MemoryBus
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.events import Event, Liquidation
from monitor.metrics import Metrics
from monitor.settings import BusSettings

BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX")


def events(n: int) -> list[Event]:
    return [
        Liquidation(
            id=str(i),
            venue="binance",
            symbol=f"{BASES[i % 8]}USDT",
            base=BASES[i % 8],
            quote="USDT",
            contract="linear",
            ts_ms=1_700_000_000_000 + i,
            recv_ms=1_700_000_000_000 + i,
            side="long",
            price=100.0,
            qty_base=1.0,
            notional_usd=100.0,
        )
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.02)
        else:
            return proc, port
    proc.kill()
    raise RuntimeError("redis-server did not start")


async def through(bus: Bus, batch: Sequence[Event], shards: Sequence[int]) -> float:
    """Events per second from the first publish to the last ack."""
    stop = asyncio.Event()
    runner = asyncio.create_task(bus.run(stop))
    started = time.perf_counter()
    for i in range(0, len(batch), 1000):
        bus.publish(batch[i : i + 1000])
        await asyncio.sleep(0)
    got = 0
    while got < len(batch):
        delivered = await bus.read_events(shards, "bench", count=64, block_ms=200)
        await bus.ack_events(delivered)
        got += sum(len(entry.events) for entry in delivered)
    elapsed = time.perf_counter() - started
    stop.set()
    await runner
    return len(batch) / elapsed


async def publish_only(bus: RedisStreamsBus, batch: Sequence[Event]) -> float:
    """Events per second written to Redis (publish + flush, nobody consuming)."""
    started = time.perf_counter()
    bus.publish(batch)
    if not await bus.flush(120):
        raise RuntimeError("flush did not finish")
    return len(batch) / (time.perf_counter() - started)


def redis_benchmark(port: int, n: int) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-P", "16", "-n", str(n), "-q", "XADD", "benchstream", "*", "f", "v"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(r"([\d.]+) requests per second", out)
    if not found:
        raise RuntimeError(f"unexpected redis-benchmark output: {out!r}")
    return float(found[-1])


async def main(n: int) -> None:
    batch = events(n)
    memory = await through(
        MemoryBus(shard_count=4, max_events=n, metrics=Metrics(CollectorRegistry())), batch, range(4)
    )
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_redis(Path(tmp))
        try:
            settings = BusSettings(redis_url=f"redis://127.0.0.1:{port}/0", shard_count=4, buffer_max_events=n)
            writer = RedisStreamsBus(settings, Metrics(CollectorRegistry()))
            written = await publish_only(writer, batch)
            await writer.close()
            settings = BusSettings(
                redis_url=f"redis://127.0.0.1:{port}/0", shard_count=4, key_prefix="e2e", buffer_max_events=n
            )
            bus = RedisStreamsBus(settings, Metrics(CollectorRegistry()))
            redis_e2e = await through(bus, batch, range(4))
            await bus.close()
            ceiling = redis_benchmark(port, 200_000)
        finally:
            proc.kill()
            proc.wait()
    print(f"events: {n}, 4 shards, batched entries, one process (publisher and consumer share the loop)")
    print(f"memory bus   publish→consume→ack : {memory:>10,.0f} events/s")
    print(f"redis bus    publish→XADD only   : {written:>10,.0f} events/s")
    print(f"redis bus    publish→consume→ack : {redis_e2e:>10,.0f} events/s")
    print(f"redis-benchmark XADD -P 16       : {ceiling:>10,.0f} entries/s (ceiling)")
    print(f"redis bus end to end / ceiling   : {redis_e2e / ceiling:>10.1%}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
