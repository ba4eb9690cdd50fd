"""Bybit v5 public linear and inverse: ``allLiquidation`` and ``tickers`` per symbol.

USDT/USDC contracts live on ``/v5/public/linear``, inverse contracts (BTCUSD,
BTCUSDH25, ...) on ``/v5/public/inverse``. Bybit has no wildcard topic, so each
symbol costs two args; one connection's args stay under 21,000 characters.

Units: linear sizes are base coin; inverse sizes are USD (1 USD contracts), so
base = size / price. ``S`` in ``allLiquidation`` is the *position* side:
``Buy`` means a long was liquidated.

``tickers`` sends a snapshot and then deltas that omit unchanged fields; the
adapter keeps the parsed fields per symbol and merges deltas into them
(:meth:`reset` forgets them after a reconnect). Open interest: Bybit documents
``openInterest`` as both sides of the book; ``singleOpenInterest`` (one side)
is used when present, otherwise ``openInterest / 2``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Liquidation, OpenInterest, Side
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    Millis,
    NonEmpty,
    chunked,
    decode_failed,
    event_id,
    field,
    items,
    load_json,
    opt_num,
    rejected_event,
    split_symbol,
    text,
    url_join,
)
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

LINEAR_PATH: Final = "/v5/public/linear"
INVERSE_PATH: Final = "/v5/public/inverse"
INSTRUMENTS_PATH: Final = "/v5/market/instruments-info"
MAX_ARGS_CHARS: Final = 21_000
DEFAULT_FUNDING_H: Final = 8.0
_POSITION_SIDE: Final[dict[str, Side]] = {"Buy": "long", "Sell": "short"}
# BTCUSD (perpetual) and BTCUSDH25 (quarterly) are inverse; BTCUSDT, BTCPERP, BTC-26DEC25 linear.
_INVERSE_RE: Final = re.compile(r"^([A-Z0-9]+?)USD(?:[FGHJKMNQUVXZ]\d{2})?$")
_LINEAR_FUTURE_RE: Final = re.compile(r"^([A-Z0-9]+?)(USDT)?-\d{1,2}[A-Z]{3}\d{2}$")
# Ticker fields kept per symbol (parsed), and which of them make a frame carry funding / OI news.
_TICKER_FIELDS: Final = (
    "fundingRate",
    "nextFundingTime",
    "fundingIntervalHour",
    "markPrice",
    "indexPrice",
    "openInterest",
    "singleOpenInterest",
)
# Instruments derived from Bybit's naming rules, remembered per adapter (the cache starts over beyond that).

Category = Literal["linear", "inverse"]


# -- the typed readers: one per channel --------------------------------------------------------
class _Frame(msgspec.Struct, gc=False):
    """A topic push (``topic`` + ``data``), or an answer to a request (``op``: subscribe, ping)."""

    topic: NonEmpty | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    ts: Millis | None = None
    type: str | None = None
    op: str | UnsetType = UNSET
    success: Any = None
    ret_msg: Any = None


class _AllLiquidation(msgspec.Struct, gc=False):
    s: NonEmpty
    S: str
    v: Finite
    p: Finite
    T: Millis | None = None


class _LegacyLiquidation(msgspec.Struct, gc=False):
    symbol: NonEmpty
    side: str
    size: Finite
    price: Finite
    updatedTime: Millis | UnsetType | None = UNSET
    updateTime: Millis | None = None


# A ticker number ("" and null are None); UNSET when the key is absent.
_TickerNum = Finite | Literal[""] | UnsetType | None


class _Ticker(msgspec.Struct, gc=False):
    symbol: NonEmpty
    fundingRate: _TickerNum = UNSET
    nextFundingTime: Millis | Literal[""] | UnsetType | None = UNSET
    fundingIntervalHour: _TickerNum = UNSET
    markPrice: _TickerNum = UNSET
    indexPrice: _TickerNum = UNSET
    openInterest: _TickerNum = UNSET
    singleOpenInterest: _TickerNum = UNSET


class _TickerState:
    """A symbol's ticker values as last sent (None: not sent, or sent empty); deltas are merged into it."""

    __slots__ = _TICKER_FIELDS

    def __init__(self) -> None:
        self.fundingRate = self.nextFundingTime = self.fundingIntervalHour = None
        self.markPrice = self.indexPrice = self.openInterest = self.singleOpenInterest = None

    fundingRate: float | None
    nextFundingTime: float | None
    fundingIntervalHour: float | None
    markPrice: float | None
    indexPrice: float | None
    openInterest: float | None
    singleOpenInterest: float | None


