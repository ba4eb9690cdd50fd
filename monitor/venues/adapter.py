"""The contract between a venue module, the shared connection loop and the simulators.

A venue module (``monitor/venues/<name>.py``) defines one subclass of
:class:`VenueAdapter`. It declares endpoints, limits and keepalive rules as
class attributes, builds subscriptions, and parses frames **purely**:
``parse(frame, recv_ms) -> list[Event]`` never awaits and never touches the
network; it raises :class:`~monitor.errors.ParseError` for a frame it cannot
read and returns ``[]`` for control frames (acks, pongs, heartbeats). State a
venue needs between frames (ticker deltas, BitMEX partials, the instrument
book) lives on the adapter instance; :meth:`reset` clears per-connection
state after a reconnect.

The connection loop (``monitor/venues/base.py``) owns sockets, keepalive,
reconnects, gap markers, duplicate removal and metrics; it only calls the
methods below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from monitor.errors import ParseError
from monitor.events import Event
from monitor.venues.common import FAST_PATH_MISSES, FastPathMiss
from monitor.venues.instruments import Instrument, InstrumentBook

KeepaliveMode = Literal["server_ping", "text", "json", "deribit_heartbeat"]


@dataclass(frozen=True, slots=True)
class Keepalive:
    """How a venue wants a client to keep its connection alive.

    ``server_ping``: the server sends protocol pings and the client answers
    pongs (websockets does this by itself). ``text``/``json``: the client sends
    ``payload`` every ``interval_s`` and the server answers ``pong``.
    ``deribit_heartbeat``: the client calls ``public/set_heartbeat`` and answers
    each ``test_request`` (see :meth:`VenueAdapter.reply`). ``drop_after_s`` is
    how long the venue tolerates a client that does not ping (the simulators
    enforce it).
    """

    mode: KeepaliveMode
    interval_s: float
    payload: str | None = None
    drop_after_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Connection:
    """What one websocket connection carries: its URL, the frames to send after open, what it covers."""

    url: str
    subscribe: tuple[str, ...]
    symbols: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    label: str = ""
    # Extra HTTP headers for the opening handshake (Gate: ``X-Gate-Size-Decimal: 1``).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RestPoll:
    """A REST endpoint polled on a cadence (venues without a stream for that data)."""

    path: str
    interval_s: float
    weight: int = 1
    symbols: tuple[str, ...] = field(default_factory=tuple)


class VenueAdapter(ABC):
    """One venue's protocol: endpoints, subscriptions, keepalive and pure parsing."""

    name: ClassVar[str]
    ws_url: ClassVar[str]
    rest_url: ClassVar[str]
    keepalive: ClassVar[Keepalive]
    # Subscriptions (streams/topics/args) one connection may carry.
    max_subscriptions_per_connection: ClassVar[int] = 200
    # The venue cuts connections at this age; the loop reconnects a little before (None: no cut-off).
    max_connection_age_s: ClassVar[float | None] = None
    # No frame at all (data, pong or heartbeat) for this long means the connection is dead.
    liveness_timeout_s: ClassVar[float] = 90.0
    # The liquidation feed publishes at most one liquidation per symbol per interval, so sums
    # over it are lower bounds (the ``sampled`` flag of every Liquidation it yields).
    liquidations_sampled: ClassVar[bool] = False
    # Largest websocket message accepted, in bytes (docs/venues-connection.md). A larger one is refused by
    # websockets' max_size from its header, before the payload is read or parsed: the socket closes with
    # 1009, the frame is counted (reason ``too_large``) and the loop reconnects.
    max_frame_bytes: ClassVar[int] = 2**20

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        self.instruments = instruments if instruments is not None else InstrumentBook(self.name)
        self._issues: list[tuple[str, str]] = []

    # -- subscriptions -------------------------------------------------------------------------
    @abstractmethod
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """The connections needed to cover ``symbols`` (split by the venue's limits)."""

    def rest_polls(self, symbols: Sequence[str]) -> list[RestPoll]:
        """REST endpoints to poll (only for data with no stream, e.g. Binance open interest)."""
        return []

    def instrument_paths(self) -> list[str]:
        """REST paths (relative to ``rest_url``) that list this venue's instruments."""
        return []

    # -- parsing (pure) ------------------------------------------------------------------------
    def parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Normalize one websocket frame. Control frames give []; unreadable ones raise ParseError.

        The venue's typed fast path (:meth:`_parse_fast`) goes first; a frame it does not handle is
        read again by :meth:`parse_generic`, with the same result (and its ParseError is the one
        reported). Issues noted by the abandoned attempt are dropped. A frame nested so deeply that
        reading it exhausts the interpreter's recursion limit is a ParseError (reason ``too_deep``).
        """
        issues = len(self._issues)
        try:
            try:
                return self._parse_fast(frame, recv_ms)
            except FAST_PATH_MISSES:
                del self._issues[issues:]
                return self.parse_generic(frame, recv_ms)
        except RecursionError:
            raise ParseError(f"{self.name}: frame nested too deeply to read", reason="too_deep") from None

    def _parse_fast(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Typed decoding of the venue's hot channels; raises a FAST_PATH_MISSES error for anything else."""
        raise FastPathMiss

    @abstractmethod
    def parse_generic(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """The dict-based reader: every frame shape, and the precise ParseError for a bad one."""

    def parse_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """Normalize one REST response body (polled data)."""
        return []

    def load_instruments(self, path: str, body: str | bytes) -> int:
        """Read an instrument-list response into :attr:`instruments`; returns how many were loaded."""
        return 0

    def _load_instrument_rows(
        self, rows: Iterable[Any], parse_row: Callable[[Any], Instrument | None], source: str
    ) -> int:
        """Add each row ``parse_row`` accepts to the book; a bad row is skipped and reported, not fatal.

        ``parse_row`` returns None for rows that are not instruments liqmon tracks (options, closed contracts).
        """
        loaded = []
        for row in rows:
            try:
                inst = parse_row(row)
            except ParseError as exc:
                self._issue("bad_instrument", f"{self.name} {source} row skipped: {exc}")
                continue
            if inst is not None:
                loaded.append(inst)
        self.instruments.update(loaded)
        return len(loaded)

    def reply(self, frame: str | bytes) -> str | None:
        """A frame to send back in answer to ``frame`` (Deribit ``test_request``), or None."""
        return None

    def ping_payload(self) -> str | None:
        """The application-level ping to send every ``keepalive.interval_s`` (None: none)."""
        return self.keepalive.payload

    def reset(self) -> None:
        """Forget per-connection state (delta snapshots) after a reconnect."""

    # -- non-fatal problems found while parsing ------------------------------------------------
    def _issue(self, reason: str, message: str) -> None:
        self._issues.append((reason, message))

    def drain_issues(self) -> list[tuple[str, str]]:
        """Problems met since the last call, as (metric reason, message): unknown contracts, bad rows."""
        issues, self._issues = self._issues, []
        return issues
