"""Gate futures v4: ``futures.public_liquidates``, ``futures.tickers`` and ``futures.contract_stats``.

Sizes are contracts: USDT-settled contracts hold ``quanto_multiplier`` base
units each; BTC-settled inverse contracts (``BTC_USD``) are taken as 1 USD
each. The liquidation ``size`` is signed: negative is a sell order, so a long
position was liquidated. Times come as seconds or milliseconds depending on the
docs version; :func:`epoch_ms` tells them apart by magnitude. ``result`` may be
an array, a nested array or a single object; all three are accepted.

Every connection carries the handshake header ``X-Gate-Size-Decimal: 1``:
without it fractional sizes are floored to integers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Final, TypeVar

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import ContractType, Event, Liquidation, OpenInterest
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    NonEmpty,
    OptFinite,
    decode_failed,
    event_id,
    load_json,
    num,
    opt_finite,
    opt_num,
    rejected_event,
)
from monitor.venues.instruments import Instrument
from monitor.venues.spec import Keepalive, RestRequest, VenueSpec

VENUE: Final = "gate"
USDT_PATH: Final = "/api/v4/futures/usdt/contracts"
BTC_PATH: Final = "/api/v4/futures/btc/contracts"
_SETTLE_PATH: Final = re.compile(r"/v4/ws/(usdt|btc|usd1)$")
# Seconds below this, milliseconds above (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD: Final = 100_000_000_000
# Requests carry their send time in seconds; Gate refuses one more than 60 s away from its clock.
# Subscribe frames are planned with this placeholder and stamped when sent (GateAdapter.outgoing).
_UNSTAMPED: Final = '{"time":0,'
_CONTROL_EVENTS: Final = frozenset(("subscribe", "unsubscribe"))
# (contract, instrument if known, base, quote, linear/inverse) of a contract name.


def epoch_ms(value: Any, name: str) -> int:
    """Epoch milliseconds from a Gate time in seconds or milliseconds (told apart by magnitude)."""
    return _epoch_ms(num(value, name), value, name)


def _epoch_ms(number: float, value: Any, name: str) -> int:
    """:func:`epoch_ms` of ``value`` read as the finite ``number`` (by num(), or by a typed reader: a
    :data:`Finite` plus 0.0 is what num() would give, so the frames' times skip its checks, a call each)."""
    if number < 0:
        raise ParseError(f"gate {name}: negative time {value!r}", reason="value")
    return int(number * 1000) if number < _MS_THRESHOLD else int(number)


def settle_of(contract: str) -> str:
    """Settlement market of a contract name: ``BTC_USD`` → ``btc``, ``BTC_USDT`` → ``usdt``."""
    return "btc" if contract.upper().endswith("_USD") else "usdt"


def _split(contract: str) -> tuple[str, str]:
    base, sep, quote = contract.upper().partition("_")
    if not sep or not base or not quote:
        raise ParseError(f"gate: cannot split contract name {contract!r}", reason="unknown_symbol")
    return base, quote


def instrument_from_contract(row: dict[str, Any], settle: str) -> Instrument | None:
    """An :class:`Instrument` from one ``/futures/{settle}/contracts`` entry, None if not describable."""
    name = row.get("name")
    if not isinstance(name, str) or "_" not in name:
        return None
    base, quote = _split(name)
    inverse = row.get("type") == "inverse" or settle == "btc"
    interval_s = opt_num(row.get("funding_interval"), "gate funding_interval")
    interval_h = interval_s / 3600.0 if interval_s and interval_s > 0 else 8.0
    if inverse:
        # BTC-settled inverse contracts report quanto_multiplier "0"; their face value is 1 USD.
        size: float | None = 1.0
    else:
        size = opt_num(row.get("quanto_multiplier"), "gate quanto_multiplier")
        size = size if size else None
    return Instrument(
        venue=VENUE,
        symbol=name,
        base=base,
        quote=quote,
        contract="inverse" if inverse else "linear",
        size_unit="contracts",
        contract_size=size,
        funding_interval_h=interval_h,
    )


# -- the typed readers: one per channel --------------------------------------------------------
# A time as epoch_ms() reads it (seconds or milliseconds).
_Time = Finite | UnsetType


class _Update(msgspec.Struct, gc=False):
    """Every frame: a channel update, an ack (subscribe/unsubscribe), a pong, a system notice or an error."""

    channel: str
    event: str = ""
    result: msgspec.Raw | UnsetType = UNSET
    time_ms: _Time = UNSET
    time: _Time = UNSET
    error: Any = None


class _LiquidationRow(msgspec.Struct, gc=False):
    contract: NonEmpty
    price: Finite
    size: Finite
    time_ms: _Time = UNSET
    time: _Time = UNSET


class _TickerRow(msgspec.Struct, gc=False):
    contract: NonEmpty
    t: _Time = UNSET
    mark_price: OptFinite = None
    funding_rate: OptFinite = None
    index_price: OptFinite = None
    total_size: OptFinite = None


class _StatsRow(msgspec.Struct, gc=False):
    contract: NonEmpty
    open_interest: Finite
    mark_price: OptFinite = None
    time_ms: _Time = UNSET
    time: _Time = UNSET


# ``result`` is a row, an array of rows, or arrays of rows nested in it.
_UPDATE: Final = msgspec.json.Decoder(_Update, strict=False)
_LIQUIDATIONS: Final = msgspec.json.Decoder(list[_LiquidationRow] | _LiquidationRow, strict=False)
_TICKER_ROWS: Final = msgspec.json.Decoder(list[_TickerRow] | _TickerRow, strict=False)
_STATS_ROWS: Final = msgspec.json.Decoder(list[_StatsRow] | _StatsRow, strict=False)
_NESTED: Final = msgspec.json.Decoder(list[msgspec.Raw], strict=False)
_Row = TypeVar("_Row", _LiquidationRow, _TickerRow, _StatsRow)


def _rows(raw: msgspec.Raw, decoder: msgspec.json.Decoder[list[_Row] | _Row]) -> list[_Row]:
    """The rows of ``result``: one, an array, or arrays nested in it (read again, a level at a time)."""
    try:
        result = decoder.decode(raw)
    except msgspec.ValidationError:
        if memoryview(raw)[:1] != b"[":
            raise
        return [row for item in _NESTED.decode(raw) for row in _rows(item, decoder)]
    return result if isinstance(result, list) else [result]


def _time_ms(time_ms: float | UnsetType, time: float | UnsetType, default: int) -> int:
    """A row's or envelope's time: ``time_ms`` first, then ``time``, else ``default``."""
    if time_ms is not UNSET:
        return _epoch_ms(time_ms + 0.0, time_ms, "time_ms")
    if time is not UNSET:
        return _epoch_ms(time + 0.0, time, "time")
    return default


SPEC: Final = VenueSpec(
    name=VENUE,
    adapter="monitor.venues.gate:GateAdapter",
    ws_url="wss://fx-ws.gateio.ws/v4/ws/usdt",
    rest_url="https://api.gateio.ws",
    # The server sends protocol pings (answered by the websocket library); the application
    # ping gives a futures.pong frame, so a quiet liquidation feed still shows liveness.
    keepalive=Keepalive("client_ping", interval_s=20.0, payload=None, drop_after_s=60.0),
    topics_per_connection=200,
    liveness_timeout_s=90.0,
    instruments=(RestRequest(USDT_PATH), RestRequest(BTC_PATH)),
    simulator="monitor.sim.protocols.gate:GateProtocol",
    encoder="monitor.sim.encode.gate",
    scenario_share=0.08,
    scenario_latency_ms=110,
)


class GateAdapter(VenueAdapter):
    """Gate USDT- and BTC-settled perpetual futures."""

    spec: ClassVar[VenueSpec] = SPEC
    # Sent on every handshake: sizes as decimal strings instead of floored integers.
    ws_headers: ClassVar[tuple[tuple[str, str], ...]] = (("X-Gate-Size-Decimal", "1"),)

    # -- subscriptions -------------------------------------------------------------------------
    def outgoing(self, message: str) -> str:
        """A planned subscribe frame stamped with the request time (Gate checks it against its clock)."""
        if message.startswith(_UNSTAMPED):
            return f'{{"time":{_request_time()},' + message[len(_UNSTAMPED) :]
        return message

    def ping_payload(self) -> str:
        """``futures.ping`` with the request time."""
        return f'{{"time":{_request_time()},"channel":"futures.ping"}}'

    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """Liquidations + tickers per settlement market; ``!all`` liquidations when ``symbols`` is empty."""
        by_settle: dict[str, list[str]] = {"usdt": [], "btc": []}
        everything = not symbols
        wanted = list(symbols) or self.instruments.perpetuals()
        for contract in wanted:
            by_settle.setdefault(settle_of(contract), []).append(contract)
        result: list[Connection] = []
        for settle, contracts in by_settle.items():
            if not contracts and not (everything and settle == "usdt"):
                continue
            url = self._url(ws_url, settle)
            size = self.max_subscriptions_per_connection
            chunks = [contracts[i : i + size] for i in range(0, len(contracts), size)] or [[]]
            for index, chunk in enumerate(chunks):
                frames: list[str] = []
                if index == 0 and everything:
                    frames.append(_subscribe("futures.public_liquidates", ["!all"]))
                elif chunk:
                    frames.append(_subscribe("futures.public_liquidates", chunk))
                if chunk:
                    frames.append(_subscribe("futures.tickers", chunk))
                venue_wide = index == 0 and everything
                result.append(
                    Connection(
                        url=url,
                        subscribe=tuple(frames),
                        symbols=tuple(chunk),
                        bases=() if venue_wide else tuple(sorted({_split(c)[0] for c in chunk})),
                        label=f"gate-{settle}-{index}",
                        headers=self.ws_headers,
                    )
                )
        return result

    def _url(self, override: str | None, settle: str) -> str:
        """The websocket URL of a settlement market; an override is an origin or a ``/v4/ws/usdt`` URL."""
        if not override:
            return _SETTLE_PATH.sub(f"/v4/ws/{settle}", self.ws_url)
        if _SETTLE_PATH.search(override):
            return _SETTLE_PATH.sub(f"/v4/ws/{settle}", override)
        return override.rstrip("/") + f"/v4/ws/{settle}"

    def read_instruments(self, path: str, body: str | bytes) -> int:
        """Read a contract list; the settlement market comes from the path."""
        data = load_json(body)
        if not isinstance(data, list):
            raise ParseError("gate contract list: expected a JSON array", reason="schema")
        settle = "btc" if "/btc/" in path else "usdt"
        loaded = [i for row in data if isinstance(row, dict) and (i := instrument_from_contract(row, settle))]
        self.instruments.update(loaded)
        return len(loaded)

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Updates of the three channels through their typed readers; pongs and acks give [], errors and
        system notices an issue. A frame that does not fit raises ParseError with msgspec's path to the field."""
        try:
            msg = _UPDATE.decode(frame)
            channel, event = msg.channel, msg.event
            if msg.error:
                self._issue("venue_error", f"gate {channel}: {msg.error!r:.200}")
                return []
            if channel == "futures.pong" or event in _CONTROL_EVENTS:
                return []
            if channel == "futures.system":
                notice = bytes(msg.result) if msg.result is not UNSET else b""
                self._issue("venue_notice", f"gate system notice (reconnect advised): {notice!r:.200}")
                return []
            if event not in ("update", "all"):
                raise ParseError(f"gate {channel!r:.40}: unexpected event {event!r:.20}", reason="schema")
            if msg.result is UNSET:
                raise ParseError(f"gate {channel!r:.40}: missing field 'result'", reason="schema")
            envelope_ms = _time_ms(msg.time_ms, msg.time, recv_ms)
            # Loops, not comprehensions: most pushes carry one row, and a comprehension is a call more.
            events: list[Event] = []
            if channel == "futures.tickers":
                for ticker in _rows(msg.result, _TICKER_ROWS):
                    self._ticker(events, ticker, envelope_ms, recv_ms)
                return events
            if channel == "futures.public_liquidates":
                for liquidated in _rows(msg.result, _LIQUIDATIONS):
                    events.append(self._liquidation(liquidated, envelope_ms, recv_ms))
                return events
            if channel == "futures.contract_stats":
                for stats in _rows(msg.result, _STATS_ROWS):
                    oi = self._stats(stats, envelope_ms, recv_ms)
                    if oi is not None:
                        events.append(oi)
                return events
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        raise ParseError(f"gate: unexpected channel {channel!r:.60}", reason="unknown_channel")

    def _ticker(self, events: list[Event], row: _TickerRow, envelope_ms: int, recv_ms: int) -> None:
        """A ticker row's funding and open interest, appended to ``events``."""
        inst = self.instrument(row.contract)
        ts = envelope_ms if row.t is UNSET else _epoch_ms(row.t + 0.0, row.t, "gate ticker t")
        mark, rate, total = opt_finite(row.mark_price), opt_finite(row.funding_rate), opt_finite(row.total_size)
        if rate is not None:
            events.append(
                inst.funding(
                    event_id(f"gate|{inst.symbol}|funding", ts, rate),
                    ts,
                    recv_ms,
                    rate,
                    inst.funding_interval_h or 8.0,
                    None,
                    mark,
                    opt_finite(row.index_price),
                )
            )
        if total is not None:
            oi = self._open_interest(inst, ts, recv_ms, total, mark)
            if oi is not None:
                events.append(oi)

    def _liquidation(self, row: _LiquidationRow, envelope_ms: int, recv_ms: int) -> Liquidation:
        inst = self.instrument(row.contract)
        size, price = row.size + 0.0, row.price + 0.0
        if size == 0:
            raise ParseError("gate liquidation: size 0 has no side", reason="value")
        ts = _time_ms(row.time_ms, row.time, envelope_ms)
        event = inst.liquidation(
            event_id(f"gate|{inst.symbol}", ts, price, size),
            ts,
            recv_ms,
            "long" if size < 0 else "short",
            price,
            abs(size),
            None,
            self.liquidations_sampled,
        )
        if event.qty_base is None:
            self._unknown_size(inst.symbol)
        return event

    def _stats(self, row: _StatsRow, envelope_ms: int, recv_ms: int) -> OpenInterest | None:
        # open_interest_usd is ignored: the docs example (1511) contradicts its own mark and size.
        return self._open_interest(
            self.instrument(row.contract),
            _time_ms(row.time_ms, row.time, envelope_ms),
            recv_ms,
            row.open_interest + 0.0,
            opt_finite(row.mark_price),
        )

    def guess_instrument(self, symbol: str) -> Instrument:
        """Base and quote from the contract name, inverse when BTC-settled; the contract size is unknown."""
        base, quote = _split(symbol)
        kind: ContractType = "inverse" if settle_of(symbol) == "btc" else "linear"
        return Instrument(VENUE, symbol, base, quote, kind, "contracts", contract_size=None)

    def _open_interest(
        self, inst: Instrument, ts: int, recv_ms: int, contracts: float, mark: float | None
    ) -> OpenInterest | None:
        """The OpenInterest of a row's contracts, or None (and an issue) without a size."""
        oi = inst.open_interest(event_id(f"gate|{inst.symbol}|oi", ts, contracts), ts, recv_ms, contracts, mark)
        if oi is None:
            self._issue(
                "unknown_contract", f"gate {inst.symbol}: open interest size unknown (no contract spec or mark)"
            )
        return oi


def _subscribe(channel: str, payload: list[str]) -> str:
    return orjson.dumps({"time": 0, "channel": channel, "event": "subscribe", "payload": payload}).decode()


def _request_time() -> int:
    return int(time.time())
