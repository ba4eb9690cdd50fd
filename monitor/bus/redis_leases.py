"""The coordination part of the Redis bus: delivery dedup markers, leases, group membership and checkpoints.

Leases are ``SET NX PX`` keys renewed and released by Lua scripts that check the
owner; members of a group announce themselves in a sorted set scored by expiry
in Redis time, so processes on hosts with skewed clocks still agree on who is
alive.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.bus.redis_link import RedisLink, Room, _text

# Take the lease if free, renew it if ``owner`` already holds it.
_ACQUIRE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Write a checkpoint only while ``owner`` holds the lease it belongs to (a fence against a paused or
# partitioned former owner overwriting its successor's checkpoint); the checkpoint expires with the events.
_STORE_CHECKPOINT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# Announce a member alive until Redis time + ttl, drop the expired ones, list the rest. Redis's own
# clock scores every entry, so members on hosts with skewed clocks still agree.
_ANNOUNCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# Delete the lease only when ``owner`` holds it.
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases(Room):
    """``claim_once``, leases and member announcements."""

    def __init__(self, link: RedisLink) -> None:
        super().__init__(link)
        self._acquire = self._r.register_script(_ACQUIRE_LEASE)
        self._release = self._r.register_script(_RELEASE_LEASE)
        self._announce = self._r.register_script(_ANNOUNCE)
        self._store_checkpoint = self._r.register_script(_STORE_CHECKPOINT)

    async def claim_once(self, key: str, ttl_ms: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_ms`` (SET NX PX)."""
        reply = await self._call("SET NX", self._r.set(self._keys.sent(key), b"1", nx=True, px=ttl_ms))
        return bool(reply)

    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take the lease ``name`` or renew it when ``owner`` holds it; False when another owner does."""
        reply = await self._call("lease acquire", self._acquire(keys=[self._keys.lease(name)], args=[owner, ttl_ms]))
        return bool(reply)

    async def release_lease(self, name: str, owner: str) -> None:
        """Delete the lease ``name`` only when ``owner`` holds it."""
        await self._call("lease release", self._release(keys=[self._keys.lease(name)], args=[owner]))

    async def lease_holders(self, names: Sequence[str]) -> list[str | None]:
        """Who holds each lease (None when free): pipelined GETs, one round trip (any cluster slot)."""
        async with self._r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(self._keys.lease(name))
            replies = await self._call("lease holders", pipe.execute())
        return [None if r is None else _text(r) for r in replies]

    async def announce(self, group: str, member: str, ttl_ms: int) -> list[str]:
        """Announce ``member`` alive in ``group`` for ``ttl_ms`` (Redis time); the live members, sorted."""
        reply = await self._call("announce", self._announce(keys=[self._keys.members(group)], args=[member, ttl_ms]))
        return sorted(_text(m) for m in reply)

    async def withdraw(self, group: str, member: str) -> None:
        """Remove ``member`` from ``group`` at once."""
        await self._call("withdraw", self._r.zrem(self._keys.members(group), member))

    async def store_checkpoint(self, lease: str, owner: str, data: bytes) -> bool:
        """SET the checkpoint of ``lease``'s work if ``owner`` holds the lease; False (nothing written) otherwise.

        It expires with the event retention (an older one is of no use).
        """
        ttl_ms = max(1, self._link.retention_ms)
        keys = [self._keys.lease(lease), self._keys.checkpoint(lease)]
        reply = await self._call("checkpoint store", self._store_checkpoint(keys=keys, args=[owner, data, ttl_ms]))
        return bool(reply)

    async def load_checkpoint(self, lease: str) -> bytes | None:
        """GET the checkpoint of ``lease``'s work."""
        reply = await self._call("checkpoint load", self._r.get(self._keys.checkpoint(lease)))
        return None if reply is None else bytes(reply)
