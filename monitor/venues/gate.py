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
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final, Literal, TypeVar

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import ParseError
from monitor.events import ContractType, Event, Funding, Liquidation, OpenInterest, rate_8h
from monitor.venues.adapter import Connection, Keepalive, VenueAdapter
from monitor.venues.common import (
    FastPathMiss,
    Finite,
    NonEmpty,
    OptFinite,
    event_id,
    field,
    frame_errors,
    is_usd,
    load_json,
    num,
    opt_finite,
    opt_num,
)
from monitor.venues.instruments import Instrument

VENUE: Final = "gate"
USDT_PATH: Final = "/api/v4/futures/usdt/contracts"
BTC_PATH: Final = "/api/v4/futures/btc/contracts"
_SETTLE_PATH: Final = re.compile(r"/v4/ws/(usdt|btc|usd1)$")
# Seconds below this, milliseconds above (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD: Final = 100_000_000_000
# Any fixed request time is accepted for public channels (the docs use 123456).
_REQUEST_TIME: Final = 123456
_CONTROL_EVENTS: Final = frozenset(("subscribe", "unsubscribe"))
# (contract, instrument if known, base, quote, linear/inverse) of a contract name.
_Identity = tuple[str, Instrument | None, str, str, ContractType]


def epoch_ms(value: Any, name: str) -> int:
    """Epoch milliseconds from a Gate time in seconds or milliseconds (told apart by magnitude)."""
    number = num(value, name)
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


def rows(result: Any) -> Iterator[dict[str, Any]]:
    """The row objects of a ``result``: an object, an array of objects, or arrays nested in it."""
    if isinstance(result, dict):
        yield result
        return
    if not isinstance(result, list):
        raise ParseError(f"gate: 'result' must be an object or array, got {type(result).__name__}", reason="schema")
    for item in result:
        if isinstance(item, list):
            yield from rows(item)
        elif isinstance(item, dict):
            yield item
        else:
            raise ParseError("gate: 'result' holds a non-object entry", reason="schema")


# -- frame shapes read by the typed fast path (see monitor.venues.common) -------------------------
# A time as epoch_ms() reads it.
_Time = Finite | UnsetType


class _Update(msgspec.Struct):
    channel: str
    event: Literal["update", "all"]
    result: msgspec.Raw
    time_ms: _Time = UNSET
    time: _Time = UNSET
    # A frame with a non-null error is the generic reader's business.
    error: None = None


class _LiquidationRow(msgspec.Struct):
    contract: NonEmpty
    price: Finite
    size: Finite
    time_ms: _Time = UNSET
    time: _Time = UNSET


class _TickerRow(msgspec.Struct):
    contract: NonEmpty
    t: _Time = UNSET
    mark_price: OptFinite = None
    funding_rate: OptFinite = None
    index_price: OptFinite = None
    total_size: OptFinite = None


class _StatsRow(msgspec.Struct):
    contract: NonEmpty
    open_interest: Finite
    mark_price: OptFinite = None
    time_ms: _Time = UNSET
    time: _Time = UNSET


# ``result`` as an array of rows or a single row (nested arrays are left to the generic reader).
_UPDATE: Final = msgspec.json.Decoder(_Update, strict=False)
_LIQUIDATIONS: Final = msgspec.json.Decoder(list[_LiquidationRow] | _LiquidationRow, strict=False)
_TICKER_ROWS: Final = msgspec.json.Decoder(list[_TickerRow] | _TickerRow, strict=False)
_STATS_ROWS: Final = msgspec.json.Decoder(list[_StatsRow] | _StatsRow, strict=False)
_Row = TypeVar("_Row", _LiquidationRow, _TickerRow, _StatsRow)


def _listed(result: list[_Row] | _Row) -> list[_Row]:
    return result if isinstance(result, list) else [result]


def _fast_ms(time_ms: float | UnsetType, time: float | UnsetType, default: int) -> int:
    """:func:`_envelope_ms` / :func:`_row_ms` for decoded times: ``time_ms`` first, then ``time``."""
    if time_ms is not UNSET:
        return epoch_ms(time_ms, "time_ms")
    if time is not UNSET:
        return epoch_ms(time, "time")
    return default


