"""Instrument specifications: contract size, multiplier, linear/inverse, funding interval.

Venues quote sizes in contracts, base units or USD face value; an
:class:`Instrument` says which, so parsers can turn any size into base units
and USD notional. The :class:`InstrumentBook` holds a venue's instruments; it
is filled from the venue's instrument endpoint at start-up (and refreshed),
saved to an on-disk cache so a restart without network still normalizes, and
recorded into captures as ``meta`` lines so replays are reproducible.

An instrument missing from the book, or whose size is unknown, yields
``notional_usd: null`` and a counted ``unknown_contract``; never a guess.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final, Literal

import orjson

from monitor.errors import InvalidEvent
from monitor.events import (
    Funding,
    Header,
    Liquidation,
    OpenInterest,
    Side,
    canonical_base,
    make_funding,
    make_header,
    make_liquidation,
    make_open_interest,
    rate_8h,
)

SizeUnit = Literal["base", "contracts", "usd", "quote"]
# Quotes counted as 1 USD.
USD_QUOTES: Final = frozenset(("USDT", "USDC", "USD", "BUSD", "FDUSD", "USDE"))


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable contract.

    ``size_unit`` is the unit of the venue's size fields for this instrument:
    ``base`` (base-asset units), ``contracts`` (× ``contract_size`` ×
    ``multiplier`` base units for linear, USD for inverse), ``usd`` (USD face
    value; base = usd / price) or ``quote`` (quote currency; base = quote / price).
    ``contract_size`` is None when the venue did not tell us.

    The header its events share (venue, symbol, base, quote, contract) is checked once, here, not per event;
    an instrument whose header breaks an event rule still loads, and each event made from it is refused.
    """

    venue: str
    symbol: str
    base: str
    quote: str
    contract: Literal["linear", "inverse"]
    size_unit: SizeUnit
    contract_size: float | None = 1.0
    multiplier: float = 1.0
    funding_interval_h: float | None = 8.0
    perpetual: bool = True
    # The checked header of its events (None when it breaks a rule: each event made then says which).
    _header: Header | None = field(default=None, init=False, repr=False, compare=False)
    # The quote counts as USD (read per event by the factories).
    _usd: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", canonical_base(self.base))
        object.__setattr__(self, "_usd", self.quote in USD_QUOTES)
        try:
            header = make_header(self.venue, self.symbol, self.base, self.quote, self.contract)
        except InvalidEvent:
            return
        object.__setattr__(self, "_header", header)

    @property
    def header(self) -> Header:
        """The checked header of this instrument's events; InvalidEvent when it breaks a rule."""
        return self._header or make_header(self.venue, self.symbol, self.base, self.quote, self.contract)

    def base_qty(self, size: float, price: float, unit: SizeUnit | None = None) -> float | None:
        """Base-asset quantity of ``size`` venue units (``unit``, else the instrument's own) at ``price``.

        None when the size cannot be converted (contract size unknown, or a face value without a price).
        """
        unit = unit or self.size_unit
        if unit == "base":
            return size
        if unit == "contracts":
            if self.contract_size is None:
                return None
            value = size * self.contract_size * self.multiplier
            if self.contract == "inverse":  # contracts of USD face value
                return value / price if price > 0 else None
            return value
        # usd or quote: face value / price
        return size / price if price > 0 else None

    def usd_notional(self, base_qty: float | None, price: float) -> float | None:
        """USD value of ``base_qty`` at ``price`` (USDT and USDC count as USD)."""
        if base_qty is None:
            return None
        return base_qty * price

    # -- event factories: the header fields (venue, symbol, base, quote, contract) come from here --
    def liquidation(  # noqa: PLR0917 - called per event, positionally: keywords cost about 50 ns a call
        self,
        id: str,
        ts_ms: int,
        recv_ms: int,
        side: Side,
        price: float,
        size: float,
        unit: SizeUnit | None = None,
        sampled: bool = False,
    ) -> Liquidation:
        """A liquidation of ``size`` venue units (``unit``, else the instrument's) at ``price``.

        No size or notional when the size cannot be converted; a size in quote currency is its own notional.
        """
        unit = unit or self.size_unit
        qty = size if unit == "base" else self.base_qty(size, price, unit)
        if qty is None or not self._usd:
            notional = None
        elif unit == "quote":
            notional = size
        else:
            notional = qty * price
        return make_liquidation(id, self._header or self.header, ts_ms, recv_ms, side, price, qty, notional, sampled)

    def funding(  # noqa: PLR0917 - called per event, positionally: keywords cost about 50 ns a call
        self,
        id: str,
        ts_ms: int,
        recv_ms: int,
        rate: float,
        interval_h: float,
        next_funding_ms: int | None = None,
        mark_price: float | None = None,
        index_price: float | None = None,
    ) -> Funding:
        """A funding print of ``rate`` per ``interval_h`` hours."""
        return make_funding(
            id,
            self._header or self.header,
            ts_ms,
            recv_ms,
            rate,
            interval_h,
            rate_8h(rate, interval_h),
            next_funding_ms,
            mark_price,
            index_price,
        )

    def open_interest(  # noqa: PLR0917 - called per event, positionally: keywords cost about 50 ns a call
        self,
        id: str,
        ts_ms: int,
        recv_ms: int,
        size: float,
        price: float | None,
        unit: SizeUnit | None = None,
        usd: float | None = None,
    ) -> OpenInterest | None:
        """Open interest of ``size`` venue units (``unit``, else the instrument's), in USD at ``price``.

        None when the size cannot be converted. The USD amount is ``usd`` when the venue reports one, the size
        itself when it is a USD face value, else the base quantity at ``price``.
        """
        unit = unit or self.size_unit
        qty = size if unit == "base" else self.base_qty(size, price or 0.0, unit)
        if qty is None:
            return None
        oi_usd: float | None
        if usd is not None:
            oi_usd = usd
        elif unit == "usd":
            oi_usd = size
        else:
            oi_usd = qty * price if price is not None and self._usd else None
        return make_open_interest(id, self._header or self.header, ts_ms, recv_ms, qty, oi_usd)


