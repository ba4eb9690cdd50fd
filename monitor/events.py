"""Normalized events (DESIGN §3): the one model every venue is turned into.

Events are frozen :class:`msgspec.Struct` types: cheap to build (the parsers
make hundreds of thousands per second) and decoded from JSON in C with the
types checked. Numbers are floats, times integer epoch milliseconds. Field
names are the wire contract used by the Redis streams, ``liqmon normalize``
and ``--events-out`` files; ``kind`` is the tag that tells the types apart
(see :mod:`monitor.bus.codec`). Events hold only strings, numbers and tuples of
strings (an ``options_summary`` also a small dict of tenor points and tuples
of numbers), so they can never be part of a reference cycle: ``gc=False`` keeps the
hundreds of thousands in flight out of the cycle collector's scans.

Construction validates, whether from Python or from JSON, and it is the one place
an event is validated: ``__post_init__`` accepts the common case in one expression
and otherwise runs the field-by-field rules (``_validate``), which raise the error
of the first rule broken. A NaN, an infinity,
a negative size or price, or a bad enum value raises
:class:`~monitor.errors.InvalidEvent` naming the field. A well-formed value
beyond what any real market has (:data:`BOUNDS`, documented per field in
docs/events.md) raises :class:`~monitor.errors.ImplausibleEvent`.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar, Final, Literal, TypeAlias

import msgspec

from monitor.errors import ImplausibleEvent, InvalidEvent

Side: TypeAlias = Literal["long", "short"]
ContractType: TypeAlias = Literal["linear", "inverse"]

_SIDES: Final = frozenset(("long", "short"))
_CONTRACTS: Final = frozenset(("linear", "inverse"))
_BASE_ALIASES: Final = {"XBT": "BTC"}
_INF: Final = float("inf")

# Plausibility bounds (inclusive maxima; docs/events.md gives the reasoning per field). A value past one is
# a venue bug or a forged frame, never a market move: one such event would swamp every USD sum downstream.
MAX_TS_MS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z
MAX_PRICE: Final = 1e8  # quote units
MAX_QTY_BASE: Final = 1e15  # base units (a meme coin's whole supply is about this)
MAX_NOTIONAL_USD: Final = 1e10  # one liquidation; the largest ever seen were about 1e8
MAX_OI_USD: Final = 1e12  # one venue's open interest in one instrument
MAX_FUNDING_RATE: Final = 1.0  # |rate| per interval and |rate_8h|: 100 %; venues cap funding at a few %
MAX_INTERVAL_H: Final = 24.0
MAX_IV: Final = 10.0  # options IV, |RR25|, |BF25| as fractions: 1000 vol points
MAX_DVOL: Final = 1000.0  # a volatility index in vol points
BOUNDS: Final[dict[str, float]] = {
    "ts_ms": MAX_TS_MS,
    "next_funding_ms": MAX_TS_MS,
    "price": MAX_PRICE,
    "mark_price": MAX_PRICE,
    "index_price": MAX_PRICE,
    "qty_base": MAX_QTY_BASE,
    "oi_base": MAX_QTY_BASE,
    "notional_usd": MAX_NOTIONAL_USD,
    "oi_usd": MAX_OI_USD,
    "rate": MAX_FUNDING_RATE,
    "rate_8h": MAX_FUNDING_RATE,
    "interval_h": MAX_INTERVAL_H,
    "dvol": MAX_DVOL,
    "atm_iv": MAX_IV,
    "rr25": MAX_IV,
    "bf25": MAX_IV,
    "strike": MAX_PRICE,
}


def canonical_base(asset: str) -> str:
    """Canonical asset name: upper case, ``XBT`` → ``BTC``."""
    upper = asset.upper()
    return _BASE_ALIASES.get(upper, upper)


def stable_id(*parts: object) -> str:
    """A short stable id from identifying fields, for venues that send no id of their own."""
    text = "|".join(map(str, parts))
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _bad_number(name: str, value: object, *, non_negative: bool) -> InvalidEvent:
    """The error for a value that failed the fast range check (which also rejects NaN)."""
    if type(value) not in (int, float):
        return InvalidEvent(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):  # type: ignore[arg-type]
        return InvalidEvent(f"{name} must be finite, got {value!r}")
    return InvalidEvent(f"{name} must not be negative, got {value!r}")


def _check_size(name: str, value: object) -> None:
    """A finite, non-negative int or float (comparisons with NaN are false, so NaN fails too)."""
    if (type(value) is float or type(value) is int) and 0 <= value < _INF:
        return
    raise _bad_number(name, value, non_negative=True)


def _check_signed(name: str, value: object) -> None:
    if (type(value) is float or type(value) is int) and -_INF < value < _INF:
        return
    raise _bad_number(name, value, non_negative=False)


def _check_millis(name: str, value: object) -> None:
    if type(value) is int and value >= 0:
        return
    raise InvalidEvent(f"{name} must be a non-negative integer of epoch milliseconds, got {value!r}")


def _implausible(name: str, value: float, *, below: bool = False) -> ImplausibleEvent:
    if below:
        return ImplausibleEvent(f"{name} must be positive, got {value!r}", field=name)
    return ImplausibleEvent(f"{name} {value!r} is implausible (|{name}| at most {BOUNDS[name]:g})", field=name)


class _Market(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", forbid_unknown_fields=True):
    """Fields common to the market events."""

    kind: ClassVar[str]
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
        _check_millis("ts_ms", self.ts_ms)
        _check_millis("recv_ms", self.recv_ms)
        if self.ts_ms > MAX_TS_MS:
            raise _implausible("ts_ms", self.ts_ms)


class Liquidation(_Market, frozen=True, kw_only=True, tag="liquidation"):
    """A forced close. ``side`` is the side of the liquidated *position*.

    ``qty_base`` and ``notional_usd`` are None when the instrument's contract
    size is unknown: liquidations in contracts are never converted by a guess.
    ``sampled`` is true when the venue's feed publishes at most one liquidation
    per symbol per interval (Binance, OKX), so sums over it are lower bounds.
    """

    kind: ClassVar[Literal["liquidation"]] = "liquidation"
    side: Side
    price: float
    qty_base: float | None
    notional_usd: float | None
    sampled: bool = False

    def __post_init__(self) -> None:
        # The common case in one expression; anything it does not accept gets the field-by-field checks.
        q, n, price, ts = self.qty_base, self.notional_usd, self.price, self.ts_ms
        if (
            self.id
            and self.symbol
            and self.base
            and self.contract in _CONTRACTS
            and type(ts) is int
            and 0 <= ts <= MAX_TS_MS
            and type(self.recv_ms) is int
            and self.recv_ms >= 0
            and self.side in _SIDES
            and type(price) is float
            and 0 < price <= MAX_PRICE
            and (q is None or (type(q) is float and 0 <= q <= MAX_QTY_BASE))
            and (n is None or (type(n) is float and 0 <= n <= MAX_NOTIONAL_USD))
            and type(self.sampled) is bool
        ):
            return
        self._validate()

    def _validate(self) -> None:
        """Every rule, in order, raising the error of the first one broken."""
        self._check_common()
        if self.side not in _SIDES:
            raise InvalidEvent(f"side must be 'long' or 'short' (the liquidated position), got {self.side!r}")
        _check_size("price", self.price)
        if self.price > MAX_PRICE:
            raise _implausible("price", self.price)
        if self.price == 0:
            raise _implausible("price", self.price, below=True)
        if self.qty_base is not None:
            _check_size("qty_base", self.qty_base)
            if self.qty_base > MAX_QTY_BASE:
                raise _implausible("qty_base", self.qty_base)
        if self.notional_usd is not None:
            _check_size("notional_usd", self.notional_usd)
            if self.notional_usd > MAX_NOTIONAL_USD:
                raise _implausible("notional_usd", self.notional_usd)
        if type(self.sampled) is not bool:
            raise InvalidEvent(f"sampled must be true or false, got {self.sampled!r}")


class Funding(_Market, frozen=True, kw_only=True, tag="funding"):
    """A funding-rate print; ``rate`` is a fraction per ``interval_h`` hours."""

    kind: ClassVar[Literal["funding"]] = "funding"
    rate: float
    interval_h: float
    rate_8h: float
    next_funding_ms: int | None = None
    mark_price: float | None = None
    index_price: float | None = None

    def __post_init__(self) -> None:
        # The common case in one expression; anything it does not accept gets the field-by-field checks.
        ts, rate, r8, hours = self.ts_ms, self.rate, self.rate_8h, self.interval_h
        nxt, mark, index = self.next_funding_ms, self.mark_price, self.index_price
        if (
            self.id
            and self.symbol
            and self.base
            and self.contract in _CONTRACTS
            and type(ts) is int
            and 0 <= ts <= MAX_TS_MS
            and type(self.recv_ms) is int
            and self.recv_ms >= 0
            and type(rate) is float
            and -MAX_FUNDING_RATE <= rate <= MAX_FUNDING_RATE
            and type(r8) is float
            and -MAX_FUNDING_RATE <= r8 <= MAX_FUNDING_RATE
            and type(hours) is float
            and 0 < hours <= MAX_INTERVAL_H
            and (nxt is None or (type(nxt) is int and 0 <= nxt <= MAX_TS_MS))
            and (mark is None or (type(mark) is float and 0 <= mark <= MAX_PRICE))
            and (index is None or (type(index) is float and 0 <= index <= MAX_PRICE))
        ):
            return
        self._validate()

    def _validate(self) -> None:
        """Every rule, in order, raising the error of the first one broken."""
        self._check_common()
        _check_signed("rate", self.rate)
        _check_signed("rate_8h", self.rate_8h)
        _check_size("interval_h", self.interval_h)
        if self.interval_h <= 0:
            raise InvalidEvent(f"interval_h must be positive, got {self.interval_h!r}")
        for name in ("rate", "rate_8h", "interval_h"):
            if abs(getattr(self, name)) > BOUNDS[name]:
                raise _implausible(name, getattr(self, name))
        if self.next_funding_ms is not None:
            _check_millis("next_funding_ms", self.next_funding_ms)
            if self.next_funding_ms > MAX_TS_MS:
                raise _implausible("next_funding_ms", self.next_funding_ms)
        if self.mark_price is not None:
            _check_size("mark_price", self.mark_price)
            if self.mark_price > MAX_PRICE:
                raise _implausible("mark_price", self.mark_price)
        if self.index_price is not None:
            _check_size("index_price", self.index_price)
            if self.index_price > MAX_PRICE:
                raise _implausible("index_price", self.index_price)


class OpenInterest(_Market, frozen=True, kw_only=True, tag="open_interest"):
    """Open interest of one side of the book, in base units (and USD when a price is known)."""

    kind: ClassVar[Literal["open_interest"]] = "open_interest"
    oi_base: float
    oi_usd: float | None

    def __post_init__(self) -> None:
        # The common case in one expression; anything it does not accept gets the field-by-field checks.
        ts, oi, usd = self.ts_ms, self.oi_base, self.oi_usd
        if (
            self.id
            and self.symbol
            and self.base
            and self.contract in _CONTRACTS
            and type(ts) is int
            and 0 <= ts <= MAX_TS_MS
            and type(self.recv_ms) is int
            and self.recv_ms >= 0
            and type(oi) is float
            and 0 <= oi <= MAX_QTY_BASE
            and (usd is None or (type(usd) is float and 0 <= usd <= MAX_OI_USD))
        ):
            return
        self._validate()

    def _validate(self) -> None:
        """Every rule, in order, raising the error of the first one broken."""
        self._check_common()
        _check_size("oi_base", self.oi_base)
        if self.oi_base > MAX_QTY_BASE:
            raise _implausible("oi_base", self.oi_base)
        if self.oi_usd is not None:
            _check_size("oi_usd", self.oi_usd)
            if self.oi_usd > MAX_OI_USD:
                raise _implausible("oi_usd", self.oi_usd)


class TenorPoint(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One constant maturity of an ``options_summary``: ATM IV at the forward, RR25 and BF25 (fractions)."""

    atm_iv: float
    rr25: float
    bf25: float

    def __post_init__(self) -> None:
        _check_size("atm_iv", self.atm_iv)
        _check_signed("rr25", self.rr25)
        _check_signed("bf25", self.bf25)
        for name in ("atm_iv", "rr25", "bf25"):
            if abs(getattr(self, name)) > BOUNDS[name]:
                raise _implausible(name, getattr(self, name))