def _merged(value: float | int | Literal[""] | UnsetType | None, held: float | None) -> float | None:
    """A ticker value after a frame: ``held`` when the frame lacks the key, None when it sends the key empty.

    "" and null are "not given"; ``nextFundingTime`` (the only integer) is "no funding time" when 0.
    """
    if type(value) is float:  # the common case first: the reader gives every other number as a float
        return value + 0.0
    if value is UNSET:
        return held
    return value + 0.0 if type(value) is int and value != 0 else None


_FRAME: Final = msgspec.json.Decoder(_Frame, strict=False)
_ALL_LIQUIDATIONS: Final = msgspec.json.Decoder(list[_AllLiquidation], strict=False)
_LEGACY_LIQUIDATION: Final = msgspec.json.Decoder(_LegacyLiquidation, strict=False)
_TICKER: Final = msgspec.json.Decoder(_Ticker, strict=False)


SPEC: Final = VenueSpec(
    name="bybit",
    adapter="monitor.venues.bybit:BybitAdapter",
    ws_url="wss://stream.bybit.com",
    rest_url="https://api.bybit.com",
    # Bybit cuts a connection after 10 minutes without ping or data; it asks for a ping every 20 s.
    keepalive=Keepalive("client_ping", interval_s=20.0, payload='{"op":"ping"}', drop_after_s=600.0),
    limits=VenueLimits(connections=Rate(500, 300.0)),
    topics_per_connection=200,
    # Every ping gets a pong, so three missed pongs (60 s of silence) mean a dead connection.
    liveness_timeout_s=60.0,
    instruments=tuple(RestRequest(f"{INSTRUMENTS_PATH}?category={c}&limit=1000") for c in ("linear", "inverse")),
    simulator="monitor.sim.protocols.bybit:BybitProtocol",
    encoder="monitor.sim.encode.bybit",
    scenario_share=0.22,
    scenario_latency_ms=55,
)