# The fields an Instrument is made from (and saved with).
_FIELDS: Final = tuple(f for f in fields(Instrument) if f.init)


class InstrumentBook:
    """A venue's instruments by venue-native symbol, with an on-disk cache."""

    def __init__(self, venue: str, instruments: Iterable[Instrument] = ()) -> None:
        self.venue = venue
        self._by_symbol: dict[str, Instrument] = {}
        # The instrument for a symbol, or None: the dict's own lookup (a parser calls it for every event).
        self.get: Callable[[str], Instrument | None] = self._by_symbol.get
        self.update(instruments)

    def update(self, instruments: Iterable[Instrument]) -> None:
        """Add or replace instruments."""
        for inst in instruments:
            self._by_symbol[inst.symbol] = inst

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_symbol.values())

    def __len__(self) -> int:
        return len(self._by_symbol)

    def perpetuals(self) -> list[str]:
        """Symbols of every perpetual, sorted."""
        return sorted(s for s, i in self._by_symbol.items() if i.perpetual)

    def to_json(self) -> bytes:
        """Serialized book (for the disk cache)."""
        rows = [{f.name: getattr(i, f.name) for f in _FIELDS} for i in self]
        return orjson.dumps({"venue": self.venue, "instruments": rows})

    @classmethod
    def from_json(cls, data: bytes | str) -> InstrumentBook:
        """Inverse of :meth:`to_json`."""
        obj = orjson.loads(data)
        return cls(obj["venue"], (Instrument(**i) for i in obj["instruments"]))

    def save(self, cache_dir: str | Path) -> Path:
        """Write the cache file atomically; returns its path."""
        directory = Path(cache_dir).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"instruments-{self.venue}.json"
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=target.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_json())
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, venue: str, cache_dir: str | Path) -> InstrumentBook | None:
        """The cached book for ``venue``, or None when there is no readable cache."""
        path = Path(cache_dir).expanduser() / f"instruments-{venue}.json"
        try:
            return cls.from_json(path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError):
            return None
