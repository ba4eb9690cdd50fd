"""The connection every part of the Redis bus shares: client, keys, metrics and error handling.

:class:`RedisLink` owns the redis-py client and turns its errors into ours
(:class:`~monitor.errors.BusUnavailable` for network trouble, with
``liqmon_bus_redis_up`` and ``liqmon_bus_writes_refused`` kept current);
:class:`Room` is the base of the bus's parts (publisher, consumer, leases,
stats), which reach Redis only through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from monitor.aio import sleep_or_stop
from monitor.backoff import backoff as retry_delays
from monitor.bus.keys import Keys
from monitor.errors import BusAuthError, BusError, BusUnavailable, BusWritesRefused
from monitor.logs import Throttle, get_logger
from monitor.metrics import Metrics
from monitor.redact import mask_url
from monitor.settings import BusSettings

log = get_logger(__name__)

T = TypeVar("T")
Fields = dict[bytes, bytes]
Entries = list[tuple[str, Fields]]

_FAILURE_LOG_INTERVAL_S = 10.0
# The bus actions that write (a success clears liqmon_bus_writes_refused).
_WRITES = frozenset({"XADD events", "XADD alerts", "XADD dead letters", "SET NX", "lease acquire"})


def backoff(initial: float, cap: float) -> Iterator[float]:
    """Delays doubling from ``initial`` up to ``cap`` seconds, each jittered into its upper half."""
    return retry_delays(initial, cap, 2.0, low=0.5, high=1.0)


def describe_target(url: str) -> str:
    """The Redis URL for messages, its password masked."""
    return mask_url(url)


def connection_lost(exc: BaseException) -> bool:
    """True for uvloop's error on writing to a connection the peer has reset ("the handler is closed").

    redis-py's pool hands out such a connection when the reset came while it was
    idle, and lets this ``RuntimeError`` through (having dropped the connection,
    so the next command reconnects); the standard event loop raises a
    ``ConnectionResetError`` instead, which redis-py translates.
    """
    return isinstance(exc, RuntimeError) and "handler is closed" in str(exc)


def translate(exc: rexc.RedisError | RuntimeError, action: str, target: str) -> BusError:
    """Ours for a redis-py (or uvloop reset-connection) error: BusUnavailable for network trouble, else BusError."""
    text = str(exc)
    if connection_lost(exc):
        return BusUnavailable(f"Redis at {target} is unreachable ({action}): connection reset ({text})")
    if isinstance(exc, rexc.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text:
        return BusAuthError(
            f"Redis at {target} rejected the credentials ({text}); set the password in bus.redis_password "
            "(LIQMON_BUS__REDIS_PASSWORD or redis_password_file) or in bus.redis_url"
        )
    if isinstance(exc, (rexc.OutOfMemoryError, rexc.ReadOnlyError)) or "MISCONF" in text:
        return BusWritesRefused(
            f"Redis at {target} refuses writes ({action}): {text}; writes are retried, events stay "
            "buffered meanwhile (see 'Redis refusing writes' in docs/bus.md)"
        )
    if isinstance(exc, rexc.AuthorizationError) or "NOPERM" in text:
        return BusError(f"the Redis user at {target} lacks permission for {action} ({text}); grant it in the ACL")
    if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
        return BusUnavailable(f"Redis at {target} is unreachable ({action}): {text}")
    return BusError(f"Redis at {target} failed {action}: {text}")


def build_client(settings: BusSettings) -> Any:
    """A redis-py asyncio client for ``settings`` (plain or cluster), raw bytes replies.

    The socket timeout is kept above the XREADGROUP BLOCK time (redis-py does not
    extend it for blocking reads), and the client's own retries are few and short:
    the bus retries with its own backoff and never stalls the event loop.
    """
    if settings.redis_url is None:
        raise BusError("bus.redis_url is not set; the Redis bus needs a redis:// or rediss:// URL")
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.block_ms / 1000 + 5,
        "socket_connect_timeout": 3.0,
    }
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get()
    if settings.cluster:
        return RedisCluster.from_url(settings.redis_url, **kwargs)
    retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=2)
    return aioredis.Redis.from_url(settings.redis_url, retry=retry, health_check_interval=30, **kwargs)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_order(entry_id: str) -> tuple[int, int]:
    """Stream entry ids (``<ms>-<seq>``) in stream order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _raw_reply(response: Any, **options: Any) -> Any:
    """Response callback that keeps a reply as hiredis returned it (see ``parse_read``)."""
    return response


