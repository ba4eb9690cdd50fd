"""Deribit option chains → ``options_summary`` (DESIGN §3). Facts and sources: docs/options.md.

Inputs, per currency (``BTC``, ``ETH``; index names ``btc_usd``, ``eth_usd``):

* ``markprice.options.{index}``: the whole chain's mark IV, ``iv`` as a
  fraction, per ``instrument_name`` with a ``timestamp``;
* ``deribit_price_index.{index}``: the index ``price`` (USD);
* ``deribit_volatility_index.{index}``: DVOL, ``volatility`` in vol points;
* ``public/get_book_summary_by_currency?currency=…&kind=option`` (polled):
  ``open_interest`` in coins, ``underlying_price`` (the expiry's forward),
  ``mark_iv`` in percent, ``estimated_delivery_price`` (the index).

The chain is venue-wide state: the websocket frames and the polled bodies
reach different adapter instances in the live collector, so every instance
built on the same instrument book shares one :class:`OptionChains` (as they
share the book); a replay uses one adapter and one chain. Between two book
summaries an expiry's forward follows the index (its forward/index ratio
from the last summary is kept). Each book summary gives a summary event; mark
IV frames give one at most every ``MIN_SUMMARY_INTERVAL_MS`` of frame time.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, TenorPoint, make_options_summary, stable_id
from monitor.options.smile import StrikeLadder
from monitor.options.summary import ladder_pillars, listed_open_interest, tenors
from monitor.venues.common import Finite, Millis, NonEmpty, OptFinite, decode_failed, rejected_event
from monitor.venues.instruments import InstrumentBook

BOOK_SUMMARY_PATH: Final = "/api/v2/public/get_book_summary_by_currency"
# Two currencies every 10 s: 0.2 requests/s against a pool of about 20/s sustained.
POLL_S: Final = 10.0
MIN_SUMMARY_INTERVAL_MS: Final = 10_000
CHANNEL_PREFIXES: Final = frozenset(("markprice", "deribit_price_index", "deribit_volatility_index"))
# An IV above 1000 % (or a DVOL above 1000) is a broken print, not a market.
MAX_IV: Final = 10.0
MAX_IV_PCT: Final = MAX_IV * 100  # the same bound on an IV in percent (mark_iv) or vol points (DVOL)
EXPIRY_HOUR_UTC: Final = 8
_MONTHS: Final = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}

Issue = Callable[[str, str], None]
T = TypeVar("T")


def index_name(currency: str) -> str:
    """Deribit's index name of a currency's USD options: ``BTC`` → ``btc_usd``."""
    return f"{currency.lower()}_usd"


def channels(currency: str) -> list[str]:
    """The three websocket channels of one currency's options."""
    name = index_name(currency)
    return [f"markprice.options.{name}", f"deribit_price_index.{name}", f"deribit_volatility_index.{name}"]


def book_summary_path(currency: str) -> str:
    """The polled REST path of one currency's option book summaries."""
    return f"{BOOK_SUMMARY_PATH}?currency={currency}&kind=option"


@functools.lru_cache(maxsize=64)
def requested(path: str) -> tuple[str, str]:
    """(path without the query, currency asked for in upper case or "") of a polled path.

    Cached: the polled paths are a handful, and splitting and unquoting one costs more than reading its body.
    """
    parts = urlsplit(path)
    return parts.path, (parse_qs(parts.query).get("currency") or [""])[0].upper()


@dataclass(frozen=True, slots=True)
class OptionName:
    """What an option's name says: ``BTC-27FEB26-60000-P`` (expiry at 08:00 UTC; ``d`` is a decimal point)."""

    base: str
    expiry_ms: int
    strike: float
    is_call: bool


def parse_option_name(name: str) -> OptionName | None:
    """The parts of an option name; None for anything that is not one (futures, combos)."""
    parts = name.split("-")
    if len(parts) != 4 or parts[3] not in ("C", "P"):
        return None
    head, date, strike_text, kind = parts
    try:
        day, month, year = int(date[:-5]), _MONTHS[date[-5:-2]], 2000 + int(date[-2:])
        expiry_ms = calendar.timegm((year, month, day, EXPIRY_HOUR_UTC, 0, 0)) * 1000
        strike = float(strike_text.replace("d", "."))
    except (KeyError, ValueError):
        return None
    if not 0.0 < strike < float("inf") or not 1 <= day <= 31:
        return None
    return OptionName(head.split("_", 1)[0], expiry_ms, strike, kind == "C")


