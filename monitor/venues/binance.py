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
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Funding, Liquidation, Side
from monitor.venues.adapter import Connection, RestPoll, VenueAdapter
from monitor.venues.common import (
    Finite,
    NonEmpty,
    decode_failed,
    event_id,
    field,
    items,
    load_json,
    num,
    rejected_event,
    split_symbol,
    text,
    url_join,
)
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

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


# -- the typed readers: one per event type ---------------------------------------------------
# Epoch milliseconds as sent; a float or a value past 2100 reaches the event, which refuses it as implausible.
_Time = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | Annotated[float, msgspec.Meta(ge=0.0, le=1e300)]


class _Order(msgspec.Struct, gc=False):
    s: NonEmpty
    S: str
    q: Finite
    p: Finite
    ap: Finite | None = None
    z: Finite | None = None
    T: _Time | None = None


class _ForceOrder(msgspec.Struct, gc=False, tag_field="e", tag="forceOrder"):
    o: _Order
    E: _Time | None = None


class _MarkPrice(msgspec.Struct, gc=False, tag_field="e", tag="markPriceUpdate"):
    s: NonEmpty
    p: Finite | Literal[""] | None = None
    r: Finite | Literal[""] | None = None
    i: Finite | Literal[""] | None = None
    E: _Time | None = None
    # "", null and 0 are "no funding time" (delivery contracts).
    T: _Time | Literal[""] | None = None


class _Wrapper(msgspec.Struct, gc=False):
    """A combined-stream wrapper (``stream`` + ``data``) or an answer to a request (``id`` + ``result``/``error``)."""

    stream: str | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    id: Any = None
    result: Any = None
    error: Any = None


class _Stream(msgspec.Struct, gc=False):
    """A combined-stream frame: the stream's name and its payload, decoded together."""

    stream: str
    data: _ForceOrder | _MarkPrice | list[_ForceOrder | _MarkPrice]


class _OpenInterestBody(msgspec.Struct, gc=False):
    symbol: NonEmpty | UnsetType = UNSET
    openInterest: Finite | UnsetType = UNSET
    time: _Time | None = None
    code: Any = None
    msg: Any = None


_PAYLOADS: Final = msgspec.json.Decoder(_ForceOrder | _MarkPrice | list[_ForceOrder | _MarkPrice], strict=False)
_STREAM: Final = msgspec.json.Decoder(_Stream, strict=False)
_WRAPPER: Final = msgspec.json.Decoder(_Wrapper, strict=False)
_OPEN_INTEREST: Final = msgspec.json.Decoder(_OpenInterestBody, strict=False)
# Combined-stream frames start with their stream name.
_COMBINED: Final = '{"stream"'
_COMBINED_BYTES: Final = b'{"stream"'
_Payloads = _ForceOrder | _MarkPrice | list[_ForceOrder | _MarkPrice]


SPEC: Final = VenueSpec(
    name="binance",
    adapter="monitor.venues.binance:BinanceAdapter",
    ws_url="wss://fstream.binance.com",
    rest_url="https://fapi.binance.com",
    # Binance pings every 3 minutes and drops a client that has not answered within 10.
    keepalive=Keepalive("server_ping", interval_s=180.0, drop_after_s=600.0),
    limits=VenueLimits(messages=Rate(10, 1.0), topics_per_connection=200, max_connection_age_s=24 * 3600.0),
    topics_per_connection=200,
    # Every connection carries a markPrice@1s stream, so a healthy one is never silent for a minute.
    liveness_timeout_s=60.0,
    instruments=(RestRequest(EXCHANGE_INFO_PATH), RestRequest(FUNDING_INFO_PATH)),
    sampled=True,
    simulator="monitor.sim.protocols.binance:BinanceProtocol",
    encoder="monitor.sim.encode.binance",
    scenario_share=0.30,
    scenario_latency_ms=40,
)


