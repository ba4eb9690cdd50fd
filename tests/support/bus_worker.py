"""A consumer that reads one batch and then hangs without acknowledging it.

Run as ``python -m tests.support.bus_worker URL PREFIX SHARDS CONSUMER COUNT``;
it prints ``READ <entry ids>`` once it holds a batch, then waits to be killed.
The kill tests use it to leave entries pending on a dead consumer.
"""

from __future__ import annotations

import asyncio
import sys

from prometheus_client import CollectorRegistry

from monitor.bus.base import EventEntry
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.metrics import Metrics
from monitor.settings import BusSettings


async def main(url: str, prefix: str, shard_count: int, consumer: str, count: int) -> None:
    settings = BusSettings(redis_url=url, key_prefix=prefix, shard_count=shard_count)
    bus = RedisStreamsBus(settings, Metrics(CollectorRegistry()))
    batch: list[EventEntry] = []
    while not batch:
        batch = await bus.read_events(range(shard_count), consumer, count=count, block_ms=500)
    print("READ " + " ".join(d.entry_id for d in batch), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    url, prefix, shards, consumer, count = sys.argv[1:6]
    asyncio.run(main(url, prefix, int(shards), consumer, int(count)))
