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
from typing import Any, ClassVar

from monitor.errors import ParseError
from monitor.events import Event
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, KeepaliveMode, RestRequest, VenueLimits, VenueSpec

__all__ = ["Connection", "Keepalive", "KeepaliveMode", "RestPoll", "VenueAdapter"]

# Instruments guessed from symbols, kept per adapter (real venues have at most a few thousand).
_GUESSED_MAX = 4096


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

    spec: ClassVar[VenueSpec]
    # Read from the spec when a subclass sets ``spec`` (tests may override them on a subclass).
    name: ClassVar[str]
    ws_url: ClassVar[str]
    rest_url: ClassVar[str]
    keepalive: ClassVar[Keepalive]
    max_subscriptions_per_connection: ClassVar[int]
    max_connection_age_s: ClassVar[float | None]
    liveness_timeout_s: ClassVar[float]
    limits: ClassVar[VenueLimits] = VenueLimits()
    # The liquidation feed publishes at most one liquidation per symbol per interval, so sums
    # over it are lower bounds (the ``sampled`` flag of every Liquidation it yields; the spec's ``sampled``).
    liquidations_sampled: ClassVar[bool] = False
    # Largest websocket message accepted, in bytes (docs/venues-connection.md). A larger one is refused by
    # websockets' max_size from its header, before the payload is read or parsed: the socket closes with
    # 1009, the frame is counted (reason ``too_large``) and the loop reconnects.
    max_frame_bytes: ClassVar[int] = 2**20

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.name = spec.name
            cls.ws_url = spec.ws_url
            cls.rest_url = spec.rest_url
            cls.keepalive = spec.keepalive
            cls.max_subscriptions_per_connection = spec.topics_per_connection
            cls.max_connection_age_s = spec.limits.max_connection_age_s
            cls.liveness_timeout_s = spec.liveness_timeout_s
            cls.limits = spec.limits
            cls.max_frame_bytes = spec.max_frame_bytes
            cls.liquidations_sampled = spec.sampled

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        self.instruments = instruments if instruments is not None else InstrumentBook(self.name)
        # Problems met since the last drain_issues (empty when there are none: test it before draining).
        self.issues: list[tuple[str, str]] = []
        self._guessed: dict[str, Instrument] = {}

    # -- subscriptions -------------------------------------------------------------------------
    @abstractmethod
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """The connections needed to cover ``symbols`` (split by the venue's limits)."""

    def rest_polls(self, symbols: Sequence[str]) -> list[RestPoll]:
        """REST endpoints to poll (only for data with no stream, e.g. Binance open interest)."""
        return []

    def instrument_requests(self) -> tuple[RestRequest, ...]:
        """The REST requests that list this venue's instruments (from its spec)."""
        return self.spec.instruments

    # -- parsing (pure) ------------------------------------------------------------------------
    def parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Normalize one websocket frame. Control frames give []; unreadable ones raise ParseError.

        One typed reader per channel: the frame decodes into msgspec Structs whose fields carry their
        bounds; a frame that does not fit raises ParseError with msgspec's path to the field
        (:func:`~monitor.venues.common.decode_failed`). Only control frames are read as dicts. A frame
        nested so deeply that reading it exhausts the interpreter's recursion limit is a ParseError
        (reason ``too_deep``).
        """
        try:
            return self.read(frame, recv_ms)
        except RecursionError:
            raise ParseError(f"{self.name}: frame nested too deeply to read", reason="too_deep") from None

    @abstractmethod
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """The venue's typed readers (see :meth:`parse`)."""

    def parse_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """Normalize one REST response body (polled data); too deep a body is a ``too_deep`` ParseError."""
        try:
            return self.read_rest(path, body, recv_ms)
        except RecursionError:
            raise ParseError(f"{self.name}: {path}: body nested too deeply to read", reason="too_deep") from None

    def read_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """The venue's reader of polled REST bodies (see :meth:`parse_rest`); none by default."""
        return []

    def load_instruments(self, path: str, body: str | bytes) -> int:
        """Read an instrument-list response into :attr:`instruments`; returns how many were loaded.

        Too deep a body is a ``too_deep`` ParseError, like any other unreadable one.
        """
        try:
            return self.read_instruments(path, body)
        except RecursionError:
            raise ParseError(f"{self.name}: {path}: body nested too deeply to read", reason="too_deep") from None

    def read_instruments(self, path: str, body: str | bytes) -> int:
        """The venue's reader of instrument lists (see :meth:`load_instruments`); none by default."""
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
        """A frame to send back in answer to ``frame`` (a server heartbeat request), or None."""
        return None

    def outgoing(self, message: str) -> str:
        """A subscribe frame as sent now (venues that want the request time stamp it here)."""
        return message

    def ping_payload(self) -> str | None:
        """The application-level ping to send every ``keepalive.interval_s`` (None: none)."""
        return self.keepalive.payload

    def reset(self) -> None:
        """Forget per-connection state (delta snapshots) after a reconnect."""

    # -- instruments of the frames -------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        """The book's instrument for ``symbol``, else :meth:`guess_instrument`'s (remembered, in a bounded cache).

        The book wins as soon as it has the symbol: a guess never hides a loaded instrument.
        """
        inst = self.instruments.get(symbol) or self._guessed.get(symbol)
        if inst is None:
            if len(self._guessed) >= _GUESSED_MAX:  # forged symbols must not grow it without end
                self._guessed.clear()
            inst = self._guessed[symbol] = self.guess_instrument(symbol)
        return inst

    def guess_instrument(self, symbol: str) -> Instrument:
        """An instrument read from the venue's naming rules alone, for a symbol the book does not have.

        Its ``contract_size`` is None when the name does not tell the size unit, so the factories give no
        size or notional rather than a guess. Raises ParseError when the symbol cannot be read at all.
        """
        raise ParseError(f"{self.name}: {symbol!r:.40} is not in the instrument list", reason="unknown_symbol")

    # -- non-fatal problems found while parsing ------------------------------------------------
    def _issue(self, reason: str, message: str) -> None:
        self.issues.append((reason, message))

    def _unknown_size(self, symbol: str) -> None:
        """Count a liquidation of ``symbol`` left without a size: its contract size is unknown, never guessed."""
        sources = ", ".join(request.path for request in self.instrument_requests()) or "none"
        self._issue(
            "unknown_contract",
            f"{self.name} {symbol}: contract size unknown, so the liquidation has no size or USD notional; "
            f"the instrument list ({sources}) gives it no fixed size (a new listing, or a quanto contract)",
        )

    def drain_issues(self) -> list[tuple[str, str]]:
        """Problems met since the last call, as (metric reason, message): unknown contracts, bad rows."""
        issues, self.issues = self.issues, []
        return issues
