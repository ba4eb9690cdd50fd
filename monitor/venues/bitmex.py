"""BitMEX realtime: the ``liquidation`` and ``instrument`` tables.

Tables arrive as ``partial`` (full rows), ``insert``, ``update`` (only the
changed fields) and ``delete``. The adapter keeps per-symbol instrument rows
and per-order liquidation rows, merges updates into them and forgets both on
:meth:`BitmexAdapter.reset`.

Liquidation rows are *resting liquidation orders*, not fills, and carry no
timestamp (``ts_ms`` is the receive time). To count each liquidated quantity
once: a new order (``partial``/``insert``) emits its ``leavesQty``; an
``update`` that raises ``leavesQty`` emits only the increase; an update that
lowers it (a partial fill) and ``delete`` (filled or cancelled) emit nothing.
``side`` is the order side, so ``Sell`` means a long position was liquidated.

The liquidation table has one typed reader per action. The instrument table's
rows are merged field by field into each symbol's state (a partial carries
every field, the instrument list is read from it), so they decode as maps.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import (
    Event,
    Funding,
    Liquidation,
    OpenInterest,
    Side,
    canonical_base,
)
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    NonEmpty,
    decode_failed,
    event_id,
    load_json,
    num,
    opt_num,
    rejected_event,
    split_symbol,
    url_join,
)
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

VENUE: Final = "bitmex"
_EPOCH_2000: Final = datetime(2000, 1, 1, tzinfo=UTC)
_FUTURES_CODE: Final = re.compile(r"^([A-Z0-9]+?)([FGHJKMNQUVXZ]\d{2})$")
_FUNDING_FIELDS: Final = frozenset(("fundingRate", "fundingTimestamp", "fundingInterval"))
_OI_FIELDS: Final = frozenset(("openInterest", "openValue"))
_MAX_ORDERS: Final = 10_000
# XBTUSD is the one contract whose size is known without the instrument list: 1 contract = 1 USD.
_XBTUSD: Final = Instrument(
    venue=VENUE, symbol="XBTUSD", base="XBT", quote="USD", contract="inverse", size_unit="contracts"
)


@dataclass(slots=True)
class _Order:
    """What we know of one resting liquidation order."""

    symbol: str
    side: Side
    price: float
    leaves: float


# -- the typed readers ---------------------------------------------------------------------------
class _Frame(msgspec.Struct, gc=False):
    """A table push (``table``, ``action``, ``data``), or a control message (welcome, acks, errors)."""

    table: str | UnsetType = UNSET
    action: str | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    error: Any = UNSET
    info: Any = UNSET
    success: Any = UNSET
    subscribe: Any = UNSET


class _RemovedOrder(msgspec.Struct, gc=False):
    orderID: NonEmpty


class _NewOrder(msgspec.Struct, gc=False):
    orderID: NonEmpty
    symbol: NonEmpty
    side: Literal["Buy", "Sell"]
    price: Finite
    leavesQty: Finite


class _OrderUpdate(msgspec.Struct, gc=False):
    orderID: NonEmpty
    price: Finite | UnsetType = UNSET
    leavesQty: Finite | UnsetType = UNSET


_FRAME: Final = msgspec.json.Decoder(_Frame, strict=False)
_REMOVED_ORDERS: Final = msgspec.json.Decoder(list[_RemovedOrder], strict=False)
_NEW_ORDERS: Final = msgspec.json.Decoder(list[_NewOrder], strict=False)
_ORDER_UPDATES: Final = msgspec.json.Decoder(list[_OrderUpdate], strict=False)
# The instrument-row fields liqmon reads (the instrument, its funding and open interest); a row's other
# fields (a partial carries about a hundred) are skipped by the decoder. Values stay as JSON gave them.
_ROW_FIELDS: Final = (
    "symbol",
    "underlying",
    "rootSymbol",
    "quoteCurrency",
    "isInverse",
    "isQuanto",
    "multiplier",
    "underlyingToSettleMultiplier",
    "quoteToSettleMultiplier",
    "underlyingToPositionMultiplier",
    "typ",
    "fundingInterval",
    "fundingRate",
    "fundingTimestamp",
    "timestamp",
    "markPrice",
    "indicativeSettlePrice",
    "openInterest",
    "openValue",
)
_InstrumentRow: Final[Any] = msgspec.defstruct("_InstrumentRow", [(name, Any, UNSET) for name in _ROW_FIELDS])
# Instrument rows are merged field by field into the symbol's state (partials carry every field).
_INSTRUMENT_ROWS: Final = msgspec.json.Decoder(list[_InstrumentRow], strict=False)
_ACTIONS: Final = frozenset(("partial", "insert", "update", "delete"))
_POSITION_SIDE: Final[dict[str, Side]] = {"Sell": "long", "Buy": "short"}  # a Sell order closes a long


def _utc(text: str) -> datetime:
    """``text`` read as an ISO time, UTC when it names no zone (ValueError when it is not one)."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


