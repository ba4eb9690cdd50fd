"""Normalized events (DESIGN §3): the one model every venue is turned into.

Events are frozen, slotted dataclasses. Numbers are floats, times integer epoch
milliseconds. Field names are the wire contract used by the Redis streams,
``liqmon normalize`` and ``--events-out`` files; see :mod:`monitor.bus.codec`.

Construction validates: a NaN, an infinity, a negative size or price, or a
bad enum value raises :class:`~monitor.errors.InvalidEvent` naming the field.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from monitor.errors import InvalidEvent

VENUES: Final = ("binance", "bybit", "okx", "deribit", "bitmex", "hyperliquid", "gate", "bitget")

Side: TypeAlias = Literal["long", "short"]
ContractType: TypeAlias = Literal["linear", "inverse"]

_SIDES: Final = frozenset(("long", "short"))
_CONTRACTS: Final = frozenset(("linear", "inverse"))
_BASE_ALIASES: Final = {"XBT": "BTC"}


def canonical_base(asset: str) -> str:
    """Canonical asset name: upper case, ``XBT`` → ``BTC``."""
    upper = asset.upper()
    return _BASE_ALIASES.get(upper, upper)


def stable_id(*parts: object) -> str:
    """A short stable id from identifying fields, for venues that send no id of their own."""
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _finite(name: str, value: float, *, non_negative: bool) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidEvent(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidEvent(f"{name} must be finite, got {value!r}")
    if non_negative and value < 0:
        raise InvalidEvent(f"{name} must not be negative, got {value!r}")


def _optional(name: str, value: float | None, *, non_negative: bool = True) -> None:
    if value is not None:
        _finite(name, value, non_negative=non_negative)


def _millis(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEvent(f"{name} must be a non-negative integer of epoch milliseconds, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Market:
    """Fields common to the market events."""

    kind: str
    id: str
    venue: str
    symbol: str
    base: str
    quote: str
    contract: ContractType
    ts_ms: int
    recv_ms: int

    def _check_common(self) -> None:
        if not self.id:
            raise InvalidEvent(f"{self.kind} event from {self.venue!r} has an empty id")
        if not self.symbol or not self.base:
            raise InvalidEvent(f"{self.kind} event from {self.venue!r} has an empty symbol or base")
        if self.contract not in _CONTRACTS:
            raise InvalidEvent(f"contract must be 'linear' or 'inverse', got {self.contract!r}")
        _millis("ts_ms", self.ts_ms)
        _millis("recv_ms", self.recv_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Liquidation(_Market):
    """A forced close. ``side`` is the side of the liquidated *position*.

    ``qty_base`` and ``notional_usd`` are None when the instrument's contract
    size is unknown: liquidations in contracts are never converted by a guess.
    """

    kind: Literal["liquidation"] = "liquidation"
    side: Side
    price: float
    qty_base: float | None
    notional_usd: float | None

    def __post_init__(self) -> None:
        self._check_common()
        if self.side not in _SIDES:
            raise InvalidEvent(f"side must be 'long' or 'short' (the liquidated position), got {self.side!r}")
        _finite("price", self.price, non_negative=True)
        _optional("qty_base", self.qty_base)
        _optional("notional_usd", self.notional_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class Funding(_Market):
    """A funding-rate print; ``rate`` is a fraction per ``interval_h`` hours."""

    kind: Literal["funding"] = "funding"
    rate: float
    interval_h: float
    rate_8h: float
    next_funding_ms: int | None = None
    mark_price: float | None = None
    index_price: float | None = None

    def __post_init__(self) -> None:
        self._check_common()
        _finite("rate", self.rate, non_negative=False)
        _finite("rate_8h", self.rate_8h, non_negative=False)
        _finite("interval_h", self.interval_h, non_negative=True)
        if self.interval_h <= 0:
            raise InvalidEvent(f"interval_h must be positive, got {self.interval_h!r}")
        if self.next_funding_ms is not None:
            _millis("next_funding_ms", self.next_funding_ms)
        _optional("mark_price", self.mark_price)
        _optional("index_price", self.index_price)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenInterest(_Market):
    """Open interest of one side of the book, in base units (and USD when a price is known)."""

    kind: Literal["open_interest"] = "open_interest"
    oi_base: float
    oi_usd: float | None

    def __post_init__(self) -> None:
        self._check_common()
        _finite("oi_base", self.oi_base, non_negative=True)
        _optional("oi_usd", self.oi_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """A marker: data from ``venue`` may be missing between the last frame and ``ts_ms``.

    Emitted on every disconnect. ``bases`` lists the assets whose subscriptions
    the broken connection carried; empty means the whole venue. Detectors use it
    so that a silent venue never looks like a collapse.
    """

    kind: Literal["gap"] = "gap"
    id: str
    venue: str
    reason: str
    ts_ms: int
    recv_ms: int
    bases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or not self.venue:
            raise InvalidEvent("gap marker needs an id and a venue")
        _millis("ts_ms", self.ts_ms)
        _millis("recv_ms", self.recv_ms)


MarketEvent: TypeAlias = Liquidation | Funding | OpenInterest
Event: TypeAlias = Liquidation | Funding | OpenInterest | Gap

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "liquidation": Liquidation,
    "funding": Funding,
    "open_interest": OpenInterest,
    "gap": Gap,
}


def rate_8h(rate: float, interval_h: float) -> float:
    """A per-interval funding rate scaled to 8 hours (linear, as venues quote it)."""
    return rate * (8.0 / interval_h)
