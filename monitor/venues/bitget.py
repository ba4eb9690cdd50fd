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
from typing import Any, ClassVar, Final

import orjson

from monitor.errors import ParseError
from monitor.events import ContractType, Event, Funding, Liquidation, OpenInterest, Side, rate_8h
from monitor.venues.adapter import Connection, Keepalive, VenueAdapter
from monitor.venues.common import event_id, field, frame_errors, is_usd, load_json, ms, num, opt_num
from monitor.venues.instruments import Instrument

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


class BitgetAdapter(VenueAdapter):
    """Bitget USDT/USDC/coin-margined futures."""

    name: ClassVar[str] = VENUE
    ws_url: ClassVar[str] = "wss://ws.bitget.com/v2/ws/public"
    rest_url: ClassVar[str] = "https://api.bitget.com"
    # Text ping every 30 s; a client silent for 2 minutes is dropped.
    keepalive: ClassVar[Keepalive] = Keepalive(mode="text", interval_s=30.0, payload="ping", drop_after_s=120.0)
    # Up to 1000 channels per connection are allowed; Bitget recommends fewer than 50.
    max_subscriptions_per_connection: ClassVar[int] = 50
    # Bitget closes every connection after 24 h.
    max_connection_age_s: ClassVar[float | None] = 24 * 3600.0
    # Pongs arrive every 30 s, so a quiet liquidation topic stays alive.
    liveness_timeout_s: ClassVar[float] = 90.0

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

    def instrument_paths(self) -> list[str]:
        """Contract lists of the three futures product types."""
        return [CONTRACTS_PATH + t for t in PRODUCT_TYPES]

    def load_instruments(self, path: str, body: str | bytes) -> int:
        """Read a contract list; the product type comes from the path's query string."""
        data = field(load_json(body), "data", "bitget contract list")
        if not isinstance(data, list):
            raise ParseError("bitget contract list: 'data' must be an array", reason="schema")
        inst_type = path.rsplit("productType=", 1)[-1].split("&", 1)[0] if "productType=" in path else "USDT-FUTURES"
        loaded = [i for row in data if isinstance(row, dict) and (i := instrument_from_contract(row, inst_type))]
        self.instruments.update(loaded)
        return len(loaded)

    # -- parsing -------------------------------------------------------------------------------
    def parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Normalize one frame; ``pong`` and subscribe acks give []."""
        with frame_errors(self.name):
            return self._parse(frame, recv_ms)

    def _parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        if frame in ("pong", b"pong"):
            return []
        msg = load_json(frame)
        if not isinstance(msg, dict):
            raise ParseError("bitget: expected a JSON object", reason="schema")
        if "event" in msg:
            if msg["event"] == "error":
                self._issue("venue_error", f"bitget rejected a request: {msg.get('code')} {msg.get('msg')!r}")
            return []
        arg = field(msg, "arg", "bitget frame")
        data = field(msg, "data", "bitget frame")
        if not isinstance(data, list):
            raise ParseError("bitget: 'data' must be an array", reason="schema")
        inst_type = field(arg, "instType", "bitget arg")
        if not isinstance(inst_type, str):
            raise ParseError("bitget: instType must be a string", reason="value")
        envelope_ms = ms(msg["ts"], "bitget ts") if "ts" in msg else recv_ms
        channel = arg.get("channel") or arg.get("topic")
        if channel == "liquidation":
            return [self._liquidation(row, inst_type, envelope_ms, recv_ms) for row in data]
        if channel == "ticker":
            fallback = arg.get("instId") or arg.get("symbol")
            return [e for row in data for e in self._ticker(row, inst_type, fallback, envelope_ms, recv_ms)]
        raise ParseError(f"bitget: unexpected channel {channel!r}", reason="unknown_channel")

    def _identity(self, symbol: Any, inst_type: str) -> tuple[str, Instrument | None, str, str, ContractType]:
        if not isinstance(symbol, str) or not symbol:
            raise ParseError("bitget: symbol must be a non-empty string", reason="value")
        inst = self.instruments.get(symbol)
        if inst is not None:
            return symbol, inst, inst.base, inst.quote, inst.contract
        base, quote = split_bitget(symbol)
        return symbol, None, base, quote, _contract_of(inst_type)

    def _liquidation(self, row: Any, inst_type: str, envelope_ms: int, recv_ms: int) -> Liquidation:
        symbol, _, base, quote, kind = self._identity(field(row, "symbol", "bitget liquidation"), inst_type)
        side = _position_side(field(row, "side", "bitget liquidation"))
        price = num(field(row, "price", "bitget liquidation"), "bitget liquidation price")
        amount = num(field(row, "amount", "bitget liquidation"), "bitget liquidation amount")
        if price <= 0:
            raise ParseError(f"bitget liquidation: price must be positive, got {price!r}", reason="value")
        ts = ms(row["ts"], "bitget liquidation ts") if "ts" in row else envelope_ms
        qty = amount / price  # amount is quote currency
        return Liquidation(
            id=event_id(f"bitget|{symbol}|{side}", ts, price, amount),
            venue=VENUE,
            symbol=symbol,
            base=base,
            quote=quote,
            contract=kind,
            ts_ms=ts,
            recv_ms=recv_ms,
            side=side,
            price=price,
            qty_base=qty,
            notional_usd=amount if is_usd(quote) else None,
        )

    def _ticker(self, row: Any, inst_type: str, fallback: Any, envelope_ms: int, recv_ms: int) -> list[Event]:
        if not isinstance(row, dict):
            raise ParseError("bitget ticker: data entries must be objects", reason="schema")
        raw_symbol = row.get("instId") or row.get("symbol") or fallback
        symbol, inst, base, quote, kind = self._identity(raw_symbol, inst_type)
        ts = ms(row["ts"], "bitget ticker ts") if "ts" in row else envelope_ms
        mark = opt_num(row.get("markPrice"), "bitget markPrice")
        common: dict[str, Any] = {
            "venue": VENUE,
            "symbol": symbol,
            "base": base,
            "quote": quote,
            "contract": kind,
            "ts_ms": ts,
            "recv_ms": recv_ms,
        }
        events: list[Event] = []
        rate = opt_num(row.get("fundingRate"), "bitget fundingRate")
        next_ms = ms(row["nextFundingTime"], "bitget nextFundingTime") if row.get("nextFundingTime") else 0
        # Delivery contracts have no funding: nextFundingTime "0", symbolType 2 / "delivery".
        perpetual = next_ms > 0 and str(row.get("symbolType", "1")) not in ("2", "delivery")
        if rate is not None and perpetual:
            interval = inst.funding_interval_h if inst is not None and inst.funding_interval_h else 8.0
            events.append(
                Funding(
                    id=event_id(f"bitget|{symbol}|funding", ts, rate),
                    rate=rate,
                    interval_h=interval,
                    rate_8h=rate_8h(rate, interval),
                    next_funding_ms=next_ms,
                    mark_price=mark,
                    index_price=opt_num(row.get("indexPrice"), "bitget indexPrice"),
                    **common,
                )
            )
        holding = row.get("holdingAmount", row.get("openInterest"))
        oi = opt_num(holding, "bitget open interest")
        if oi is not None:
            events.append(
                OpenInterest(
                    id=event_id(f"bitget|{symbol}|oi", ts, oi),
                    oi_base=oi,
                    oi_usd=oi * mark if mark is not None and is_usd(quote) else None,
                    **common,
                )
            )
        return events


def _frames(args: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(
        orjson.dumps({"op": "subscribe", "args": args[i : i + _ARGS_PER_FRAME]}).decode()
        for i in range(0, len(args), _ARGS_PER_FRAME)
    )


def _position_side(value: Any) -> Side:
    """UTA ``side`` is the liquidated position's side: ``buy`` = long."""
    if value == "buy":
        return "long"
    if value == "sell":
        return "short"
    raise ParseError(f"bitget liquidation: side must be buy or sell, got {value!r}", reason="value")
