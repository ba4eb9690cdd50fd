"""Bitfinex derivatives: the ``status`` channel, ``liq:global`` (liquidations) and ``deriv:<symbol>`` (funding, OI).

Every push is an array ``[CHANNEL_ID, payload]``; the channel id is assigned in
the ``subscribed`` event of each connection, so the adapter keeps the map from
id to key per connection (:meth:`reset` clears it). ``[CHANNEL_ID, "hb"]`` is
the server's heartbeat. One typed reader per channel: the payloads are decoded
straight into array-like Structs whose fields carry their bounds, and a frame
that does not fit gives a ParseError naming the field's path.

Liquidations (``liq:global``): one ``pos`` row per event; ``AMOUNT`` is the
position size, positive for a long and negative for a short (so the side of
the liquidated position is its sign); ``IS_MATCH`` 0 is the trigger and 1 the
market execution. Only executions become events (price: the price the
position was taken over at, the row's last field; id: the position id), so a
liquidation is counted once. The feed carries margin positions on spot pairs
too (``tBSVUSD``); they are liquidations of leveraged positions and counted as
linear.

Derivatives status: ``CURRENT_FUNDING`` is the funding applied in the current
8 h period (a fraction), ``NEXT_FUNDING_EVT_TIMESTAMP_MS`` the next funding
time, ``MARK_PRICE`` the mark, ``OPEN_INTEREST`` the outstanding contracts
(one contract is one unit of the base asset, as amounts are).

Symbols: ``t<BASE>F0:<QUOTE>F0`` for perpetuals; ``UST`` is Bitfinex's name for
USDT. Facts and sources: docs/venues-bitfinex.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Final

import msgspec
import orjson

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import decode_failed, load_json, rejected_event, url_join
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

VENUE: Final = "bitfinex"
WS_PATH: Final = "/ws/2"
STATUS_PATH: Final = "/v2/status/deriv?keys=ALL"
LIQUIDATIONS: Final = "liq:global"
INTERVAL_H: Final = 8.0
_QUOTE_NAMES: Final = {"UST": "USDT", "UDC": "USDC"}

_Price = Annotated[float, msgspec.Meta(ge=0.0, le=1e300)]
_Millis = Annotated[float, msgspec.Meta(ge=0.0, le=2**53)]
_Signed = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]
_Symbol = Annotated[str, msgspec.Meta(min_length=2)]


class _Position(msgspec.Struct, gc=False, array_like=True):
    """A ``liq:global`` row: MSG_TYPE, POS_ID, TIME_MS, -, SYMBOL, AMOUNT, BASE_PRICE, -, IS_MATCH, IS_MARKET_SOLD, -,
    PRICE_ACQUIRED (trailing fields Bitfinex may add are ignored)."""

    msg_type: str
    pos_id: int
    time_ms: _Millis
    _p1: Any
    symbol: _Symbol
    amount: _Signed
    base_price: _Price | None
    _p2: Any
    is_match: int
    is_market_sold: int | None = None
    _p3: Any = None
    price: _Price | None = None


class _Status(msgspec.Struct, gc=False, array_like=True):
    """A ``deriv:`` payload: TIME_MS, -, DERIV_PRICE, SPOT_PRICE, -, INSURANCE_FUND_BALANCE, -, NEXT_FUNDING_EVT_MS,
    NEXT_FUNDING_ACCRUED, NEXT_FUNDING_STEP, -, CURRENT_FUNDING, -, -, MARK_PRICE, -, -, OPEN_INTEREST, ..."""

    time_ms: _Millis
    _p1: Any
    deriv_price: _Price | None
    spot_price: _Price | None
    _p2: Any
    insurance: Any
    _p3: Any
    next_funding_ms: _Millis | None
    accrued: _Signed | None
    step: Any
    _p4: Any
    funding: _Signed | None
    _p5: Any = None
    _p6: Any = None
    mark_price: _Price | None = None
    _p7: Any = None
    _p8: Any = None
    open_interest: _Price | None = None


_PUSH: Final = msgspec.json.Decoder(tuple[int, msgspec.Raw])
_POSITIONS: Final = msgspec.json.Decoder(list[_Position])
_STATUS: Final = msgspec.json.Decoder(_Status)
_ROWS: Final = msgspec.json.Decoder(list[list[Any]])
_HEARTBEAT: Final = b'"hb"'


SPEC: Final = VenueSpec(
    name=VENUE,
    adapter="monitor.venues.bitfinex:BitfinexAdapter",
    ws_url="wss://api-pub.bitfinex.com",
    rest_url="https://api-pub.bitfinex.com",
    # Bitfinex answers {"event":"ping"} with a pong; the server also sends a heartbeat per channel every 15 s.
    keepalive=Keepalive("client_ping", interval_s=20.0, payload='{"event":"ping","cid":1}', drop_after_s=60.0),
    limits=VenueLimits(connections=Rate(20, 60.0), topics_per_connection=25),
    topics_per_connection=25,
    liveness_timeout_s=60.0,
    instruments=(RestRequest(STATUS_PATH),),
    simulator="monitor.sim.protocols.bitfinex:BitfinexProtocol",
    encoder="monitor.sim.encode.bitfinex",
    scenario_share=0.03,
    scenario_latency_ms=85,
)


def names(symbol: str) -> tuple[str, str]:
    """(base, quote) of a Bitfinex symbol: ``tBTCF0:USTF0`` → (BTC, USDT), ``tBSVUSD`` → (BSV, USD)."""
    pair = symbol[1:] if symbol[:1] in ("t", "f") else symbol
    base, sep, quote = pair.partition(":")
    if not sep:
        base, quote = pair[:3], pair[3:]
    base, quote = base.removesuffix("F0"), quote.removesuffix("F0")
    if not base or not quote:
        raise ParseError(f"bitfinex: cannot read base and quote from {symbol!r:.40}", reason="unknown_symbol")
    return base, _QUOTE_NAMES.get(quote, quote)


class BitfinexAdapter(VenueAdapter):
    """Bitfinex perpetuals: ``liq:global`` on the first connection, ``deriv:`` status per symbol."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._channels: dict[int, str] = {}

    def reset(self) -> None:
        """Channel ids are per connection."""
        self._channels.clear()

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """``liq:global`` plus one ``deriv:`` key per symbol, 25 channels per connection."""
        url = url_join(ws_url or self.ws_url, WS_PATH)
        keys = [LIQUIDATIONS, *(f"deriv:{s}" for s in (list(symbols) or self.instruments.perpetuals()))]
        size = self.max_subscriptions_per_connection
        result = []
        for index, batch in enumerate(keys[i : i + size] for i in range(0, len(keys), size)):
            frames = tuple(
                orjson.dumps({"event": "subscribe", "channel": "status", "key": key}).decode() for key in batch
            )
            chosen = tuple(k.removeprefix("deriv:") for k in batch if k != LIQUIDATIONS)
            bases = () if LIQUIDATIONS in batch else tuple(sorted({names(s)[0] for s in chosen}))
            result.append(Connection(url, frames, symbols=chosen, bases=bases, label=f"status-{index + 1}"))
        return result

    # -- instruments ---------------------------------------------------------------------------
    def read_instruments(self, path: str, body: str | bytes) -> int:
        """``/v2/status/deriv?keys=ALL``: one row per derivative, the key first."""
        try:
            rows = _ROWS.decode(body)
        except msgspec.MsgspecError as exc:
            raise decode_failed("bitfinex instruments", exc) from None
        return self._load_instrument_rows((row[0] if row else None for row in rows), self.guess_instrument, "status")

    def guess_instrument(self, symbol: Any) -> Instrument:
        """Base and quote from the symbol; amounts are in base units on every Bitfinex derivative."""
        if not isinstance(symbol, str) or not symbol:
            raise ParseError(f"bitfinex: expected a symbol, got {symbol!r:.40}", reason="schema")
        base, quote = names(symbol)
        return Instrument(VENUE, symbol, base, quote, "linear", "base", 1.0, funding_interval_h=INTERVAL_H)

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Pushes through their typed readers; events (subscribed, info, pong, error) through the dict reader."""
        if frame[:1] not in ("[", b"["):
            return self._control(frame)
        try:
            channel, payload = _PUSH.decode(frame)
            if len(payload) == len(_HEARTBEAT) and bytes(payload) == _HEARTBEAT:
                return []
            key = self._channels.get(channel)
            if key is None:
                raise ParseError(f"bitfinex: push on unknown channel {channel}", reason="unknown_channel")
            if key == LIQUIDATIONS:
                return self._liquidations(_POSITIONS.decode(payload), recv_ms)
            return self._status(key.removeprefix("deriv:"), _STATUS.decode(payload), recv_ms)
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(VENUE, exc) from None

    def _control(self, frame: str | bytes) -> list[Event]:
        msg = load_json(frame)
        if not isinstance(msg, dict):
            raise ParseError("bitfinex: expected an array or an event object", reason="schema")
        event = msg.get("event")
        if event == "subscribed" and isinstance(msg.get("chanId"), int) and isinstance(msg.get("key"), str):
            self._channels[msg["chanId"]] = msg["key"]
        elif event == "error":
            self._issue("subscription_rejected", f"bitfinex error {msg.get('code')!r:.12}: {msg.get('msg')!r:.200}")
        return []

    def _liquidations(self, rows: list[_Position], recv_ms: int) -> list[Event]:
        events: list[Event] = []
        for row in rows:
            if row.msg_type != "pos" or row.is_match != 1 or row.price is None or row.amount == 0:
                continue  # a trigger; its execution follows
            inst = self.instrument(row.symbol)
            events.append(
                inst.liquidation(
                    f"bfx-{row.pos_id}",
                    int(row.time_ms),
                    recv_ms,
                    "long" if row.amount > 0 else "short",
                    row.price,
                    abs(row.amount),
                    None,
                    self.liquidations_sampled,
                )
            )
        return events

    def _status(self, symbol: str, status: _Status, recv_ms: int) -> list[Event]:
        inst = self.instrument(symbol)
        ts = int(status.time_ms)
        events: list[Event] = []
        if status.funding is not None:
            next_ms = int(status.next_funding_ms) if status.next_funding_ms else None
            events.append(
                inst.funding(
                    f"bfx-{symbol}-f-{ts}", ts, recv_ms, status.funding + 0.0, INTERVAL_H, next_ms, status.mark_price
                )
            )
        if status.open_interest is not None:
            oi = inst.open_interest(f"bfx-{symbol}-oi-{ts}", ts, recv_ms, status.open_interest, status.mark_price)
            if oi is not None:
                events.append(oi)
        return events