class BybitAdapter(VenueAdapter):
    """Bybit v5 linear + inverse perpetuals and futures."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._tickers: dict[str, _TickerState] = {}
        self._requests = 0

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """``allLiquidation.S`` + ``tickers.S`` per symbol, on the endpoint of the symbol's category.

        With no symbols, every perpetual in the instrument book (none until it is loaded).
        """
        base_url = ws_url or self.ws_url
        for path in (LINEAR_PATH, INVERSE_PATH):
            if base_url.rstrip("/").endswith(path):
                base_url = base_url.rstrip("/")[: -len(path)]
        targets = list(symbols) or self.instruments.perpetuals()
        by_category: dict[Category, list[str]] = {"linear": [], "inverse": []}
        for symbol in targets:
            inst = self.instrument(symbol)
            if inst.contract_size is None:
                self._issue("unknown_symbol", f"bybit {symbol}: cannot tell linear from inverse; using linear")
                by_category["linear"].append(symbol)
            else:
                by_category[inst.contract].append(symbol)
        result = []
        endpoints: tuple[tuple[Category, str], ...] = (("linear", LINEAR_PATH), ("inverse", INVERSE_PATH))
        for category, path in endpoints:
            args = [a for sym in by_category[category] for a in (f"allLiquidation.{sym}", f"tickers.{sym}")]
            groups = chunked(args, self.max_subscriptions_per_connection, MAX_ARGS_CHARS)
            for number, group in enumerate(groups, 1):
                group_symbols = tuple(dict.fromkeys(a.split(".", 1)[1] for a in group))
                self._requests += 1
                message = {"req_id": f"liqmon-{self._requests}", "op": "subscribe", "args": group}
                result.append(
                    Connection(
                        url=url_join(base_url, path),
                        subscribe=(orjson.dumps(message).decode(),),
                        symbols=group_symbols,
                        bases=tuple(sorted({self._base_of(s) for s in group_symbols})),
                        label=f"{category}-{number}",
                    )
                )
        return result

    def reset(self) -> None:
        """Forget ticker snapshots; the venue sends fresh snapshots after resubscribing."""
        self._tickers.clear()

    # -- instruments ---------------------------------------------------------------------------
    def read_instruments(self, path: str, body: str | bytes) -> int:
        """``/v5/market/instruments-info``: contractType, baseCoin/quoteCoin, fundingInterval (minutes)."""
        data = load_json(body)
        if field(data, "retCode", "instruments-info") != 0:
            self._issue("rest_error", f"bybit instruments-info refused: {data.get('retMsg')!r:.200}")
            return 0
        result = field(data, "result", "instruments-info")
        if isinstance(result, Mapping) and result.get("nextPageCursor"):
            self._issue("instruments_truncated", "bybit instruments-info has more pages than were read")
        return self._load_instrument_rows(
            items(field(result, "list", "instruments-info.result"), "result.list"),
            self._instrument_row,
            "instruments-info",
        )

    def _instrument_row(self, row: Any) -> Instrument | None:
        symbol = text(field(row, "symbol", "instruments-info.list[]"), "symbol")
        if row.get("status", "Trading") != "Trading":
            return None
        contract_type = text(field(row, "contractType", symbol), "contractType")
        inverse = contract_type.startswith("Inverse")
        perpetual = contract_type.endswith("Perpetual")
        minutes = opt_num(row.get("fundingInterval"), "fundingInterval")
        return Instrument(
            venue=self.name,
            symbol=symbol,
            base=text(field(row, "baseCoin", symbol), "baseCoin"),
            quote=text(field(row, "quoteCoin", symbol), "quoteCoin"),
            contract="inverse" if inverse else "linear",
            size_unit="usd" if inverse else "base",
            contract_size=1.0,
            funding_interval_h=minutes / 60.0 if perpetual and minutes else None,
            perpetual=perpetual,
        )

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """allLiquidation, legacy liquidation and tickers pushes through their typed readers; answers to
        requests (pongs, acks) give [], a refusal an issue. A frame that does not fit raises ParseError with
        msgspec's path to the field. A tickers frame updates the symbol's state before its events are built."""
        try:
            msg = _FRAME.decode(frame)
            topic = msg.topic
            if topic is UNSET:
                if msg.op is UNSET:
                    raise ParseError("bybit: a frame needs a 'topic' or an 'op'", reason="schema")
                if msg.success is False:
                    self._issue("subscription_rejected", f"bybit refused {msg.op!r:.20}: {msg.ret_msg!r:.200}")
                return []
            if msg.data is UNSET:
                raise ParseError(f"bybit {topic!r:.60}: missing field 'data'", reason="schema")
            channel = topic.split(".", 1)[0]
            if channel == "allLiquidation":
                # A loop, not a comprehension: most pushes carry one row, and a comprehension is a call more.
                events: list[Event] = []
                for pushed in _ALL_LIQUIDATIONS.decode(msg.data):
                    events.append(
                        self._make_liquidation(
                            pushed.s,
                            pushed.S,
                            pushed.v + 0.0,
                            pushed.p + 0.0,
                            recv_ms if pushed.T is None else pushed.T,
                            recv_ms,
                            False,
                        )
                    )
                return events
            if channel == "liquidation":
                row = _LEGACY_LIQUIDATION.decode(msg.data)
                updated = row.updatedTime if row.updatedTime is not UNSET else row.updateTime
                # The legacy topic pushes at most one liquidation per symbol per second: sampled.
                return [
                    self._make_liquidation(
                        row.symbol,
                        row.side,
                        row.size + 0.0,
                        row.price + 0.0,
                        recv_ms if updated is None else updated,
                        recv_ms,
                        True,
                    )
                ]
            if channel != "tickers":
                raise ParseError(f"bybit: unexpected topic {topic!r:.60}", reason="unknown_channel")
            ts = recv_ms if msg.ts is None else msg.ts
            return self._tickers_frame(_TICKER.decode(msg.data), msg.type, ts, recv_ms)
        except msgspec.MsgspecError as exc:
            raise decode_failed(self.name, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None

    def _tickers_frame(self, data: _Ticker, kind: str | None, ts: int, recv_ms: int) -> list[Event]:
        """A tickers push: the symbol's state updated from the keys the frame carries, then its events."""
        state = self._tickers.get(data.symbol) if kind == "delta" else None
        if state is None:
            state = self._tickers[data.symbol] = _TickerState()
        # Only the keys the frame carries change the state; a snapshot starts from a blank one.
        state.fundingRate = _merged(data.fundingRate, state.fundingRate)
        state.nextFundingTime = _merged(data.nextFundingTime, state.nextFundingTime)
        state.fundingIntervalHour = _merged(data.fundingIntervalHour, state.fundingIntervalHour)
        state.markPrice = _merged(data.markPrice, state.markPrice)
        state.indexPrice = _merged(data.indexPrice, state.indexPrice)
        state.openInterest = _merged(data.openInterest, state.openInterest)
        state.singleOpenInterest = _merged(data.singleOpenInterest, state.singleOpenInterest)
        funding_news = (
            data.fundingRate is not UNSET or data.nextFundingTime is not UNSET or data.fundingIntervalHour is not UNSET
        )
        oi_news = data.openInterest is not UNSET or data.singleOpenInterest is not UNSET
        return self._ticker_events(data.symbol, state, funding_news, oi_news, ts, recv_ms)

    def _make_liquidation(  # noqa: PLR0917 - called per event, positionally
        self, symbol: str, raw_side: str, size: float, price: float, ts: int, recv_ms: int, sampled: bool
    ) -> Liquidation:
        side = _POSITION_SIDE.get(raw_side)
        if side is None:
            raise ParseError(f"bybit liquidation {symbol}: unknown side {raw_side!r:.20}", reason="value")
        event = self.instrument(symbol).liquidation(
            event_id(f"bybit|{symbol}|{raw_side}", ts, size, price),
            ts,
            recv_ms,
            side,
            price,
            size,
            None,
            sampled or self.liquidations_sampled,
        )
        if event.qty_base is None:
            self._unknown_size(symbol)
        return event

    def _ticker_events(  # noqa: PLR0917 - called per frame, positionally
        self, symbol: str, state: _TickerState, funding_news: bool, oi_news: bool, ts: int, recv_ms: int
    ) -> list[Event]:
        """The events a ticker frame's keys call for, from the symbol's merged state."""
        events: list[Event] = []
        inst = self.instrument(symbol)
        if inst.contract_size is None:
            self._issue("unknown_contract", f"bybit {symbol}: not in the instrument list; ticker skipped")
            return events
        rate = state.fundingRate
        if funding_news and rate is not None:
            next_ms = state.nextFundingTime
            events.append(
                inst.funding(
                    event_id(f"bybit|{symbol}|funding", ts, rate),
                    ts,
                    recv_ms,
                    rate,
                    state.fundingIntervalHour or inst.funding_interval_h or DEFAULT_FUNDING_H,
                    int(next_ms) if next_ms is not None else None,
                    state.markPrice,
                    state.indexPrice,
                )
            )
        if oi_news:
            oi = self._open_interest(symbol, inst, state, ts, recv_ms)
            if oi is not None:
                events.append(oi)
        return events

    def _open_interest(
        self, symbol: str, inst: Instrument, state: _TickerState, ts: int, recv_ms: int
    ) -> OpenInterest | None:
        single, both = state.singleOpenInterest, state.openInterest
        one_side = single if single is not None else (both / 2.0 if both is not None else None)
        if one_side is None:
            return None
        oi = inst.open_interest(
            event_id(f"bybit|{symbol}|oi", ts, one_side),
            ts,
            recv_ms,
            one_side,
            state.markPrice or None,
            "usd" if inst.contract == "inverse" else "base",
        )
        if oi is None:
            self._issue("no_price", f"bybit {symbol}: inverse open interest needs a mark price; skipped")
        return oi

    # -- helpers -------------------------------------------------------------------------------
    def guess_instrument(self, symbol: str) -> Instrument:
        """An instrument from Bybit's naming rules; else base and quote only, with the size unit unknown."""
        derived = self._derive(symbol)
        if derived is not None:
            return derived
        base, quote = self._fallback_names(symbol)
        return Instrument(self.name, symbol, base, quote, "linear", "contracts", contract_size=None)

    def _derive(self, symbol: str) -> Instrument | None:
        """An instrument from Bybit's naming rules alone, or None."""
        inverse = _INVERSE_RE.match(symbol)
        if inverse:
            perpetual = len(symbol) == inverse.end(1) + 3
            return Instrument(
                self.name,
                symbol,
                inverse.group(1),
                "USD",
                "inverse",
                "usd",
                funding_interval_h=DEFAULT_FUNDING_H if perpetual else None,
                perpetual=perpetual,
            )
        future = _LINEAR_FUTURE_RE.match(symbol)
        if future:
            return Instrument(
                self.name,
                symbol,
                future.group(1),
                future.group(2) or "USDC",
                "linear",
                "base",
                funding_interval_h=None,
                perpetual=False,
            )
        if symbol.endswith("PERP") and len(symbol) > 4:
            return Instrument(self.name, symbol, symbol[:-4], "USDC", "linear", "base")
        if symbol.endswith(("USDT", "USDC")):
            base, quote = split_symbol(symbol)
            return Instrument(self.name, symbol, base, quote, "linear", "base")
        return None

    def _fallback_names(self, symbol: str) -> tuple[str, str]:
        try:
            return split_symbol(symbol)
        except ParseError:
            return symbol.upper(), ""

    def _base_of(self, symbol: str) -> str:
        return self.instrument(symbol).base