class BinanceAdapter(VenueAdapter):
    """Binance USD-M: ``forceOrder`` + ``markPrice`` streams, REST open interest."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._marks = _MARKS.setdefault(self.instruments, {})
        self._funding_hours: dict[str, float] = {}

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

    # -- instruments ---------------------------------------------------------------------------
    def read_instruments(self, path: str, body: str | bytes) -> int:
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
            inst = self.instruments.get(symbol)
            if inst is not None and inst.perpetual:
                self.instruments.update([dataclasses.replace(inst, funding_interval_h=hours)])
            count += 1
        return count

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Raw and combined-stream frames, single events or all-market arrays, through the typed readers;
        answers to requests give [] (a refusal is an issue). A frame that does not fit raises ParseError with
        msgspec's path to the field. Mark prices are stored as their rows are read.

        A combined-stream frame decodes in one pass, wrapper and payload together; one that does not fit is
        read again by :meth:`_wrapped`, wrapper first, which says what is wrong with it.
        """
        combined = frame.startswith(_COMBINED_BYTES) if isinstance(frame, bytes) else frame.startswith(_COMBINED)
        try:
            if combined:
                try:
                    payloads = _STREAM.decode(frame).data
                except (msgspec.MsgspecError, RecursionError):  # read wrapper first, it fails as it always did
                    return self._wrapped(frame, recv_ms, None)
            else:
                payloads = _PAYLOADS.decode(frame)
            return self._payloads(payloads, recv_ms)
        except msgspec.MsgspecError as exc:
            text = str(exc)
            if isinstance(exc, msgspec.ValidationError) and text == "Object missing required field `e`":
                return self._wrapped(frame, recv_ms, exc)  # not an event: a wrapper or an answer
            if "Invalid value" in text and text.endswith(".e`"):
                raise ParseError(f"binance: unexpected event type ({exc})", reason="unknown_channel") from None
            raise decode_failed(self.name, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None

    def _wrapped(self, frame: str | bytes, recv_ms: int, error: msgspec.ValidationError | None) -> list[Event]:
        """A frame read wrapper first: an answer to a request ([], a refusal is an issue), or a combined-stream
        frame the one-pass reader refused (its error, the payload read on its own as before)."""
        try:
            wrapper = _WRAPPER.decode(frame)
            if wrapper.stream is not UNSET and wrapper.data is not UNSET:
                return self._payloads(_PAYLOADS.decode(wrapper.data), recv_ms)
        except msgspec.MsgspecError as exc:
            raise decode_failed(self.name, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        if wrapper.id is not None:  # an answer to one of our requests
            if wrapper.error is not None:
                self._issue("subscription_rejected", f"binance refused a request: {wrapper.error!r:.200}")
            return []
        raise decode_failed(self.name, error or msgspec.ValidationError("Object missing required field `e`"))

    def read_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """``/fapi/v1/openInterest`` bodies → OpenInterest (USD at the latest mark price seen)."""
        if not path.startswith(OPEN_INTEREST_PATH):
            raise ParseError(f"binance: no REST reader for {path!r}", reason="unknown_channel")
        try:
            reply = _OPEN_INTEREST.decode(body)
            symbol, oi = reply.symbol, reply.openInterest
            if symbol is UNSET or oi is UNSET:
                if reply.code is not None and oi is UNSET:
                    self._issue("rest_error", f"binance openInterest error: {reply.msg!r:.200}")
                    return []
                raise ParseError("binance openInterest: 'symbol' and 'openInterest' are required", reason="schema")
            oi += 0.0
            ts = recv_ms if reply.time is None else int(reply.time)
            oi_event = self.instrument(symbol).open_interest(
                event_id(f"binance|{symbol}|oi", ts, oi), ts, recv_ms, oi, self._marks.get(symbol)
            )
        except msgspec.MsgspecError as exc:
            raise decode_failed(self.name, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        return [] if oi_event is None else [oi_event]

    def _payloads(self, decoded: _Payloads, recv_ms: int) -> list[Event]:
        """The events of one payload (by its type: one reader per stream) or of an all-market array."""
        if type(decoded) is _ForceOrder:
            return [self._liquidation(decoded, recv_ms)]
        events: list[Event] = []
        for payload in decoded if isinstance(decoded, list) else (decoded,):
            if isinstance(payload, _ForceOrder):
                events.append(self._liquidation(payload, recv_ms))
            elif (funding := self._funding(payload, recv_ms)) is not None:
                events.append(funding)
        return events

    def _liquidation(self, payload: _ForceOrder, recv_ms: int) -> Liquidation:
        order = payload.o
        raw_side = order.S
        side = _POSITION_SIDE.get(raw_side)
        if side is None:
            raise ParseError(f"binance forceOrder {order.s}: unknown side {raw_side!r:.20}", reason="value")
        ts = order.T if order.T is not None else payload.E
        ts = None if ts is None else int(ts)
        ts = recv_ms if ts is None else ts
        qty, price = (order.z or order.q) + 0.0, (order.ap or order.p) + 0.0
        return self.instrument(order.s).liquidation(
            event_id(f"binance|{order.s}|{raw_side}", ts, qty, price),
            ts,
            recv_ms,
            side,
            price,
            qty,
            None,
            self.liquidations_sampled,
        )

    def _funding(self, row: _MarkPrice, recv_ms: int) -> Funding | None:
        """A markPriceUpdate's funding (None for delivery contracts, which carry none); stores the mark price."""
        symbol = row.s
        mark = row.p
        if mark is None or mark == "":
            mark = None
        else:
            mark += 0.0
            if mark > 0:
                self._marks[symbol] = mark
        rate = row.r
        if rate is None or rate == "":
            return None
        index = row.i
        ts = recv_ms if row.E is None else int(row.E)
        inst = self.instrument(symbol)
        rate += 0.0
        return inst.funding(
            event_id(f"binance|{symbol}|funding", ts, rate),
            ts,
            recv_ms,
            rate,
            inst.funding_interval_h or self._funding_hours.get(symbol, DEFAULT_FUNDING_H),
            int(row.T) if row.T else None,
            mark,
            None if index is None or index == "" else index + 0.0,
        )

    # -- helpers -------------------------------------------------------------------------------
    def guess_instrument(self, symbol: str) -> Instrument:
        """Base and quote from the symbol (delivery contracts are named like BTCUSDT_250627); sizes in base.

        Its funding interval is left to the fundingInfo list (read when the funding is), not fixed at the guess.
        """
        base, quote = split_symbol(symbol.split("_", 1)[0])
        return Instrument(self.name, symbol, base, quote, "linear", "base", funding_interval_h=None)

    def _base_of(self, symbol: str) -> str:
        try:
            return self.instrument(symbol.upper()).base
        except ParseError:
            return symbol.upper()