class GateAdapter(VenueAdapter):
    """Gate USDT- and BTC-settled perpetual futures."""

    name: ClassVar[str] = VENUE
    ws_url: ClassVar[str] = "wss://fx-ws.gateio.ws/v4/ws/usdt"
    rest_url: ClassVar[str] = "https://api.gateio.ws"
    # The server sends protocol pings (answered by the websocket library); the application
    # ping gives a futures.pong frame, so a quiet liquidation feed still shows liveness.
    keepalive: ClassVar[Keepalive] = Keepalive(
        mode="json", interval_s=20.0, payload=f'{{"time":{_REQUEST_TIME},"channel":"futures.ping"}}', drop_after_s=60.0
    )
    max_subscriptions_per_connection: ClassVar[int] = 200
    liveness_timeout_s: ClassVar[float] = 90.0
    # Sent on every handshake: sizes as decimal strings instead of floored integers.
    ws_headers: ClassVar[tuple[tuple[str, str], ...]] = (("X-Gate-Size-Decimal", "1"),)

    # -- subscriptions -------------------------------------------------------------------------
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

    def instrument_paths(self) -> list[str]:
        """USDT-settled and BTC-settled contract lists."""
        return [USDT_PATH, BTC_PATH]

    def load_instruments(self, path: str, body: str | bytes) -> int:
        """Read a contract list; the settlement market comes from the path."""
        data = load_json(body)
        if not isinstance(data, list):
            raise ParseError("gate contract list: expected a JSON array", reason="schema")
        settle = "btc" if "/btc/" in path else "usdt"
        loaded = [i for row in data if isinstance(row, dict) and (i := instrument_from_contract(row, settle))]
        self.instruments.update(loaded)
        return len(loaded)

    # -- parsing -------------------------------------------------------------------------------
    def parse_generic(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """The dict-based reader. Any frame; pongs and subscribe acks give [].

        Reads every frame shape and raises the precise ParseError for a bad one.
        """
        with frame_errors(self.name):
            return self._parse(frame, recv_ms)

    def _parse_fast(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Typed decoding of the three channels' updates; raises a FAST_PATH_MISSES error for anything else."""
        msg = _UPDATE.decode(frame)
        envelope_ms = _fast_ms(msg.time_ms, msg.time, recv_ms)
        channel = msg.channel
        if channel == "futures.tickers":
            events: list[Event] = []
            for ticker in _listed(_TICKER_ROWS.decode(msg.result)):
                self._fast_ticker(events, ticker, envelope_ms, recv_ms)
            return events
        if channel == "futures.public_liquidates":
            return [
                self._fast_liquidation(row, envelope_ms, recv_ms) for row in _listed(_LIQUIDATIONS.decode(msg.result))
            ]
        if channel == "futures.contract_stats":
            return [
                oi
                for row in _listed(_STATS_ROWS.decode(msg.result))
                if (oi := self._fast_stats(row, envelope_ms, recv_ms)) is not None
            ]
        raise FastPathMiss

    def _fast_ticker(self, events: list[Event], row: _TickerRow, envelope_ms: int, recv_ms: int) -> None:
        """:meth:`_ticker` for a decoded row: appends its events to ``events``."""
        identity = self._identity(row.contract)
        ts = envelope_ms if row.t is UNSET else epoch_ms(row.t, "gate ticker t")
        mark, rate, total = opt_finite(row.mark_price), opt_finite(row.funding_rate), opt_finite(row.total_size)
        if rate is not None:
            index = opt_finite(row.index_price)
            events.append(self._make_funding(identity, ts=ts, recv_ms=recv_ms, rate=rate, mark=mark, index=index))
        if total is not None:
            oi = self._open_interest(identity, ts=ts, recv_ms=recv_ms, contracts=total, mark=mark)
            if oi is not None:
                events.append(oi)

    def _fast_liquidation(self, row: _LiquidationRow, envelope_ms: int, recv_ms: int) -> Liquidation:
        """:meth:`_liquidation` for a decoded row."""
        identity = self._identity(row.contract)
        size = row.size + 0.0
        if size == 0:
            raise FastPathMiss  # no side: the generic reader's ParseError
        ts = _fast_ms(row.time_ms, row.time, envelope_ms)
        return self._make_liquidation(identity, ts=ts, recv_ms=recv_ms, price=row.price + 0.0, size=size)

    def _fast_stats(self, row: _StatsRow, envelope_ms: int, recv_ms: int) -> OpenInterest | None:
        """:meth:`_stats` for a decoded row."""
        return self._open_interest(
            self._identity(row.contract),
            ts=_fast_ms(row.time_ms, row.time, envelope_ms),
            recv_ms=recv_ms,
            contracts=row.open_interest + 0.0,
            mark=opt_finite(row.mark_price),
        )

    def _parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        msg = load_json(frame)
        channel = field(msg, "channel", "gate frame")
        event = msg.get("event")
        if msg.get("error"):
            self._issue("venue_error", f"gate {channel}: {msg['error']!r}")
            return []
        if channel == "futures.pong" or event in _CONTROL_EVENTS:
            return []
        if channel == "futures.system":
            self._issue("venue_notice", f"gate system notice (reconnect advised): {msg.get('result')!r}")
            return []
        if event not in ("update", "all"):
            raise ParseError(f"gate {channel}: unexpected event {event!r}", reason="schema")
        result = field(msg, "result", "gate frame")
        envelope_ms = _envelope_ms(msg, recv_ms)
        if channel == "futures.public_liquidates":
            return [self._liquidation(row, envelope_ms, recv_ms) for row in rows(result)]
        if channel == "futures.tickers":
            return [e for row in rows(result) for e in self._ticker(row, envelope_ms, recv_ms)]
        if channel == "futures.contract_stats":
            return [e for row in rows(result) if (e := self._stats(row, envelope_ms, recv_ms)) is not None]
        raise ParseError(f"gate: unexpected channel {channel!r}", reason="unknown_channel")

    def _identity(self, contract: Any) -> _Identity:
        if not isinstance(contract, str) or not contract:
            raise ParseError("gate: contract must be a non-empty string", reason="value")
        inst = self.instruments.get(contract)
        if inst is not None:
            return contract, inst, inst.base, inst.quote, inst.contract
        base, quote = _split(contract)
        return contract, None, base, quote, "inverse" if settle_of(contract) == "btc" else "linear"

    def _liquidation(self, row: dict[str, Any], envelope_ms: int, recv_ms: int) -> Liquidation:
        identity = self._identity(field(row, "contract", "gate liquidation"))
        price = num(field(row, "price", "gate liquidation"), "gate liquidation price")
        size = num(field(row, "size", "gate liquidation"), "gate liquidation size")
        if size == 0:
            raise ParseError("gate liquidation: size 0 has no side", reason="value")
        return self._make_liquidation(identity, ts=_row_ms(row, envelope_ms), recv_ms=recv_ms, price=price, size=size)

    def _make_liquidation(
        self, identity: _Identity, *, ts: int, recv_ms: int, price: float, size: float
    ) -> Liquidation:
        """The Liquidation both readers build from a row's parsed fields."""
        contract, inst, base, quote, kind = identity
        qty = inst.base_qty(abs(size), price) if inst is not None else None
        notional: float | None = None
        if qty is None:
            self._issue(
                "unknown_contract",
                f"gate {contract}: contract size unknown; load {USDT_PATH} and {BTC_PATH}",
            )
        elif is_usd(quote):
            notional = qty * price
        return Liquidation(
            id=event_id(f"gate|{contract}", ts, price, size),
            venue=VENUE,
            symbol=contract,
            base=base,
            quote=quote,
            contract=kind,
            ts_ms=ts,
            recv_ms=recv_ms,
            side="long" if size < 0 else "short",  # negative size = sell order closing a long
            price=price,
            qty_base=qty,
            notional_usd=notional,
            sampled=self.liquidations_sampled,
        )

    def _ticker(self, row: dict[str, Any], envelope_ms: int, recv_ms: int) -> list[Event]:
        identity = self._identity(field(row, "contract", "gate ticker"))
        ts = epoch_ms(row["t"], "gate ticker t") if "t" in row else envelope_ms
        mark = opt_num(row.get("mark_price"), "gate mark_price")
        events: list[Event] = []
        rate = opt_num(row.get("funding_rate"), "gate funding_rate")
        if rate is not None:
            index = opt_num(row.get("index_price"), "gate index_price")
            events.append(self._make_funding(identity, ts=ts, recv_ms=recv_ms, rate=rate, mark=mark, index=index))
        total = opt_num(row.get("total_size"), "gate total_size")
        if total is not None:
            oi = self._open_interest(identity, ts=ts, recv_ms=recv_ms, contracts=total, mark=mark)
            if oi is not None:
                events.append(oi)
        return events

    def _make_funding(
        self, identity: _Identity, *, ts: int, recv_ms: int, rate: float, mark: float | None, index: float | None
    ) -> Funding:
        """The Funding both readers build from a ticker row's parsed fields."""
        contract, inst, base, quote, kind = identity
        interval = inst.funding_interval_h if inst is not None and inst.funding_interval_h else 8.0
        return Funding(
            id=event_id(f"gate|{contract}|funding", ts, rate),
            venue=VENUE,
            symbol=contract,
            base=base,
            quote=quote,
            contract=kind,
            ts_ms=ts,
            recv_ms=recv_ms,
            rate=rate,
            interval_h=interval,
            rate_8h=rate_8h(rate, interval),
            mark_price=mark,
            index_price=index,
        )

    def _stats(self, row: dict[str, Any], envelope_ms: int, recv_ms: int) -> OpenInterest | None:
        identity = self._identity(field(row, "contract", "gate contract_stats"))
        total = num(field(row, "open_interest", "gate contract_stats"), "gate open_interest")
        mark = opt_num(row.get("mark_price"), "gate mark_price")
        # open_interest_usd is ignored: the docs example (1511) contradicts its own mark and size.
        return self._open_interest(identity, ts=_row_ms(row, envelope_ms), recv_ms=recv_ms, contracts=total, mark=mark)

    def _open_interest(
        self, identity: _Identity, *, ts: int, recv_ms: int, contracts: float, mark: float | None
    ) -> OpenInterest | None:
        """The OpenInterest both readers build from a row's contracts, or None (and an issue) without a size."""
        contract, inst, base, quote, kind = identity
        qty = inst.base_qty(contracts, mark or 0.0) if inst is not None else None
        if qty is None:
            self._issue("unknown_contract", f"gate {contract}: open interest size unknown (no contract spec or mark)")
            return None
        return OpenInterest(
            id=event_id(f"gate|{contract}|oi", ts, contracts),
            venue=VENUE,
            symbol=contract,
            base=base,
            quote=quote,
            contract=kind,
            ts_ms=ts,
            recv_ms=recv_ms,
            oi_base=qty,
            oi_usd=qty * mark if mark is not None and is_usd(quote) else None,
        )


def _subscribe(channel: str, payload: list[str]) -> str:
    return orjson.dumps({"time": _REQUEST_TIME, "channel": channel, "event": "subscribe", "payload": payload}).decode()


def _envelope_ms(msg: dict[str, Any], recv_ms: int) -> int:
    if "time_ms" in msg:
        return epoch_ms(msg["time_ms"], "time_ms")
    if "time" in msg:
        return epoch_ms(msg["time"], "time")
    return recv_ms


def _row_ms(row: dict[str, Any], envelope_ms: int) -> int:
    if "time_ms" in row:
        return epoch_ms(row["time_ms"], "time_ms")
    if "time" in row:
        return epoch_ms(row["time"], "time")
    return envelope_ms