# -- typed readers ---------------------------------------------------------------------------------
# Fields in the order Deribit sends them: msgspec then finds each key at the position it expects.
class _Mark(msgspec.Struct, gc=False):
    timestamp: Millis
    iv: Finite
    instrument_name: NonEmpty


class _Index(msgspec.Struct, gc=False):
    index_name: NonEmpty
    price: Finite
    timestamp: Millis


class _Volatility(msgspec.Struct, gc=False):
    index_name: NonEmpty
    volatility: Finite
    timestamp: Millis


class _BookRow(msgspec.Struct, gc=False):
    instrument_name: NonEmpty
    underlying_price: OptFinite = None
    estimated_delivery_price: OptFinite = None
    mark_iv: OptFinite = None
    open_interest: OptFinite = None
    creation_timestamp: Millis | None = None


class _BookBody(msgspec.Struct, gc=False):
    result: list[_BookRow]


_MARKS: Final = msgspec.json.Decoder(list[_Mark], strict=False)
_INDEX: Final = msgspec.json.Decoder(_Index, strict=False)
_VOLATILITY: Final = msgspec.json.Decoder(_Volatility, strict=False)
_BOOK: Final = msgspec.json.Decoder(_BookBody, strict=False)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes | str, venue: str, what: str) -> T:
    """The typed reader's result, or the ParseError (naming ``venue`` and ``what``) with msgspec's path to the field."""
    try:
        return decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise decode_failed(f"{venue} {what}", exc) from None


# -- chain state -----------------------------------------------------------------------------------
TopPuts = tuple[tuple[float, float], ...]


@dataclass(slots=True)
class _Listing:
    """The listed options by expiry (ascending) and strike, derived once per change of the names.

    ``open_interest`` keeps the put/call OI ratio and the top puts per cut-off (the index of the
    first unexpired expiry) until the OI changes, which only a book summary does.
    """

    expiries: list[int]
    ladders: list[tuple[int, StrikeLadder[str]]]
    # (instrument, expiry, is_call, strike) of each option, in the order of the chain's names.
    options: list[tuple[str, int, bool, float]]
    open_interest: dict[int, tuple[float | None, TopPuts]] = field(default_factory=dict)


@dataclass(slots=True)
class _Chain:
    """One currency's options: IVs and their times, OI, forwards at the last book summary, index, DVOL."""

    currency: str
    names: dict[str, OptionName] = field(default_factory=dict)
    iv: dict[str, float] = field(default_factory=dict)
    iv_ms: dict[str, int] = field(default_factory=dict)
    oi: dict[str, float] = field(default_factory=dict)
    forwards: dict[int, float] = field(default_factory=dict)
    book_index: float | None = None
    index: float | None = None
    index_ms: int = 0
    dvol: float | None = None
    last_summary_ms: int = -MIN_SUMMARY_INTERVAL_MS
    # Derived from ``names`` (and its OI figures from ``oi``); None after the names changed.
    cached_listing: _Listing | None = None

    def listing(self) -> _Listing:
        """The options by expiry and strike (rebuilt after the names changed)."""
        listing = self.cached_listing
        if listing is None:
            by_expiry: dict[int, list[tuple[str, float, bool]]] = {}
            options = []
            for instrument, name in self.names.items():
                by_expiry.setdefault(name.expiry_ms, []).append((instrument, name.strike, name.is_call))
                options.append((instrument, name.expiry_ms, name.is_call, name.strike))
            expiries = sorted(by_expiry)
            ladders = [(expiry, StrikeLadder(by_expiry[expiry])) for expiry in expiries]
            listing = self.cached_listing = _Listing(expiries, ladders, options)
        return listing

    def open_interest(self, listing: _Listing, first: int) -> tuple[float | None, TopPuts]:
        """Put/call OI ratio and top puts over the expiries from ``listing.expiries[first]`` on."""
        held = listing.open_interest.get(first)
        if held is None:
            rows: list[tuple[bool, float, float]] = []
            if first < len(listing.expiries):
                live, get = listing.expiries[first], self.oi.get
                # A loop (a generator costs more for a short chain), in the names' order: the sums keep their bits.
                for instrument, expiry_ms, is_call, strike in listing.options:
                    if expiry_ms >= live and (oi := get(instrument)) is not None:
                        rows.append((is_call, strike, oi))
            held = listing.open_interest[first] = listed_open_interest(rows)
        return held

    def forwards_now(self) -> dict[int, float]:
        """Each expiry's forward, moved with the index since the last book summary."""
        if self.index is None or self.book_index is None:
            return dict(self.forwards)
        scale = self.index / self.book_index
        return {expiry: forward * scale for expiry, forward in self.forwards.items()}


