"""The statistics part of the Redis bus: stream lengths, pending entries and lag for Prometheus.

A background task reads ``XLEN`` and ``XINFO GROUPS`` every few seconds and
caches them; the scrape callback turns the cache into the ``liqmon_bus_*``
stream gauges (declared once, in :func:`monitor.metrics.bus_stream_families`).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from monitor.bus.redis_link import RedisLink, Room, _text
from monitor.errors import BusError
from monitor.metrics import bus_stream_families


class Stats(Room):
    """Cached stream figures and the scrape callback that exports them."""

    def __init__(self, link: RedisLink, *, interval_s: float) -> None:
        super().__init__(link)
        self._stats_interval = interval_s
        self._lengths: dict[str, int] = {}
        self._group_stats: dict[tuple[str, str], tuple[int, int | None]] = {}

    async def run_refresher(self) -> None:
        """Refresh the cached figures until the link is stopping."""
        await self._stats_loop()

    async def refresh_stats(self) -> None:
        """Read XLEN and XINFO GROUPS of every stream and cache them for the next scrape."""
        streams = [*self._event_keys, self._keys.alerts, self._keys.dead_letters]
        grouped = [*self._event_keys, self._keys.alerts]
        async with self._r.pipeline(transaction=False) as pipe:
            for key in streams:
                pipe.xlen(key)
            for key in grouped:
                pipe.xinfo_groups(key)
            replies = await self._call("XLEN/XINFO", pipe.execute(raise_on_error=False))
        lengths = {self._keys.label(k): int(n) for k, n in zip(streams, replies, strict=False) if isinstance(n, int)}
        groups: dict[tuple[str, str], tuple[int, int | None]] = {}
        for key, info in zip(grouped, replies[len(streams) :], strict=False):
            if isinstance(info, Exception):
                continue  # no such key yet
            for raw in info:
                row = {_text(k): v for k, v in raw.items()}
                lag = row.get("lag")
                groups[(self._keys.label(key), _text(row["name"]))] = (
                    int(row.get("pending") or 0),
                    None if lag is None else int(lag),
                )
        self._lengths, self._group_stats = lengths, groups

    async def _stats_loop(self) -> None:
        while not self._link.stopping.is_set():
            try:
                await self.refresh_stats()
            except BusError as exc:
                self._log_failure("stats", exc)
            await self._pause(self._stats_interval)

    def collect(self) -> Iterable[Metric]:
        """Scrape callback: the cached stream figures as gauges."""
        return bus_stream_families(
            sorted(self._lengths.items()),
            [
                (stream, group, n_pending, n_lag)
                for (stream, group), (n_pending, n_lag) in sorted(self._group_stats.items())
            ],
        )