TENOR_KEYS: Final = ("7", "30", "90")


class OptionsSummary(_Market, frozen=True, kw_only=True, tag="options_summary"):
    """One snapshot of a venue's option chain on ``base`` (DESIGN §3).

    ``symbol`` is the venue's index name (Deribit ``btc_usd``). ``dvol`` is the
    venue's volatility index in vol points, as published. ``tenors`` maps the
    constant maturity in days (``"7"``, ``"30"``, ``"90"``) to its point; a
    tenor the listed expiries do not bracket is absent. ``put_oi_top`` is
    ``(strike, oi_base)`` of the largest put open interest summed over
    expiries, largest first, at most 10.
    """

    kind: ClassVar[Literal["options_summary"]] = "options_summary"
    index_price: float | None
    dvol: float | None
    tenors: dict[str, TenorPoint]
    put_call_oi_ratio: float | None
    put_oi_top: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        self._check_common()
        if self.index_price is not None:
            _check_size("index_price", self.index_price)
            if self.index_price > MAX_PRICE:
                raise _implausible("index_price", self.index_price)
        if self.dvol is not None:
            _check_size("dvol", self.dvol)
            if self.dvol > MAX_DVOL:
                raise _implausible("dvol", self.dvol)
        if self.put_call_oi_ratio is not None:
            _check_size("put_call_oi_ratio", self.put_call_oi_ratio)
        for key in self.tenors:
            if key not in TENOR_KEYS:
                raise InvalidEvent(f"tenors: unknown tenor {key!r}; expected one of {list(TENOR_KEYS)}")
        if len(self.put_oi_top) > 10:
            raise InvalidEvent(f"put_oi_top holds at most 10 strikes, got {len(self.put_oi_top)}")
        for strike, oi in self.put_oi_top:
            _check_size("put_oi_top strike", strike)
            _check_size("put_oi_top oi_base", oi)
            if strike > MAX_PRICE:
                raise _implausible("strike", strike)
            if oi > MAX_QTY_BASE:
                raise _implausible("oi_base", oi)


class Gap(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="kind", tag="gap", forbid_unknown_fields=True):
    """A marker: data from ``venue`` may be missing between the last frame and ``ts_ms``.

    Emitted on every disconnect. ``bases`` lists the assets whose subscriptions
    the broken connection carried; empty means the whole venue. Detectors use it
    so that a silent venue never looks like a collapse.
    """

    kind: ClassVar[Literal["gap"]] = "gap"
    id: str
    venue: str
    reason: str
    ts_ms: int
    recv_ms: int
    bases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or not self.venue:
            raise InvalidEvent("gap marker needs an id and a venue")
        _check_millis("ts_ms", self.ts_ms)
        _check_millis("recv_ms", self.recv_ms)


MarketEvent: TypeAlias = Liquidation | Funding | OpenInterest | OptionsSummary
Event: TypeAlias = Liquidation | Funding | OpenInterest | OptionsSummary | Gap

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "liquidation": Liquidation,
    "funding": Funding,
    "open_interest": OpenInterest,
    "options_summary": OptionsSummary,
    "gap": Gap,
}


def rate_8h(rate: float, interval_h: float) -> float:
    """A per-interval funding rate scaled to 8 hours (linear, as venues quote it)."""
    return rate * (8.0 / interval_h)