def _fields(fields: Any) -> Fields:
    """An entry's fields as a dict, from a flat [name, value, ...] list or an already-built dict."""
    if not fields:
        return {}
    if isinstance(fields, dict):
        return fields
    if len(fields) == 4:  # kind and data: every entry liqmon writes (a fifth as fast as the general case)
        return {fields[0]: fields[1], fields[2]: fields[3]}
    it = iter(fields)
    return dict(zip(it, it, strict=True))


def parse_read(reply: Any) -> dict[str, Entries]:
    """XREADGROUP replies as {stream key: [(entry id, fields)]}.

    Takes the raw RESP2 (list of [key, entries]) or RESP3 (map) reply, and redis-py's parsed
    shapes too (fields as dicts; its RESP3 parser wraps the entries in one more list).
    Entries deleted while pending come back with no fields (``{}``).
    """
    if not reply:
        return {}
    pairs = reply.items() if isinstance(reply, dict) else reply
    out: dict[str, Entries] = {}
    for key, value in pairs:
        entries = value or ()
        if entries and not isinstance(entries[0][0], (bytes, str)):
            entries = entries[0]
        out[_text(key)] = [(_text(eid), _fields(fields)) for eid, fields in entries if eid is not None]
    return out


class RedisLink:
    """The client and what every part of the bus needs around it."""

    def __init__(self, settings: BusSettings, metrics: Metrics, client: Any = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.keys = Keys(settings.key_prefix)
        self.target = describe_target(settings.redis_url or "")
        self.r: Any = client if client is not None else build_client(settings)
        # XREADGROUP replies stay as hiredis built them: redis-py's own parsing builds a list and a
        # dict per entry (parse_read reads the raw shape).
        self.r.set_response_callback("XREADGROUP", _raw_reply)
        self.event_keys = [self.keys.events(s) for s in range(settings.shard_count)]
        self.retention_ms = int(settings.retention_hours * 3_600_000)
        # Set while the bus's background work is stopping: loops end, pauses return early.
        self.stopping = asyncio.Event()
        self._failure_log = Throttle(_FAILURE_LOG_INTERVAL_S)

    async def call(self, action: str, awaitable: Awaitable[T]) -> T:
        """Await a redis command, translating its errors and tracking ``liqmon_bus_redis_up``."""
        try:
            result = await awaitable
        except (rexc.RedisError, RuntimeError) as exc:
            lost = connection_lost(exc)
            if isinstance(exc, RuntimeError) and not lost:
                raise  # a bug, not Redis
            if lost or isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
                self.metrics.bus_redis_up.set(0)
            error = translate(exc, action, self.target)
            if isinstance(error, BusWritesRefused):
                self.metrics.bus_writes_refused.set(1)
            raise error from exc
        self.metrics.bus_redis_up.set(1)
        if action in _WRITES:
            self.metrics.bus_writes_refused.set(0)
        return result

    def log_failure(self, what: str, exc: BaseException, **extra: Any) -> None:
        """A warning per kind of failure at most every few seconds (Redis down must not flood logs)."""
        if self._failure_log.allow(what) is not None:
            log.warning("bus_operation_failed", operation=what, error=str(exc), **extra)

    def minid(self) -> int:
        """The oldest entry id (ms) retention keeps: now minus ``retention_hours``."""
        return max(0, int(time.time() * 1000) - self.retention_ms)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` or until ``run`` is stopping."""
        await sleep_or_stop(self.stopping, seconds)


class Room:
    """A part of the Redis bus: it shares the link's client, keys, metrics and error handling."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._r = link.r
        self._keys = link.keys
        self._settings = link.settings
        self._metrics = link.metrics
        self._event_keys = link.event_keys
        self._call = link.call
        self._log_failure = link.log_failure
        self._pause = link.pause
        self._minid = link.minid
