"""Pick the bus from the settings: Redis Streams when a URL is set, in-memory otherwise."""

from __future__ import annotations

from monitor.bus.base import Bus
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from monitor.settings import BusSettings


def create_bus(settings: BusSettings, metrics: Metrics) -> Bus:
    """The bus described by ``settings`` (not yet connected; ``run`` does the background work)."""
    if settings.redis_url is None:
        return MemoryBus(shard_count=1, max_events=settings.buffer_max_events, metrics=metrics)
    from monitor.bus.redis_streams import RedisStreamsBus

    return RedisStreamsBus(settings, metrics)
