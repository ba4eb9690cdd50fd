"""Binance USD-M futures: liquidations and funding by websocket, open interest by REST.

Streams live under the routed ``/market`` path (the legacy ``/ws`` and
``/stream`` paths stopped carrying them on 2026-04-23). With no symbol list the
adapter takes the all-market streams ``!forceOrder@arr`` and
``!markPrice@arr@1s``; otherwise ``<sym>@forceOrder`` and ``<sym>@markPrice@1s``
per symbol, at most 200 streams per connection. Open interest has no stream:
``GET /fapi/v1/openInterest?symbol=X`` (weight 1) is polled.

Units: USD-M quantities are base-asset units. ``forceOrder.o.S`` is the side
of the liquidation *order*: ``SELL`` closes a long, so a long was liquidated.
The liquidation stream is sampled by Binance (at most one order per symbol
per second), so sums are lower bounds.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Funding, Liquidation, OpenInterest, Side, rate_8h
from monitor.venues.adapter import Connection, Keepalive, RestPoll, VenueAdapter
from monitor.venues.common import (
    MAX_EXACT_INT,
    FastPathMiss,
    Finite,
    Millis,
    NonEmpty,
    event_id,
    field,
    is_usd,
    items,
    load_json,
    ms,
    num,
    opt_num,
    rejected_event,
    split_symbol,
    text,
    url_join,
)
from monitor.venues.instruments import Instrument, InstrumentBook

MARKET_PATH: Final = "/market/stream"
ALL_MARKET_STREAMS: Final = ("!forceOrder@arr", "!markPrice@arr@1s")
OPEN_INTEREST_PATH: Final = "/fapi/v1/openInterest"
EXCHANGE_INFO_PATH: Final = "/fapi/v1/exchangeInfo"
FUNDING_INFO_PATH: Final = "/fapi/v1/fundingInfo"
DEFAULT_FUNDING_H: Final = 8.0
# Share of the per-IP REST weight budget (2400/min) open-interest polling may use.
OI_WEIGHT_PER_MIN: Final = 600
MIN_OI_POLL_S: Final = 20.0
_POSITION_SIDE: Final[dict[str, Side]] = {"SELL": "long", "BUY": "short"}
# Latest mark price per symbol, shared by every adapter over one instrument book: the collector runs
# one adapter per websocket connection and another for REST polls, and open interest arrives by REST.
_MARKS: weakref.WeakKeyDictionary[InstrumentBook, dict[str, float]] = weakref.WeakKeyDictionary()
# Symbols whose names and funding interval are remembered per adapter (the cache starts over beyond that).
_SYMBOL_CACHE_SIZE: Final = 4096
# What the parsers need to know about a symbol: (instrument it came from, base, quote, USD quote, funding hours).
_SymbolInfo = tuple[Instrument | None, str, str, bool, float]


# -- frame shapes read by the typed fast path (see monitor.venues.common) -------------------------
class _Guarded(msgspec.Struct, kw_only=True):
    """Keys that make the generic reader take an object for a combined-stream wrapper or a request
    answer; an event object carrying them is left to that reader."""

    stream: msgspec.Raw | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    id: msgspec.Raw | UnsetType = UNSET
    result: msgspec.Raw | UnsetType = UNSET
    error: msgspec.Raw | UnsetType = UNSET


class _Order(msgspec.Struct):
    s: NonEmpty
    S: str
    q: Finite
    p: Finite
    ap: Finite | None = None
    z: Finite | None = None
    T: Millis | UnsetType | None = UNSET


class _ForceOrder(_Guarded, tag_field="e", tag="forceOrder"):
    o: _Order
    E: Millis | None = None


class _MarkPrice(_Guarded, tag_field="e", tag="markPriceUpdate"):
    s: NonEmpty
    p: Finite | Literal[""] | None = None
    r: Finite | Literal[""] | None = None
    i: Finite | Literal[""] | None = None
    E: Millis | None = None
    # Kept apart from numeric strings: the generic reader treats the number 0 and the string "0" differently.
    T: int | str | None = None


_Payload = _ForceOrder | _MarkPrice


class _Combined(msgspec.Struct):
    stream: msgspec.Raw
    data: _ForceOrder | _MarkPrice | list[_Payload]


_COMBINED: Final = msgspec.json.Decoder(_Combined, strict=False)
_RAW: Final = msgspec.json.Decoder(_ForceOrder | _MarkPrice | list[_Payload], strict=False)
_COMBINED_PREFIX: Final = '{"stream"'
_COMBINED_PREFIX_BYTES: Final = b'{"stream"'


class BinanceAdapter(VenueAdapter):
    """Binance USD-M: ``forceOrder`` + ``markPrice`` streams, REST open interest."""

    name = "binance"
    ws_url = "wss://fstream.binance.com"
    rest_url = "https://fapi.binance.com"
    # Binance pings every 3 minutes and drops a client that has not answered within 10.
    keepalive = Keepalive("server_ping", interval_s=180.0, drop_after_s=600.0)
    max_subscriptions_per_connection = 200
    max_connection_age_s = 24 * 3600.0
    # Every connection carries a markPrice@1s stream, so a healthy one is never silent for a minute.
    liveness_timeout_s = 60.0
    # forceOrder pushes at most one liquidation per symbol per 1000 ms (docs/venues-a.md).
    liquidations_sampled = True

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._marks = _MARKS.setdefault(self.instruments, {})
        self._funding_hours: dict[str, float] = {}
        self._symbols: dict[str, _SymbolInfo] = {}

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """One all-market connection, or per-symbol streams split at 200 streams per connection."""
        base_url = url_join(ws_url or self.ws_url, MARKET_PATH)
        if not symbols:
            url = f"{base_url}?streams={'/'.join(ALL_MARKET_STREAMS)}"
            return [Connection(url=url, subscribe=(), label="all-market")]
        per_conn = max(1, self.max_subscriptions_per_connection // 2)
        result = []
        for index in range(0, len(symbols), per_conn):
            group = tuple(symbols[index : index + per_conn])
            streams = [s for sym in group for s in (f"{sym.lower()}@forceOrder", f"{sym.lower()}@markPrice@1s")]
            result.append(
                Connection(
                    url=f"{base_url}?streams={'/'.join(streams)}",
                    subscribe=(),
                    symbols=group,
                    bases=tuple(sorted({self._base_of(s) for s in group})),
                    label=f"symbols-{index // per_conn + 1}",
                )
            )
        return result

    def rest_polls(self, symbols: Sequence[str]) -> list[RestPoll]:
        """``/fapi/v1/openInterest`` per symbol, paced to stay within a quarter of the IP weight budget."""
        targets = list(symbols) or self.instruments.perpetuals()
        interval = max(MIN_OI_POLL_S, len(targets) * 60.0 / OI_WEIGHT_PER_MIN)
        return [
            RestPoll(path=f"{OPEN_INTEREST_PATH}?symbol={sym}", interval_s=interval, weight=1, symbols=(sym,))
            for sym in targets
        ]

    def instrument_paths(self) -> list[str]:
        """exchangeInfo (contracts) and fundingInfo (symbols with adjusted funding intervals)."""
        return [EXCHANGE_INFO_PATH, FUNDING_INFO_PATH]

    # -- instruments ---------------------------------------------------------------------------
    def load_instruments(self, path: str, body: str | bytes) -> int:
        """Read exchangeInfo or fundingInfo; either order works, later loads update earlier ones.

        The body's shape decides when ``path`` does not (fundingInfo is an array, exchangeInfo an object).
        """
        data = load_json(body)
        if FUNDING_INFO_PATH in path or (EXCHANGE_INFO_PATH not in path and isinstance(data, list)):
            return self._load_funding_info(data)
        return self._load_exchange_info(data)

    def _load_exchange_info(self, data: Any) -> int:
        loaded = []
        for row in items(field(data, "symbols", "exchangeInfo"), "exchangeInfo.symbols"):
            try:
                if not isinstance(row, Mapping) or row.get("status", "TRADING") != "TRADING":
                    continue
                symbol = text(field(row, "symbol", "exchangeInfo.symbols[]"), "symbol")
                perpetual = str(row.get("contractType", "")).endswith("PERPETUAL")
                funding = self._funding_hours.get(symbol, DEFAULT_FUNDING_H) if perpetual else None
                loaded.append(
                    Instrument(
                        venue=self.name,
                        symbol=symbol,
                        base=text(field(row, "baseAsset", symbol), "baseAsset"),
                        quote=text(field(row, "quoteAsset", symbol), "quoteAsset"),
                        contract="linear",
                        size_unit="base",
                        contract_size=1.0,
                        funding_interval_h=funding,
                        perpetual=perpetual,
                    )
                )
            except ParseError as exc:
                self._issue("bad_instrument", f"binance exchangeInfo row skipped: {exc}")
        self.instruments.update(loaded)
        return len(loaded)

    def _load_funding_info(self, data: Any) -> int:
        count = 0
        for row in items(data, "fundingInfo"):
            try:
                symbol = text(field(row, "symbol", "fundingInfo[]"), "symbol")
                hours = num(field(row, "fundingIntervalHours", symbol), "fundingIntervalHours")
            except ParseError as exc:
                self._issue("bad_instrument", f"binance fundingInfo row skipped: {exc}")
                continue
            if hours <= 0:
                self._issue("bad_instrument", f"binance fundingInfo {symbol}: interval {hours} h ignored")
                continue
            self._funding_hours[symbol] = hours
            self._symbols.pop(symbol, None)
            inst = self.instruments.get(symbol)
            if inst is not None and inst.perpetual:
                self.instruments.update([dataclasses.replace(inst, funding_interval_h=hours)])
            count += 1
        return count

    # -- parsing -------------------------------------------------------------------------------
    def parse_generic(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """The dict-based reader: raw and combined-stream frames, single objects or all-market arrays.

        Reads every frame shape and raises the precise ParseError for a bad one.
        """
        try:
            return self._parse(load_json(frame), recv_ms)
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None

    def parse_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """``/fapi/v1/openInterest`` bodies → OpenInterest (USD at the latest mark price seen)."""
        if not path.startswith(OPEN_INTEREST_PATH):
            raise ParseError(f"binance: no REST reader for {path!r}", reason="unknown_channel")
        try:
            return self._open_interest(load_json(body), recv_ms)
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None

    def _parse_fast(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Typed decoding of forceOrder / markPriceUpdate frames; raises a FAST_PATH_MISSES error otherwise.

        Rows are read in order and a mark price is stored as soon as its row is read, as the generic
        reader does: after a miss, that reader stores the same prices again, so no trace differs.
        """
        if isinstance(frame, bytes):
            combined = frame.startswith(_COMBINED_PREFIX_BYTES)
        else:
            combined = frame.startswith(_COMBINED_PREFIX)
        decoded = _COMBINED.decode(frame).data if combined else _RAW.decode(frame)
        if isinstance(decoded, list):
            events: list[Event] = []
            for payload in decoded:
                if isinstance(payload, _MarkPrice):
                    funding = self._fast_funding(payload, recv_ms)
                    if funding is not None:
                        events.append(funding)
                else:
                    events.append(self._fast_liquidation(payload, recv_ms))
            return events
        if (decoded.stream is not UNSET and decoded.data is not UNSET) or (
            decoded.id is not UNSET and (decoded.result is not UNSET or decoded.error is not UNSET)
        ):
            raise FastPathMiss  # a wrapper or a request answer: the generic reader's business
        if isinstance(decoded, _MarkPrice):
            funding = self._fast_funding(decoded, recv_ms)
            return [] if funding is None else [funding]
        return [self._fast_liquidation(decoded, recv_ms)]

    def _fast_liquidation(self, payload: _ForceOrder, recv_ms: int) -> Liquidation:
        """:meth:`_liquidation` for a decoded forceOrder."""
        order = payload.o
        raw_side = order.S
        side = _POSITION_SIDE.get(raw_side)
        if side is None:
            raise FastPathMiss
        ts = order.T if order.T is not UNSET else payload.E
        return self._make_liquidation(
            order.s,
            raw_side,
            side,
            ts=recv_ms if ts is None else ts,
            qty=(order.z or order.q) + 0.0,
            price=(order.ap or order.p) + 0.0,
            recv_ms=recv_ms,
        )

    def _fast_funding(self, row: _MarkPrice, recv_ms: int) -> Funding | None:
        """:meth:`_funding` for a decoded markPriceUpdate."""
        symbol = row.s
        mark = row.p
        if mark is None or mark == "":
            mark = None
        else:
            mark += 0.0
            if mark > 0:
                self._marks[symbol] = mark
        rate = row.r
        if rate is None or rate == "":  # delivery contracts carry no funding
            return None
        rate += 0.0
        next_ms = row.T
        if next_ms == 0 or next_ms is None:
            next_ms = None
        elif type(next_ms) is not int or not 0 < next_ms <= MAX_EXACT_INT:
            raise FastPathMiss  # a string, or a value ms() would reject or round
        index = row.i
        return self._make_funding(
            symbol,
            ts=recv_ms if row.E is None else row.E,
            rate=rate,
            next_ms=next_ms,
            mark=mark,
            index=None if index is None or index == "" else index + 0.0,
            recv_ms=recv_ms,
        )

    def _parse(self, msg: Any, recv_ms: int) -> list[Event]:
        if isinstance(msg, list):
            events: list[Event] = []
            for item in msg:
                events.extend(self._payload(item, recv_ms))
            return events
        if isinstance(msg, Mapping):
            if "stream" in msg and "data" in msg:
                return self._parse(msg["data"], recv_ms)
            if "id" in msg and ("result" in msg or "error" in msg):
                if msg.get("error") is not None:
                    self._issue("subscription_rejected", f"binance refused a request: {msg['error']!r:.200}")
                return []
        return self._payload(msg, recv_ms)

    def _payload(self, msg: Any, recv_ms: int) -> list[Event]:
        kind = field(msg, "e", "binance event")
        if kind == "forceOrder":
            return [self._liquidation(msg, recv_ms)]
        if kind == "markPriceUpdate":
            return self._funding(msg, recv_ms)
        raise ParseError(f"binance: unexpected event type {kind!r:.40}", reason="unknown_channel")

    def _liquidation(self, msg: Any, recv_ms: int) -> Liquidation:
        order = field(msg, "o", "forceOrder")
        symbol = text(field(order, "s", "forceOrder.o"), "o.s")
        raw_side = field(order, "S", "forceOrder.o")
        side = _POSITION_SIDE.get(raw_side) if isinstance(raw_side, str) else None
        if side is None:
            raise ParseError(f"binance forceOrder {symbol}: unknown side {raw_side!r:.20}", reason="value")
        avg = opt_num(order.get("ap"), "o.ap")
        price = avg if avg else num(field(order, "p", "forceOrder.o"), "o.p")
        filled = opt_num(order.get("z"), "o.z")
        qty = filled if filled else num(field(order, "q", "forceOrder.o"), "o.q")
        ts = self._time(order.get("T", msg.get("E")), recv_ms, "o.T")
        return self._make_liquidation(symbol, raw_side, side, ts=ts, qty=qty, price=price, recv_ms=recv_ms)

    def _make_liquidation(
        self, symbol: str, raw_side: str, side: Side, *, ts: int, qty: float, price: float, recv_ms: int
    ) -> Liquidation:
        """The Liquidation both readers build from a forceOrder's parsed fields."""
        _, base, quote, usd, _ = self._symbol_info(symbol)
        return Liquidation(
            id=event_id(f"binance|{symbol}|{raw_side}", ts, qty, price),
            venue=self.name,
            symbol=symbol,
            base=base,
            quote=quote,
            contract="linear",
            ts_ms=ts,
            recv_ms=recv_ms,
            side=side,
            price=price,
            qty_base=qty,
            notional_usd=qty * price if usd else None,
            sampled=self.liquidations_sampled,
        )

    def _funding(self, msg: Any, recv_ms: int) -> list[Event]:
        symbol = text(field(msg, "s", "markPriceUpdate"), "s")
        mark = opt_num(msg.get("p"), "p")
        if mark is not None and mark > 0:
            self._marks[symbol] = mark
        rate = opt_num(msg.get("r"), "r")
        if rate is None:  # delivery contracts carry no funding
            return []
        next_ms = msg.get("T")
        return [
            self._make_funding(
                symbol,
                ts=self._time(msg.get("E"), recv_ms, "E"),
                rate=rate,
                next_ms=ms(next_ms, "T") if next_ms not in (None, "", 0) else None,
                mark=mark,
                index=opt_num(msg.get("i"), "i"),
                recv_ms=recv_ms,
            )
        ]

    def _make_funding(
        self,
        symbol: str,
        *,
        ts: int,
        rate: float,
        next_ms: int | None,
        mark: float | None,
        index: float | None,
        recv_ms: int,
    ) -> Funding:
        """The Funding both readers build from a markPriceUpdate's parsed fields."""
        _, base, quote, _, interval = self._symbol_info(symbol)
        return Funding(
            id=event_id(f"binance|{symbol}|funding", ts, rate),
            venue=self.name,
            symbol=symbol,
            base=base,
            quote=quote,
            contract="linear",
            ts_ms=ts,
            recv_ms=recv_ms,
            rate=rate,
            interval_h=interval,
            rate_8h=rate_8h(rate, interval),
            next_funding_ms=next_ms,
            mark_price=mark,
            index_price=index,
        )

    def _open_interest(self, body: Any, recv_ms: int) -> list[Event]:
        if isinstance(body, Mapping) and "code" in body and "openInterest" not in body:
            self._issue("rest_error", f"binance openInterest error: {body.get('msg')!r:.200}")
            return []
        symbol = text(field(body, "symbol", "openInterest"), "symbol")
        oi = num(field(body, "openInterest", "openInterest"), "openInterest")
        ts = self._time(body.get("time"), recv_ms, "time")
        base, quote = self._base_quote(symbol)
        mark = self._marks.get(symbol)
        return [
            OpenInterest(
                id=event_id(f"binance|{symbol}|oi", ts, oi),
                venue=self.name,
                symbol=symbol,
                base=base,
                quote=quote,
                contract="linear",
                ts_ms=ts,
                recv_ms=recv_ms,
                oi_base=oi,
                oi_usd=oi * mark if mark is not None and is_usd(quote) else None,
            )
        ]

    # -- helpers -------------------------------------------------------------------------------
    def _symbol_info(self, symbol: str) -> _SymbolInfo:
        """Base, quote, USD-ness and funding interval of ``symbol``, remembered while its instrument stays."""
        inst = self.instruments.get(symbol)
        info = self._symbols.get(symbol)
        if info is not None and info[0] is inst:
            return info
        base, quote = self._base_quote(symbol)
        if len(self._symbols) >= _SYMBOL_CACHE_SIZE:
            self._symbols.clear()
        info = self._symbols[symbol] = (inst, base, quote, is_usd(quote), self._interval(symbol))
        return info

    def _interval(self, symbol: str) -> float:
        inst = self.instruments.get(symbol)
        if inst is not None and inst.funding_interval_h:
            return inst.funding_interval_h
        return self._funding_hours.get(symbol, DEFAULT_FUNDING_H)

    def _base_quote(self, symbol: str) -> tuple[str, str]:
        inst = self.instruments.get(symbol)
        if inst is not None:
            return inst.base, inst.quote
        # Delivery contracts are named like BTCUSDT_250627.
        return split_symbol(symbol.split("_", 1)[0])

    def _base_of(self, symbol: str) -> str:
        try:
            return self._base_quote(symbol.upper())[0]
        except ParseError:
            return symbol.upper()

    @staticmethod
    def _time(value: Any, recv_ms: int, name: str) -> int:
        return recv_ms if value is None else ms(value, name)
