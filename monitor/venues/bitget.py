"""Bitget: v2 ``ticker`` (funding, mark, open interest) and UTA (v3) ``liquidation``.

The two live on different websocket URLs, so they get different connections:
``wss://ws.bitget.com/v2/ws/public`` for tickers, ``wss://ws.bitget.com/v3/ws/public``
for liquidations. The UTA ``ticker`` topic is parsed too.

Liquidations: ``side`` is the side of the liquidated **position** (``buy`` =
long), ``amount`` is in **quote** currency, so base = amount / price. The feed
is sampled: at most the largest long and largest short per pair per second.
Open interest: v2 ``holdingAmount`` and UTA ``openInterest`` are in base coin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, Final, Literal

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import ContractType, Event, Liquidation, Side
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    Millis,
    NonEmpty,
    OptFinite,
    decode_failed,
    event_id,
    field,
    load_json,
    opt_finite,
    opt_num,
    rejected_event,
)
from monitor.venues.instruments import Instrument
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

VENUE: Final = "bitget"
UTA_WS_URL: Final = "wss://ws.bitget.com/v3/ws/public"
_V2_PATH: Final = "/v2/ws/public"
_V3_PATH: Final = "/v3/ws/public"
CONTRACTS_PATH: Final = "/api/v2/mix/market/contracts?productType="
PRODUCT_TYPES: Final = ("USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES")
# Delivery contracts carry a month code and year: BTCUSDZ24, ETHUSDH25.
_SYMBOL: Final = re.compile(r"^([A-Z0-9]+?)(USDT|USDC|USD|PERP)([FGHJKMNQUVXZ]\d{2})?$")
# Args per subscribe frame: Bitget caps a request's length (4096 bytes).
_ARGS_PER_FRAME: Final = 25
# UTA ``side`` is the liquidated position's side: ``buy`` = long.
_POSITION_SIDE: Final[dict[str, Side]] = {"buy": "long", "sell": "short"}


def product_type(symbol: str) -> str:
    """The v2 ``instType`` of a symbol: ``BTCUSDT`` → USDT-FUTURES, ``BTCPERP`` → USDC-FUTURES, else COIN."""
    upper = symbol.upper()
    if upper.endswith("USDT"):
        return "USDT-FUTURES"
    if upper.endswith(("PERP", "USDC")):
        return "USDC-FUTURES"
    return "COIN-FUTURES"


def split_bitget(symbol: str) -> tuple[str, str]:
    """(base, quote) of a Bitget symbol; ``PERP`` (USDC perpetuals) quotes in USDC."""
    match = _SYMBOL.match(symbol.upper())
    if match is None:
        raise ParseError(f"bitget: cannot tell base and quote apart in {symbol!r}", reason="unknown_symbol")
    quote = match.group(2)
    return match.group(1), "USDC" if quote == "PERP" else quote


def _contract_of(inst_type: str) -> ContractType:
    return "inverse" if inst_type.upper() == "COIN-FUTURES" else "linear"


def instrument_from_contract(row: dict[str, Any], inst_type: str) -> Instrument | None:
    """An :class:`Instrument` from one ``/api/v2/mix/market/contracts`` entry (sizes in base coin)."""
    symbol = row.get("symbol")
    base = row.get("baseCoin")
    quote = row.get("quoteCoin")
    if not all(isinstance(v, str) and v for v in (symbol, base, quote)):
        return None
    interval = opt_num(row.get("fundInterval"), "bitget fundInterval")
    return Instrument(
        venue=VENUE,
        symbol=str(symbol),
        base=str(base),
        quote=str(quote).upper(),
        contract=_contract_of(inst_type),
        size_unit="base",
        funding_interval_h=interval if interval and interval > 0 else 8.0,
        perpetual=row.get("symbolType", "perpetual") == "perpetual",
    )


# -- the typed readers: one per channel --------------------------------------------------------
class _Arg(msgspec.Struct, gc=False):
    instType: str
    # Read with ``or``: an empty or null value falls through to the next key.
    channel: str | None = None
    topic: str | None = None
    instId: str | None = None
    symbol: str | None = None


class _Push(msgspec.Struct, gc=False):
    """A channel push (``arg`` + ``data``), or an ack or error (``event``)."""

    arg: _Arg | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    ts: Millis | UnsetType = UNSET
    event: str | UnsetType = UNSET
    code: Any = None
    msg: Any = None


class _LiquidationRow(msgspec.Struct, gc=False):
    symbol: NonEmpty
    side: Literal["buy", "sell"]
    price: Finite
    amount: Finite
    ts: Millis | UnsetType = UNSET


class _TickerRow(msgspec.Struct, gc=False):
    instId: str | None = None
    symbol: str | None = None
    ts: Millis | UnsetType = UNSET
    markPrice: OptFinite = None
    fundingRate: OptFinite = None
    # "", null and 0 are "no funding time".
    nextFundingTime: Millis | Literal[""] | None = None
    # Kept raw: 2 / "2" / "delivery" mark a delivery contract, any other spelling a perpetual.
    symbolType: msgspec.Raw | UnsetType = UNSET
    indexPrice: OptFinite = None
    holdingAmount: OptFinite | UnsetType = UNSET
    openInterest: OptFinite = None


_PUSH: Final = msgspec.json.Decoder(_Push, strict=False)
_LIQUIDATION_ROWS: Final = msgspec.json.Decoder(list[_LiquidationRow], strict=False)
_TICKER_ROWS: Final = msgspec.json.Decoder(list[_TickerRow], strict=False)
_DELIVERY_TYPES: Final = frozenset((b"2", b'"2"', b'"delivery"'))


def _perpetual(symbol_type: msgspec.Raw | UnsetType) -> bool:
    """Whether a ticker's ``symbolType`` is a perpetual's (anything but 2 / "2" / "delivery")."""
    return symbol_type is UNSET or bytes(symbol_type) not in _DELIVERY_TYPES


SPEC: Final = VenueSpec(
    name=VENUE,
    adapter="monitor.venues.bitget:BitgetAdapter",
    ws_url="wss://ws.bitget.com/v2/ws/public",
    rest_url="https://api.bitget.com",
    # Bitget asks for a text ping every 30 s and drops a client silent for 2 minutes; older copies of
    # its page give 30 s as the cut-off, so ping every 20 s to be inside both.
    keepalive=Keepalive("client_ping", interval_s=20.0, payload="ping", drop_after_s=120.0),
    # Up to 1000 channels per connection are allowed; Bitget recommends fewer than 50. Every connection closes at 24 h.
    limits=VenueLimits(
        connections=Rate(300, 300.0),
        subscribes=Rate(240, 3600.0),
        messages=Rate(10, 1.0),
        topics_per_connection=1000,
        max_connection_age_s=24 * 3600.0,
    ),
    topics_per_connection=50,
    # Pongs arrive every 30 s, so a quiet liquidation topic stays alive.
    liveness_timeout_s=90.0,
    instruments=tuple(RestRequest(CONTRACTS_PATH + t) for t in PRODUCT_TYPES),
    # The UTA liquidation topic pushes the largest long and short per pair per second.
    sampled=True,
    simulator="monitor.sim.protocols.bitget:BitgetProtocol",
    encoder="monitor.sim.encode.bitget",
    scenario_share=0.10,
    scenario_latency_ms=95,
)


class BitgetAdapter(VenueAdapter):
    """Bitget USDT/USDC/coin-margined futures."""

    spec: ClassVar[VenueSpec] = SPEC

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """v2 ``ticker`` per instId (chunks of 50) and one UTA connection with ``liquidation`` per instType."""
        v2_url, v3_url = self._urls(ws_url)
        wanted = list(symbols) or self.instruments.perpetuals()
        result: list[Connection] = []
        size = self.max_subscriptions_per_connection
        for index in range(0, len(wanted), size):
            chunk = wanted[index : index + size]
            args = [{"instType": product_type(s), "channel": "ticker", "instId": s} for s in chunk]
            result.append(
                Connection(
                    url=v2_url,
                    subscribe=_frames(args),
                    symbols=tuple(chunk),
                    bases=tuple(sorted({self._base_of(s) for s in chunk})),
                    label=f"bitget-ticker-{index // size}",
                )
            )
        types = sorted({product_type(s) for s in wanted}) if wanted else ["USDT-FUTURES"]
        liq_args = [{"instType": t.lower(), "topic": "liquidation"} for t in types]
        # The liquidation topic covers every pair of an instType: bases () = the whole venue.
        result.append(Connection(url=v3_url, subscribe=_frames(liq_args), label="bitget-liquidation"))
        return result

    def _urls(self, override: str | None) -> tuple[str, str]:
        """(v2, v3) URLs; an override is an origin, or a URL ending in ``/v2/ws/public``."""
        if not override:
            return self.ws_url, UTA_WS_URL
        if override.endswith(_V2_PATH):
            return override, override[: -len(_V2_PATH)] + _V3_PATH
        origin = override.rstrip("/")
        return origin + _V2_PATH, origin + _V3_PATH

    def _base_of(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        if inst is not None:
            return inst.base
        try:
            return split_bitget(symbol)[0]
        except ParseError:
            return symbol.upper()

    def read_instruments(self, path: str, body: str | bytes) -> int:
        """Read a contract list; the product type comes from the path's query string."""
        data = field(load_json(body), "data", "bitget contract list")
        if not isinstance(data, list):
            raise ParseError("bitget contract list: 'data' must be an array", reason="schema")
        inst_type = path.rsplit("productType=", 1)[-1].split("&", 1)[0] if "productType=" in path else "USDT-FUTURES"
        loaded = [i for row in data if isinstance(row, dict) and (i := instrument_from_contract(row, inst_type))]
        self.instruments.update(loaded)
        return len(loaded)

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """``liquidation`` and ``ticker`` pushes through their typed readers; ``pong`` and acks give [], errors
        an issue. A frame that does not fit raises ParseError with msgspec's path to the field."""
        if frame in ("pong", b"pong"):
            return []
        try:
            msg = _PUSH.decode(frame)
            if msg.event is not UNSET:
                if msg.event == "error":
                    self._issue("venue_error", f"bitget rejected a request: {msg.code!r:.12} {msg.msg!r:.200}")
                return []
            arg, data = msg.arg, msg.data
            if arg is UNSET or data is UNSET:
                raise ParseError("bitget: a push needs 'arg' and 'data'", reason="schema")
            envelope_ms = recv_ms if msg.ts is UNSET else msg.ts
            channel = arg.channel or arg.topic
            events: list[Event] = []
            if channel == "liquidation":
                # A loop, not a comprehension: most pushes carry one row, and a comprehension is a call more.
                for liquidation in _LIQUIDATION_ROWS.decode(data):
                    events.append(self._liquidation(liquidation, envelope_ms, recv_ms))
                return events
            if channel == "ticker":
                for row in _TICKER_ROWS.decode(data):
                    self._ticker(events, row, arg, envelope_ms, recv_ms)
                return events
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        raise ParseError(f"bitget: unexpected channel {channel!r:.60}", reason="unknown_channel")

    def _liquidation(self, row: _LiquidationRow, envelope_ms: int, recv_ms: int) -> Liquidation:
        inst = self._instrument_of(row.symbol)
        price = row.price + 0.0
        side, amount = _POSITION_SIDE[row.side], row.amount + 0.0
        ts = envelope_ms if row.ts is UNSET else row.ts
        return inst.liquidation(
            event_id(f"bitget|{inst.symbol}|{side}", ts, price, amount),
            ts,
            recv_ms,
            side,
            price,
            amount,
            "quote",
            self.liquidations_sampled,
        )

    def _ticker(self, events: list[Event], row: _TickerRow, arg: _Arg, envelope_ms: int, recv_ms: int) -> None:
        """A ticker row's funding (perpetuals with a funding time) and open interest, appended to ``events``."""
        inst = self._instrument_of(row.instId or row.symbol or arg.instId or arg.symbol)
        ts = envelope_ms if row.ts is UNSET else row.ts
        mark, rate = opt_finite(row.markPrice), opt_finite(row.fundingRate)
        next_ms = row.nextFundingTime or 0
        if rate is not None and next_ms > 0 and _perpetual(row.symbolType):
            events.append(
                inst.funding(
                    event_id(f"bitget|{inst.symbol}|funding", ts, rate),
                    ts,
                    recv_ms,
                    rate,
                    inst.funding_interval_h or 8.0,
                    next_ms,
                    mark,
                    opt_finite(row.indexPrice),
                )
            )
        oi = opt_finite(row.openInterest if row.holdingAmount is UNSET else row.holdingAmount)
        if oi is not None:
            event = inst.open_interest(event_id(f"bitget|{inst.symbol}|oi", ts, oi), ts, recv_ms, oi, mark, "base")
            if event is not None:
                events.append(event)

    def _instrument_of(self, symbol: Any) -> Instrument:
        if not isinstance(symbol, str) or not symbol:
            raise ParseError("bitget: symbol must be a non-empty string", reason="value")
        return self.instrument(symbol)

    def guess_instrument(self, symbol: str) -> Instrument:
        """Base, quote and product type from the symbol's name (sizes in base coin)."""
        base, quote = split_bitget(symbol)
        return Instrument(VENUE, symbol, base, quote, _contract_of(product_type(symbol)), "base")


def _frames(args: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(
        orjson.dumps({"op": "subscribe", "args": args[i : i + _ARGS_PER_FRAME]}).decode()
        for i in range(0, len(args), _ARGS_PER_FRAME)
    )