# Remembered (reading an ISO time costs about 0.4 µs): a row's ``timestamp`` is read once per event it
# makes, ``fundingTimestamp`` and ``fundingInterval`` change every few hours. A ValueError is not remembered.
@lru_cache(maxsize=4096)
def _epoch_ms(text: str) -> int:
    return int(_utc(text).timestamp() * 1000)


@lru_cache(maxsize=256)
def _hours_after_2000(text: str) -> float:
    return (_utc(text) - _EPOCH_2000).total_seconds() / 3600.0


def iso_ms(value: Any, name: str) -> int:
    """Epoch milliseconds of a BitMEX ISO timestamp such as ``2021-12-18T19:55:00.000Z``."""
    if not isinstance(value, str):
        raise ParseError(f"bitmex {name}: expected an ISO timestamp, got {value!r}", reason="value")
    try:
        millis = _epoch_ms(value)
    except ValueError:
        raise ParseError(f"bitmex {name}: bad ISO timestamp {value!r}", reason="value") from None
    if millis < 0:
        raise ParseError(f"bitmex {name}: timestamp before 1970: {value!r}", reason="value")
    return millis


def interval_hours(value: Any) -> float | None:
    """Hours of a BitMEX interval encoded as a time after 2000-01-01 (``…T08:00:00.000Z`` = 8 h)."""
    if not isinstance(value, str):
        return None
    try:
        hours = _hours_after_2000(value)
    except ValueError:
        return None
    return hours if hours > 0 else None


def instrument_from_row(row: dict[str, Any]) -> Instrument | None:
    """An :class:`Instrument` from an ``instrument`` row (REST or websocket), None if not describable.

    Inverse: USD per contract = multiplier / underlyingToSettleMultiplier (XBTUSD: 1).
    Linear: base per contract = multiplier / quoteToSettleMultiplier (XBTUSDT: 1e-6 XBT), else
    1 / underlyingToPositionMultiplier. Quanto: the size depends on the XBT price → unknown (None).
    """
    symbol = row.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        return None
    root = row.get("underlying") or row.get("rootSymbol")
    quote = row.get("quoteCurrency")
    if not isinstance(root, str) or not root or not isinstance(quote, str) or not quote:
        return None
    inverse = row.get("isInverse") is True
    quanto = row.get("isQuanto") is True
    multiplier = opt_num(row.get("multiplier"), "bitmex multiplier")
    contract_size: float | None = None
    if inverse:
        to_settle = opt_num(row.get("underlyingToSettleMultiplier"), "bitmex underlyingToSettleMultiplier")
        if multiplier and to_settle:
            contract_size = abs(multiplier / to_settle)
    elif not quanto:
        quote_to_settle = opt_num(row.get("quoteToSettleMultiplier"), "bitmex quoteToSettleMultiplier")
        to_position = opt_num(row.get("underlyingToPositionMultiplier"), "bitmex underlyingToPositionMultiplier")
        if multiplier and quote_to_settle:
            contract_size = abs(multiplier / quote_to_settle)
        elif to_position:
            contract_size = 1.0 / abs(to_position)
    typ = row.get("typ")
    if isinstance(typ, str) and not typ.startswith("FF"):
        return None  # indices (.BXBT, typ MRCXXX) and other non-futures rows
    return Instrument(
        venue=VENUE,
        symbol=symbol,
        base=root,
        quote=quote.upper(),
        contract="inverse" if inverse else "linear",
        size_unit="contracts",
        contract_size=contract_size,
        funding_interval_h=interval_hours(row.get("fundingInterval")),
        perpetual=isinstance(typ, str) and typ.startswith("FFWCS"),
    )


def _labels(symbol: str) -> tuple[str, str]:
    """Base and quote for a symbol missing from the instrument book (labels only, never sizes)."""
    match = _FUTURES_CODE.match(symbol)
    stem = match.group(1) if match else symbol
    try:
        return split_symbol(stem)
    except ParseError:
        # Legacy alt-coin futures (TRXZ19, ADAZ19...) were quoted and settled in XBT.
        return canonical_base(stem), "XBT"


SPEC: Final = VenueSpec(
    name=VENUE,
    adapter="monitor.venues.bitmex:BitmexAdapter",
    ws_url="wss://ws.bitmex.com/realtime",
    rest_url="https://www.bitmex.com",
    keepalive=Keepalive("client_ping", interval_s=20.0, payload="ping", drop_after_s=60.0),
    # Subscriptions are not rate-limited; keep frames small all the same.
    limits=VenueLimits(connections=Rate(20, 3600.0)),
    topics_per_connection=100,
    # The ``instrument`` partial lists every active instrument in one message (about 1 MB): room for four times that.
    max_frame_bytes=4 * 2**20,
    # Pongs answer every ping, so a quiet liquidation table never looks dead.
    liveness_timeout_s=60.0,
    instruments=(RestRequest("/api/v1/instrument/active"),),
    untimed=True,
    simulator="monitor.sim.protocols.bitmex:BitmexProtocol",
    encoder="monitor.sim.encode.bitmex",
    scenario_share=0.04,
    scenario_latency_ms=90,
)


