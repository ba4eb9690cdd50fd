"""Detector processes share the shards fairly on a real Redis, and never two act on one shard.

Three runners (each with its own bus connection, as separate processes would
have) join one after the other, one leaves cleanly and one dies without
releasing anything; at every observation the owned sets are disjoint, and the
shares converge to shards / members (differing by at most one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from monitor.bus.keys import Keys
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.detectors.config import DetectorSettings
from monitor.detectors.runner import DetectorRunner, lease_name
from monitor.metrics import Metrics
from monitor.settings import BusSettings
from tests.chaos.proxy import FaultProxy
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

SHARDS = 8
SETTINGS = DetectorSettings(lease_ttl_s=1.0, lease_renew_s=0.2, block_ms=50)


@dataclass
class Member:
    """One detector runner with its own bus, running in this loop."""

    runner: DetectorRunner
    bus: RedisStreamsBus
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def owned(self) -> set[int]:
        return self.runner.owned()


@contextlib.asynccontextmanager
async def members(server: RedisServer) -> AsyncIterator[Callable[..., Member]]:
    """A factory of started members; every one still running is stopped on exit."""
    started: list[Member] = []

    def start(name: str, url: str = server.url, settings: DetectorSettings = SETTINGS) -> Member:
        bus = RedisStreamsBus(BusSettings(redis_url=url, shard_count=SHARDS, block_ms=50), Metrics(CollectorRegistry()))
        member = Member(DetectorRunner(settings, bus, Metrics(CollectorRegistry()), consumer=name), bus)
        member.task = asyncio.create_task(member.runner.run(member.stop))
        started.append(member)
        return member

    try:
        yield start
    finally:
        for member in started:
            member.stop.set()
        tasks = [m.task for m in started if m.task]
        _, stuck = await asyncio.wait(tasks, timeout=30)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert not stuck, "a runner did not stop within 30 s"
        for member in started:
            await member.bus.close()


async def converge(
    group: list[Member], expected: list[int], timeout: float = 20.0, cover: set[int] | None = None
) -> None:
    """Wait until the members own ``expected`` shard counts (sorted) covering ``cover`` (default: every shard).

    Two members owning one shard at any observation fails at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        owned = [m.owned for m in group]
        for i, mine in enumerate(owned):
            for other in owned[i + 1 :]:
                assert not mine & other, f"two owners act on shards {sorted(mine & other)}"
        union = set().union(*owned)
        if sorted(map(len, owned)) == expected and union == (set(range(SHARDS)) if cover is None else cover):
            return
        assert loop.time() < deadline, f"shares never became {expected}: {[sorted(o) for o in owned]}"
        await asyncio.sleep(0.02)


async def test_members_share_the_shards_and_take_over_from_the_dead(redis_server: RedisServer) -> None:
    async with FaultProxy(redis_server.port) as proxy, members(redis_server) as start:
        a = start("a")
        await converge([a], [8])
        b = start("b")
        await converge([a, b], [4, 4])
        c = start("c", proxy.url)
        await converge([a, b, c], [2, 3, 3])
        assert sorted(m.runner.fair_share() for m in (a, b, c)) == [2, 3, 3]

        # b leaves cleanly: it withdraws and releases, the others take its shards.
        b.stop.set()
        assert b.task is not None
        await b.task
        await converge([a, c], [4, 4])

        # c is cut off from Redis: it releases nothing and its announcement lapses with its leases. It
        # stops acting on its shards before they expire, and a takes everything.
        proxy.set_mode("blackhole")
        await converge([a, c], [0, 8])
        proxy.set_mode("reset")  # c's calls fail at once from here on, so it stops promptly


async def test_a_lease_left_in_our_own_name_is_taken_at_once(redis_server: RedisServer) -> None:
    # What a restart with a stable consumer name (or a take that failed half-way) leaves behind.
    redis_server.command("SET", Keys().lease(lease_name(3)), "a", "PX", "600000")
    redis_server.command("SET", Keys().lease(lease_name(4)), "someone-else", "PX", "600000")
    async with members(redis_server) as start:
        a = start("a")
        await converge([a], [7], cover=set(range(SHARDS)) - {4})
        assert 3 in a.owned


async def test_a_lapsed_lease_is_taken_without_waiting_for_the_next_renewal(redis_server: RedisServer) -> None:
    # Shards 4-7 belong to a process that died: its announcement is gone, its leases still run.
    for shard in range(4, 8):
        redis_server.command("SET", Keys().lease(lease_name(shard)), "dead", "PX", "600000")
    slow = DetectorSettings(lease_ttl_s=600.0, lease_renew_s=300.0, block_ms=50)  # next renewal: 5 minutes on
    async with members(redis_server) as start:
        a = start("a", settings=slow)
        await converge([a], [4], cover={0, 1, 2, 3})
        for shard in range(4, 8):  # the dead owner's leases lapse
            redis_server.command("DEL", Keys().lease(lease_name(shard)))
        await converge([a], [8])  # long before a's next renewal: its watch saw the lapsed leases