class OptionChains:
    """The option chains of one venue, fed by frames and polled bodies, read into summaries.

    ``venue`` names the events and messages; ``currencies`` are the ones followed (the venue spec's
    ``options``); anything else is refused, so the state stays bounded whatever arrives.
    """

    def __init__(self, venue: str, currencies: tuple[str, ...]) -> None:
        self.venue = venue
        self.currencies = currencies
        self._chains: dict[str, _Chain] = {}
        # Chains by index name as sent (``btc_usd``): only names of followed currencies get in.
        self._by_name: dict[str, _Chain] = {}

    def chain(self, currency: str) -> _Chain:
        """The chain of ``currency`` (upper case), created empty."""
        key = currency.upper()
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = _Chain(key)
        return chain

    def _by_index(self, name: str, channel: str) -> _Chain:
        """The chain of an index name (``btc_usd``); ParseError for a currency liqmon does not follow."""
        chain = self._by_name.get(name)
        if chain is None:
            currency = name.split("_", 1)[0].upper()
            if currency not in self.currencies:
                where = f"{self.venue} {channel}"
                raise ParseError(f"{where}: no options followed for index {name!r:.40}", reason="unknown_channel")
            chain = self._by_name[name] = self.chain(currency)
        return chain

    # -- websocket channels ---------------------------------------------------------------------
    def on_channel(self, channel: str, data: bytes | str, recv_ms: int, issue: Issue) -> list[Event]:
        """One notification's ``data`` of an options channel (``channel`` as sent)."""
        prefix, _, rest = channel.partition(".")
        if prefix == "markprice":
            chain = self._by_index(rest.removeprefix("options."), channel)
            return self._marks(chain, channel, _decode(_MARKS, data, self.venue, channel), recv_ms, issue)
        if prefix == "deribit_price_index":
            chain = self._by_index(rest, channel)
            tick = _decode(_INDEX, data, self.venue, channel)
            if not tick.price > 0.0:
                raise ParseError(
                    f"{self.venue} {channel}: index price must be positive, got {tick.price}", reason="value"
                )
            if tick.timestamp >= chain.index_ms:
                chain.index, chain.index_ms = tick.price + 0.0, tick.timestamp
            return []
        if prefix == "deribit_volatility_index":
            chain = self._by_index(rest, channel)
            vol = _decode(_VOLATILITY, data, self.venue, channel)
            if not 0.0 <= vol.volatility <= MAX_IV_PCT:
                raise ParseError(f"{self.venue} {channel}: volatility out of range: {vol.volatility}", reason="value")
            chain.dvol = vol.volatility + 0.0
            return []
        raise ParseError(f"{self.venue}: unexpected options channel {channel!r:.60}", reason="unknown_channel")

    def _marks(self, chain: _Chain, channel: str, rows: list[_Mark], recv_ms: int, issue: Issue) -> list[Event]:
        newest = 0
        skipped = 0
        names, iv, iv_ms = chain.names, chain.iv, chain.iv_ms
        for row in rows:
            instrument = row.instrument_name
            name = names.get(instrument) or self._name(chain, instrument)
            if name is None or not 0.0 <= row.iv <= MAX_IV:
                skipped += 1
                continue
            ts = row.timestamp
            held = iv_ms.get(instrument)
            if held is None or ts >= held:
                iv_ms[instrument] = ts
                iv[instrument] = row.iv + 0.0
            if ts > newest:  # noqa: PLR1730 - per row: max() would be a call
                newest = ts
        if skipped:
            issue("value", f"{self.venue} {channel}: {skipped} row(s) with a bad name or IV skipped")
        if not newest or newest - chain.last_summary_ms < MIN_SUMMARY_INTERVAL_MS:
            return []
        return self._summary(chain, newest, recv_ms)

    @staticmethod
    def _name(chain: _Chain, instrument: str) -> OptionName | None:
        name = chain.names.get(instrument)
        if name is None:
            name = parse_option_name(instrument)
            if name is not None:
                chain.names[instrument] = name
                chain.cached_listing = None
        return name

    # -- polled book summaries ------------------------------------------------------------------
    def on_book_summary(self, path: str, body: bytes | str, recv_ms: int, issue: Issue) -> list[Event]:
        """A ``get_book_summary_by_currency`` option body: the chain's OI and forwards, replaced whole."""
        currency = requested(path)[1]
        if currency not in self.currencies:
            raise ParseError(f"{self.venue} {path}: no options followed for currency {currency!r:.20}", reason="schema")
        rows = _decode(_BOOK, body, self.venue, "get_book_summary_by_currency").result
        chain = self.chain(currency)
        forwards: dict[int, float] = {}
        oi: dict[str, float] = {}
        index = None
        newest = 0
        skipped = 0
        names, iv, iv_ms = chain.names, chain.iv, chain.iv_ms
        # Per row, the numbers are read in line (an optional one is a float, "" or None; "" is falsy).
        for row in rows:
            instrument = row.instrument_name
            name = names.get(instrument) or self._name(chain, instrument)
            open_interest = row.open_interest
            if name is None or (open_interest and open_interest < 0):
                skipped += 1
                continue
            oi[instrument] = open_interest + 0.0 if open_interest else 0.0
            expiry = name.expiry_ms
            if expiry not in forwards:  # the expiry's first row with a forward gives it
                forward = row.underlying_price
                if forward and forward > 0:
                    forwards[expiry] = forward + 0.0
            delivery = row.estimated_delivery_price
            if delivery and delivery > 0:
                index = delivery + 0.0
            ts = row.creation_timestamp or 0
            if ts > newest:  # noqa: PLR1730 - per row: max() would be a call
                newest = ts
            mark_iv = row.mark_iv
            if isinstance(mark_iv, float) and 0.0 <= mark_iv <= MAX_IV_PCT:
                held = iv_ms.get(instrument)
                if held is None or ts >= held:
                    iv_ms[instrument] = ts
                    iv[instrument] = (mark_iv + 0.0) / 100.0
        if skipped:
            issue("value", f"{self.venue} {path}: {skipped} row(s) with a bad name or open interest skipped")
        chain.oi, chain.forwards = oi, forwards
        # Options no longer in the book (expired, delisted) are forgotten.
        if not iv.keys() <= oi.keys():
            chain.iv = {instrument: value for instrument, value in iv.items() if instrument in oi}
        if not iv_ms.keys() <= oi.keys():
            chain.iv_ms = {instrument: ts for instrument, ts in iv_ms.items() if instrument in oi}
        if not chain.names.keys() <= oi.keys():
            chain.names = {instrument: name for instrument, name in chain.names.items() if instrument in oi}
            chain.cached_listing = None
        elif chain.cached_listing is not None:
            chain.cached_listing.open_interest.clear()
        if index is not None:
            chain.book_index = index
            if chain.index is None or newest >= chain.index_ms:
                chain.index, chain.index_ms = index, newest
        return self._summary(chain, newest or recv_ms, recv_ms)

    # -- the summary -----------------------------------------------------------------------------
    def _summary(self, chain: _Chain, ts_ms: int, recv_ms: int) -> list[Event]:
        if not chain.forwards:
            return []  # no book summary yet: no forwards, no OI
        listing = chain.listing()
        first = bisect.bisect_right(listing.expiries, ts_ms)  # the first expiry after ts_ms
        ratio, top = chain.open_interest(listing, first)
        pillars = ladder_pillars(listing.ladders[first:], chain.iv, chain.forwards_now(), ts_ms)
        points: dict[str, TenorPoint] = {}
        for days, tenor in tenors(pillars).items():
            points[str(days)] = TenorPoint(tenor.atm_iv, tenor.rr25, tenor.bf25)
        chain.last_summary_ms = ts_ms
        try:
            # Positional, in the field order of OptionsSummary (keywords cost more than the checks).
            event = make_options_summary(
                stable_id(self.venue, chain.currency, "options", ts_ms),
                self.venue,
                index_name(chain.currency),
                chain.currency,
                "USD",
                "inverse",
                ts_ms,
                recv_ms,
                chain.index,
                chain.dvol,
                points,
                ratio,
                top,
            )
        except InvalidEvent as exc:
            raise rejected_event(f"{self.venue} {chain.currency} options summary", exc) from None
        return [event]


_SHARED: Final[weakref.WeakKeyDictionary[InstrumentBook, OptionChains]] = weakref.WeakKeyDictionary()


def shared_chains(book: InstrumentBook, currencies: tuple[str, ...]) -> OptionChains:
    """The option chains every adapter built on ``book`` (one venue's) shares, following ``currencies``."""
    chains = _SHARED.get(book)
    if chains is None:
        chains = _SHARED[book] = OptionChains(book.venue, currencies)
    return chains


def option_currencies(bases: Iterable[str], followed: tuple[str, ...]) -> tuple[str, ...]:
    """The ``followed`` option currencies among ``bases``, in ``followed`` order."""
    wanted = set(bases)
    return tuple(c for c in followed if c in wanted)