class BitmexAdapter(VenueAdapter):
    """BitMEX: liquidation orders, funding and open interest from the realtime tables."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._rows: dict[str, dict[str, Any]] = {}
        self._orders: OrderedDict[str, _Order] = OrderedDict()

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """One ``liquidation`` subscription (all instruments) plus ``instrument:<symbol>`` per symbol."""
        url = url_join(ws_url, "/realtime") if ws_url else self.ws_url  # an override may be an origin
        wanted = list(symbols) or self.instruments.perpetuals() or ["XBTUSD"]
        size = self.max_subscriptions_per_connection
        chunks = [wanted[i : i + size] for i in range(0, len(wanted), size)]
        result: list[Connection] = []
        for index, chunk in enumerate(chunks):
            args = [f"instrument:{s}" for s in chunk]
            if index == 0:
                args.insert(0, "liquidation")
            frame = '{"op":"subscribe","args":[' + ",".join(f'"{a}"' for a in args) + "]}"
            # The unfiltered liquidation table covers the whole venue: bases () on that connection.
            bases = () if index == 0 else tuple(sorted({self._base_of(s) for s in chunk}))
            result.append(
                Connection(url=url, subscribe=(frame,), symbols=tuple(chunk), bases=bases, label=f"bitmex-{index}")
            )
        return result

    def _base_of(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        return inst.base if inst is not None else _labels(symbol)[0]

    def read_instruments(self, path: str, body: str | bytes) -> int:
        """Read ``/api/v1/instrument/active``; rows that cannot be described are skipped."""
        data = load_json(body)
        if not isinstance(data, list):
            raise ParseError("bitmex instrument list: expected a JSON array", reason="schema")
        loaded = [inst for row in data if isinstance(row, dict) and (inst := instrument_from_row(row))]
        self.instruments.update(loaded)
        return len(loaded)

    def reset(self) -> None:
        """Forget merged instrument rows and resting liquidation orders (a new partial follows)."""
        self._rows.clear()
        self._orders.clear()

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """The liquidation and instrument tables through their typed readers; pongs, the welcome and acks
        give [], errors an issue. A frame that does not fit raises ParseError with msgspec's field path."""
        if frame in ("pong", b"pong"):
            return []
        try:
            msg = _FRAME.decode(frame)
            table = msg.table
            if table is UNSET:
                if msg.error is not UNSET:
                    self._issue("venue_error", f"bitmex rejected a request: {msg.error!r:.200}")
                    return []
                if msg.info is not UNSET or msg.success is not UNSET or msg.subscribe is not UNSET:
                    return []
                raise ParseError("bitmex: frame has neither 'table' nor a known control field", reason="schema")
            action, data = msg.action, msg.data
            if action is UNSET or data is UNSET:
                raise ParseError(f"bitmex {table!r:.40}: a push needs 'action' and 'data'", reason="schema")
            if action not in _ACTIONS:
                raise ParseError(f"bitmex: unknown action {action!r:.20}", reason="schema")
            if table == "liquidation":
                return self._liquidations(action, data, recv_ms)
            if table == "instrument":
                return self._instrument_table(action, _INSTRUMENT_ROWS.decode(data), recv_ms)
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        raise ParseError(f"bitmex: unexpected table {table!r:.60}", reason="unknown_channel")

    # -- liquidation table -----------------------------------------------------------------------
    def _liquidations(self, action: str, data: msgspec.Raw, recv_ms: int) -> list[Event]:
        if action == "delete":
            for removed in _REMOVED_ORDERS.decode(data):
                self._orders.pop(removed.orderID, None)
            return []
        events: list[Event] = []
        if action == "update":
            for update in _ORDER_UPDATES.decode(data):
                known = self._orders.get(update.orderID)
                if known is None:
                    self._issue("orphan_update", f"bitmex liquidation update for unknown order {update.orderID}")
                    continue
                event = self._order_update(update.orderID, known, update, recv_ms)
                if event is not None:
                    events.append(event)
            return events
        for row in _NEW_ORDERS.decode(data):  # partial or insert
            order = _Order(row.symbol, _POSITION_SIDE[row.side], row.price + 0.0, row.leavesQty + 0.0)
            self._remember(row.orderID, order)
            events.append(self._liquidation(row.orderID, order, order.leaves, recv_ms))
        return events

    def _order_update(self, order_id: str, order: _Order, row: _OrderUpdate, recv_ms: int) -> Liquidation | None:
        if row.price is not UNSET:
            order.price = row.price + 0.0
        if row.leavesQty is UNSET:
            return None
        leaves = row.leavesQty + 0.0
        increase = leaves - order.leaves
        order.leaves = leaves
        if increase <= 0:  # partially filled: the quantity was already counted on insert
            return None
        return self._liquidation(event_id(f"bitmex|{order_id}", leaves), order, increase, recv_ms)

    def _remember(self, order_id: str, order: _Order) -> None:
        self._orders[order_id] = order
        self._orders.move_to_end(order_id)
        while len(self._orders) > _MAX_ORDERS:  # deletes can be missed across reconnects
            self._orders.popitem(last=False)

    def _liquidation(self, id: str, order: _Order, contracts: float, recv_ms: int) -> Liquidation:
        event = self.instrument(order.symbol).liquidation(
            id, recv_ms, recv_ms, order.side, order.price, contracts, None, self.liquidations_sampled
        )
        if event.qty_base is None:
            self._unknown_size(order.symbol)
        elif event.notional_usd is None:
            self._issue("non_usd_quote", f"bitmex {order.symbol}: quoted in {event.quote}, no USD notional")
        return event

    def guess_instrument(self, symbol: str) -> Instrument:
        """XBTUSD's well-known contract; any other symbol's base and quote only (labels, never sizes)."""
        if symbol == "XBTUSD":
            return _XBTUSD
        base, quote = _labels(symbol)
        return Instrument(VENUE, symbol, base, quote, "linear", "contracts", contract_size=None)

    # -- instrument table ------------------------------------------------------------------------
    def _instrument_table(self, action: str, data: list[Any], recv_ms: int) -> list[Event]:
        # One partial arrives per subscription (instrument:XBTUSD, instrument:ETHUSD...): each replaces
        # only its own rows. A null value leaves the field's last value in place.
        events: list[Event] = []
        for row in data:
            symbol = row.symbol
            if symbol is UNSET:
                raise ParseError("bitmex instrument: missing field 'symbol'", reason="schema")
            if not isinstance(symbol, str) or not symbol:
                raise ParseError("bitmex instrument: symbol must be a non-empty string", reason="value")
            if action == "delete":
                self._rows.pop(symbol, None)
                continue
            fresh = action in ("partial", "insert")
            state = self._rows[symbol] = {} if fresh else self._rows.get(symbol, {})
            # The fields the row carries, in C (to_builtins leaves the UNSET ones out; the values are JSON's).
            sent = msgspec.to_builtins(row)
            funding_news = fresh or not _FUNDING_FIELDS.isdisjoint(sent)
            oi_news = fresh or not _OI_FIELDS.isdisjoint(sent)
            for name, value in sent.items():
                if value is not None:
                    state[name] = value
            if fresh and (inst := instrument_from_row(state)) is not None:
                self.instruments.update([inst])
            if funding_news and state.get("fundingRate") is not None:
                events.append(self._funding(symbol, state, recv_ms))
            if oi_news and state.get("openInterest") is not None:
                oi = self._open_interest(symbol, state, recv_ms)
                if oi is not None:
                    events.append(oi)
        return events

    def _funding(self, symbol: str, state: dict[str, Any], recv_ms: int) -> Funding:
        rate = num(state["fundingRate"], "bitmex fundingRate")
        inst = self.instrument(symbol)
        interval = interval_hours(state.get("fundingInterval")) or inst.funding_interval_h or 8.0
        ts = iso_ms(state["timestamp"], "timestamp") if "timestamp" in state else recv_ms
        next_ms = iso_ms(state["fundingTimestamp"], "fundingTimestamp") if "fundingTimestamp" in state else None
        return inst.funding(
            event_id(f"bitmex|{symbol}|funding|{next_ms}", rate),
            ts,
            recv_ms,
            rate,
            interval,
            next_ms,
            opt_num(state.get("markPrice"), "bitmex markPrice"),
            opt_num(state.get("indicativeSettlePrice"), "bitmex indicativeSettlePrice"),
        )

    def _open_interest(self, symbol: str, state: dict[str, Any], recv_ms: int) -> OpenInterest | None:
        contracts = num(state["openInterest"], "bitmex openInterest")
        ts = iso_ms(state["timestamp"], "timestamp") if "timestamp" in state else recv_ms
        oi = self.instrument(symbol).open_interest(
            event_id(f"bitmex|{symbol}|oi|{state.get('openValue')}", ts, contracts),
            ts,
            recv_ms,
            contracts,
            opt_num(state.get("markPrice"), "bitmex markPrice") or None,
        )
        if oi is None:
            self._issue("unknown_contract", f"bitmex {symbol}: open interest size unknown (no spec or mark)")
        return oi
