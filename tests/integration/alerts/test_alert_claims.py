"""The dispatcher's bus claims other consumers' idle alert entries, never its own ones still in flight (real Redis)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from monitor.bus.redis_streams import RedisStreamsBus
from monitor.metrics import Metrics
from monitor.settings import BusSettings
from tests.support.services import RedisServer
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

IDLE_MS = 150


async def _all_idle(client: aioredis.Redis, key: str, count: int) -> None:
    """Wait until Redis reports ``count`` pending entries, each idle longer than the claim threshold."""
    async with asyncio.timeout(10):
        while True:
            rows = await client.xpending_range(key, "dispatch", min="-", max="+", count=100)
            if len(rows) == count and all(r["time_since_delivered"] > IDLE_MS for r in rows):
                return
            await asyncio.sleep(0.02)


async def test_own_entries_in_flight_stay_put_and_a_dead_consumers_are_claimed(
    redis_server: RedisServer, metrics: Metrics
) -> None:
    settings = BusSettings(redis_url=redis_server.url, shard_count=1, key_prefix="claims", claim_idle_ms=IDLE_MS)
    me = RedisStreamsBus(settings, metrics)
    dead = RedisStreamsBus(settings, Metrics())
    for n in range(3):
        await me.publish_alert(make_alert(n))
    gone = await dead.read_alerts("dead", count=2, block_ms=100)  # read, never acknowledged
    mine = await me.read_alerts("me", count=10, block_ms=100)  # in flight at a slow sink
    assert [d.item.id for d in gone] == ["alert-0", "alert-1"]
    assert [d.item.id for d in mine] == ["alert-2"]
    client = aioredis.Redis.from_url(redis_server.url)
    await _all_idle(client, "claims:alerts", 3)

    assert await me.claim_idle() == 2  # the dead consumer's two, not our own one
    assert metrics.registry.get_sample_value("liqmon_bus_claimed_total") == 2
    again = await me.read_alerts("me", count=10, block_ms=100)
    assert sorted(d.item.id for d in again) == ["alert-0", "alert-1"]
    assert [d.deliveries for d in again] == [2, 2]
    owners = {
        r["message_id"]: r["consumer"] for r in await client.xpending_range("claims:alerts", "dispatch", "-", "+", 10)
    }
    assert set(owners.values()) == {b"me"}
    await _all_idle(client, "claims:alerts", 3)
    assert await me.claim_idle() == 0  # all three are ours now and in flight: nothing to take
    await me.ack_alerts([*mine, *again])
    await client.aclose()
    await me.close()
    await dead.close()
