"""Where ``liqmon top`` and ``liqmon alerts`` read a deployment from (the I/O side).

* :class:`HttpSource`: a daemon that runs the pipeline itself (``liqmon run``,
  embedded or not) serves its snapshot on ``/state`` and its alerts on
  ``/alerts`` of the metrics endpoint.
* :class:`RedisSource`: a scaled-out deployment, read from its Redis streams,
  strictly read-only: ``XRANGE`` on the event shards (through the bus's
  history read) and on the alerts stream. It never creates or joins a consumer
  group and never acknowledges, so watching cannot take work from a detector
  or a dispatcher. The events it reads are folded into the same market tally
  the metrics use, so both sources produce the same snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

import httpx
from redis.exceptions import RedisError

from monitor.alert import Alert, decode_alert
from monitor.bus.keys import FIELD_DATA, Keys
from monitor.errors import BusError, InvalidEvent, MonitorError
from monitor.events import Event, Gap
from monitor.logs import get_logger
from monitor.market_metrics import MarketTally
from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.top.live import enabled_venues, wall_ms
from monitor.top.state import AlertBook, Snapshot, build_snapshot, decode_alerts, decode_snapshot

log = get_logger(__name__)

HTTP_TIMEOUT_S: Final = 3.0
PAGE: Final = 1000
# Events read per refresh at most; a long look-back is caught up over a few refreshes.
MAX_EVENTS_PER_REFRESH: Final = 200_000


class SourceError(MonitorError):
    """The deployment cannot be read right now; the message says what to check."""


class Source(Protocol):
    """A deployment to watch."""

    async def snapshot(self) -> Snapshot:
        """The state now; SourceError when it cannot be read."""

    async def alerts_since(self, since_ms: int) -> list[Alert]:
        """Alerts raised at or after wall time ``since_ms``, oldest first."""

    async def close(self) -> None:
        """Release connections."""


def state_url(settings: Settings) -> str:
    """The metrics endpoint of the daemon the configuration describes."""
    host = settings.metrics.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.metrics.port}"


class HttpSource:
    """Reads ``/state`` and ``/alerts`` from a running daemon's metrics endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, trust_env=False)

    async def _get(self, path: str) -> bytes:
        target = f"{self.url}{path}"
        try:
            response = await self._http.get(target)
        except httpx.HTTPError as exc:
            raise SourceError(
                f"cannot reach {target} ({type(exc).__name__}: {exc or 'no answer'}); is `liqmon run` running with "
                "the metrics endpoint on? (metrics.enabled, metrics.host/port, or pass --url)"
            ) from None
        if response.status_code == 404:
            raise SourceError(f"{target} answered 404: that daemon serves no state (a liqmon older than `top`?)")
        if response.status_code != 200:
            raise SourceError(f"{target} answered HTTP {response.status_code}: {response.text[:200]}")
        return response.content

    async def snapshot(self) -> Snapshot:
        """GET /state."""
        try:
            return decode_snapshot(await self._get("/state"))
        except ValueError as exc:
            raise SourceError(f"{self.url}/state: {exc}") from None

    async def alerts_since(self, since_ms: int) -> list[Alert]:
        """GET /alerts?since_ms=…."""
        try:
            return decode_alerts(await self._get(f"/alerts?since_ms={since_ms}"))
        except ValueError as exc:
            raise SourceError(f"{self.url}/alerts: {exc}") from None

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSource:
    """A scaled-out deployment, read-only from Redis: the last ``lookback_s`` of events, then what follows."""

    def __init__(self, settings: Settings, *, lookback_s: float, client: Any = None, bus: Any = None) -> None:
        from monitor.bus.redis_link import build_client, describe_target
        from monitor.bus.redis_streams import RedisStreamsBus

        self.settings = settings
        self.keys = Keys(settings.bus.key_prefix)
        self.target = describe_target(settings.bus.redis_url or "")
        self._client = client if client is not None else build_client(settings.bus)
        # The bus object is used for its read-only history read (XRANGE) only.
        self._bus = bus if bus is not None else RedisStreamsBus(settings.bus, Metrics(assets=settings.metrics.assets))
        self.started_ms = wall_ms() - int(lookback_s * 1000)
        self._cursors = dict.fromkeys(range(settings.bus.shard_count), f"{self.started_ms}-0")
        self._alerts_cursor = f"{self.started_ms}-0"
        self.tally = MarketTally(sorted(settings.metrics.assets))
        self.book = AlertBook()
        self.last_seen_ms: dict[str, float] = {}
        self.market_ms: int | None = None
        self.venues = enabled_venues(settings)
        self.behind = False
        self.skipped = 0

    async def _read_events(self) -> None:
        budget = MAX_EVENTS_PER_REFRESH // max(1, len(self._cursors))
        behind = False
        for shard, start in list(self._cursors.items()):
            cursor = start
            taken = 0
            while taken < budget:
                page = await self._bus.read_history(shard, cursor, PAGE)
                if not page:
                    break
                cursor = page[-1].entry_id
                self._fold([event for entry in page for event in entry.events])
                taken += len(page)
            else:
                behind = True
            self._cursors[shard] = cursor
        self.behind = behind

    def _fold(self, events: Sequence[Event]) -> None:
        self.tally.observe(events)
        seen = self.last_seen_ms
        for event in events:
            if event.recv_ms > seen.get(event.venue, 0):
                seen[event.venue] = event.recv_ms
            if not isinstance(event, Gap) and (self.market_ms is None or event.ts_ms > self.market_ms):
                self.market_ms = event.ts_ms

    async def _read_alerts(self, start: str) -> list[tuple[int, str, Alert]]:
        out: list[tuple[int, str, Alert]] = []
        while True:
            reply = await self._client.xrange(self.keys.alerts, min=start, max="+", count=PAGE)
            if not reply:
                return out
            for raw_id, fields in reply:
                entry_id = _text(raw_id)
                data = (fields or {}).get(FIELD_DATA)
                try:
                    if data is None:
                        raise InvalidEvent("entry has no data field")  # noqa: TRY301
                    out.append((int(entry_id.partition("-")[0]), entry_id, decode_alert(data)))
                except InvalidEvent as exc:
                    self.skipped += 1
                    log.warning("top_alert_entry_skipped", entry_id=entry_id, detail=str(exc))
            start = f"({_text(reply[-1][0])}"

    async def snapshot(self) -> Snapshot:
        """Read what was added since the last call and return the state."""
        try:
            await self._read_events()
            for raised, entry_id, alert in await self._read_alerts(f"({self._alerts_cursor}"):
                self.book.add(alert, raised)
                self._alerts_cursor = entry_id
        except (BusError, RedisError, OSError) as exc:
            raise SourceError(f"cannot read the streams at Redis {self.target}: {exc}") from None
        notes = [f"reading the streams of Redis {self.target} read-only (no consumer group)"]
        if self.behind:
            notes.append("catching up with the look-back: figures are still growing")
        return build_snapshot(
            source="redis",
            label=f"redis {self.target} prefix {self.keys.prefix}",
            now_ms=wall_ms(),
            since_ms=self.started_ms,
            venues=self.venues,
            tally=self.tally,
            last_seen_ms=self.last_seen_ms,
            book=self.book,
            market_ms=self.market_ms,
            notes=notes,
        )

    async def alerts_since(self, since_ms: int) -> list[Alert]:
        """XRANGE over the alerts stream from ``since_ms`` (entry ids are the times the alerts were raised)."""
        try:
            return [alert for _, _, alert in await self._read_alerts(f"{since_ms}-0")]
        except (RedisError, OSError) as exc:
            raise SourceError(f"cannot read {self.keys.alerts} at Redis {self.target}: {exc}") from None

    async def close(self) -> None:
        """Close the connections."""
        await self._bus.close()
        close = getattr(self._client, "aclose", None) or self._client.close
        await close()
