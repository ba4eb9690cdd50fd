"""Deribit v2 (JSON-RPC over websocket): liquidation trades and tickers per instrument.

Deribit has no liquidation channel: ``trades.{instrument}.100ms`` trades carry
``liquidation`` = ``T`` (taker liquidated), ``M`` (maker) or ``MT`` (both), and
``direction`` is the taker's. So ``T`` + sell or ``M`` + buy is a long
liquidated; ``MT`` gives one event per side (ids ``<trade_id>-T`` and
``<trade_id>-M``; single-side events keep the bare ``trade_id``).

Units: ``amount`` and ``open_interest`` are USD for perpetuals and inverse
futures (base = USD / price) and base coin for the linear USDC/USDT
contracts. Funding is continuous; ``funding_8h`` is reported as an 8-hour rate.

Options: for the currencies in the spec's ``options`` (BTC, ETH) whose
instruments are watched, one more connection carries ``markprice.options``,
the price index and DVOL, and their option book summaries are polled over
REST; :mod:`monitor.venues.deribit_options` turns them into
``options_summary`` events.

Keepalive: ``public/set_heartbeat`` is the first message on every connection;
the server then sends ``test_request`` heartbeats that :meth:`reply` answers
with ``public/test``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Side
from monitor.venues.adapter import Connection, RestPoll, VenueAdapter
from monitor.venues.common import (
    Finite,
    Millis,
    NonEmpty,
    OptFinite,
    decode_failed,
    event_id,
    field,
    items,
    load_json,
    opt_finite,
    opt_num,
    rejected_event,
    text,
    url_join,
)
from monitor.venues.deribit_options import (
    BOOK_SUMMARY_PATH,
    CHANNEL_PREFIXES,
    POLL_S,
    book_summary_path,
    option_currencies,
    requested,
    shared_chains,
)
from monitor.venues.deribit_options import channels as option_channels
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, RestRequest, VenueSpec

WS_PATH: Final = "/ws/api/v2"
INSTRUMENTS_PATH: Final = "/api/v2/public/get_instruments"
INSTRUMENT_CURRENCIES: Final = ("BTC", "ETH", "USDC", "USDT")
HEARTBEAT_S: Final = 30
FUNDING_H: Final = 8.0
# (liquidated party, taker direction) → liquidated position.
_SIDE: Final[dict[tuple[str, str], Side]] = {
    ("T", "sell"): "long",
    ("T", "buy"): "short",
    ("M", "buy"): "long",
    ("M", "sell"): "short",
}


# -- the typed readers: one per channel --------------------------------------------------------
class _Params(msgspec.Struct, gc=False):
    """A subscription's ``channel`` and ``data`` (a heartbeat's params carry neither)."""

    channel: NonEmpty | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET


class _Message(msgspec.Struct, gc=False):
    """A JSON-RPC message: a notification (``method``), or an answer to one of our requests (``id``)."""

    method: str | UnsetType = UNSET
    params: _Params | UnsetType = UNSET
    id: msgspec.Raw | UnsetType = UNSET
    error: Any = None


class _Trade(msgspec.Struct, gc=False):
    instrument_name: NonEmpty
    direction: str
    trade_id: NonEmpty | int
    price: Finite
    amount: Finite
    timestamp: Millis
    liquidation: Literal["T", "M", "MT"] | None = None


class _Ticker(msgspec.Struct, gc=False):
    instrument_name: NonEmpty
    timestamp: Millis | None = None
    mark_price: OptFinite = None
    funding_8h: OptFinite = None
    index_price: OptFinite = None
    open_interest: OptFinite = None


_MESSAGE: Final = msgspec.json.Decoder(_Message, strict=False)
_TRADES: Final = msgspec.json.Decoder(list[_Trade], strict=False)
_TICKER: Final = msgspec.json.Decoder(_Ticker, strict=False)


SPEC: Final = VenueSpec(
    name="deribit",
    adapter="monitor.venues.deribit:DeribitAdapter",
    ws_url="wss://www.deribit.com",
    rest_url="https://www.deribit.com",
    # The subscribe frames ask for heartbeats (public/set_heartbeat); the client answers each test_request.
    keepalive=Keepalive("answer_server", interval_s=float(HEARTBEAT_S), drop_after_s=2.0 * HEARTBEAT_S),
    topics_per_connection=200,
    # A heartbeat arrives every 30 s on a healthy connection, so three missed ones mean it is dead.
    liveness_timeout_s=3.0 * HEARTBEAT_S,
    instruments=tuple(RestRequest(f"{INSTRUMENTS_PATH}?currency={c}&kind=future") for c in INSTRUMENT_CURRENCIES),
    # USD options of these currencies → options_summary (markprice.options, DVOL, polled book summaries).
    options=("BTC", "ETH"),
    simulator="monitor.sim.protocols.deribit:DeribitProtocol",
    encoder="monitor.sim.encode.deribit",
    scenario_share=0.04,
    scenario_latency_ms=45,
)


class DeribitAdapter(VenueAdapter):
    """Deribit futures and perpetuals."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._marks: dict[str, float] = {}
        self._ids = itertools.count(1)
        self.options = shared_chains(self.instruments, self.spec.options)

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """set_heartbeat, then trades + ticker channels for up to 100 instruments per connection.

        With no symbols, every perpetual in the instrument book (none until it is loaded). When
        instruments of the spec's option currencies are among them, one more connection carries their
        options channels.
        """
        url = url_join(ws_url or self.ws_url, WS_PATH)
        targets = list(symbols) or self.instruments.perpetuals()
        per_conn = max(1, self.max_subscriptions_per_connection // 2)
        result = []
        for number, start in enumerate(range(0, len(targets), per_conn), 1):
            group = tuple(targets[start : start + per_conn])
            channels = [c for name in group for c in (f"trades.{name}.100ms", f"ticker.{name}.100ms")]
            heartbeat = self._request("public/set_heartbeat", {"interval": HEARTBEAT_S})
            subscribe = self._request("public/subscribe", {"channels": channels})
            result.append(
                Connection(
                    url=url,
                    subscribe=(heartbeat, subscribe),
                    symbols=group,
                    bases=tuple(sorted({self.instrument(s).base for s in group})),
                    label=f"instruments-{number}",
                )
            )
        currencies = option_currencies((self.instrument(s).base for s in targets), self.spec.options)
        if currencies:
            heartbeat = self._request("public/set_heartbeat", {"interval": HEARTBEAT_S})
            names = [c for currency in currencies for c in option_channels(currency)]
            subscribe = self._request("public/subscribe", {"channels": names})
            result.append(Connection(url=url, subscribe=(heartbeat, subscribe), bases=currencies, label="options"))
        return result

    def rest_polls(self, symbols: Sequence[str]) -> list[RestPoll]:
        """The option book summary of each watched option currency (open interest, forwards)."""
        targets = list(symbols) or self.instruments.perpetuals()
        currencies = option_currencies((self.instrument(s).base for s in targets), self.spec.options)
        return [RestPoll(path=book_summary_path(c), interval_s=POLL_S) for c in currencies]

    def reply(self, frame: str | bytes) -> str | None:
        """``public/test`` in answer to a ``test_request`` heartbeat; None for anything else."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(msg, Mapping) or msg.get("method") != "heartbeat":
            return None
        params = msg.get("params")
        if not isinstance(params, Mapping) or params.get("type") != "test_request":
            return None
        return self._request("public/test", {})

    def _request(self, method: str, params: dict[str, Any]) -> str:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        return orjson.dumps(message).decode()

    # -- instruments ---------------------------------------------------------------------------
    def read_instruments(self, path: str, body: str | bytes) -> int:
        """``public/get_instruments`` rows: contract_size, settlement_period, instrument_type."""
        data = load_json(body)
        if isinstance(data, Mapping) and "error" in data:
            self._issue("rest_error", f"deribit get_instruments refused: {data['error']!r:.200}")
            return 0
        return self._load_instrument_rows(
            items(field(data, "result", "get_instruments"), "result"), self._instrument_row, "get_instruments"
        )

    def _instrument_row(self, row: Any) -> Instrument | None:
        name = text(field(row, "instrument_name", "get_instruments.result[]"), "instrument_name")
        if row.get("kind", "future") != "future" or row.get("is_active") is False:
            return None
        base = text(field(row, "base_currency", name), "base_currency")
        quote = str(row.get("counter_currency") or row.get("quote_currency") or "USD")
        kind = row.get("instrument_type") or row.get("future_type")
        linear = kind == "linear" if kind in ("linear", "reversed") else quote != "USD"
        perpetual = row.get("settlement_period") == "perpetual"
        return Instrument(
            venue=self.name,
            symbol=name,
            base=base,
            quote=quote if linear else "USD",
            contract="linear" if linear else "inverse",
            size_unit="base" if linear else "usd",
            contract_size=opt_num(row.get("contract_size"), "contract_size"),
            funding_interval_h=FUNDING_H if perpetual else None,
            perpetual=perpetual,
        )

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """``trades`` and ``ticker`` notifications through their typed readers; heartbeats and answers to
        our requests give [] (a failed request is an issue). A frame that does not fit raises ParseError
        with msgspec's path to the field. A ticker stores its mark price before its events are built."""
        try:
            msg = _MESSAGE.decode(frame)
            if msg.id is not UNSET:  # an answer to one of our requests
                if msg.error is not None:
                    self._issue(
                        "subscription_rejected", f"deribit request {bytes(msg.id)!r:.12} failed: {msg.error!r:.200}"
                    )
                return []
            method = msg.method
            if method is UNSET:
                raise ParseError("deribit message: missing field 'method'", reason="schema")
            if method == "heartbeat":
                return []
            if method != "subscription":
                raise ParseError(f"deribit: unexpected method {method!r:.40}", reason="unknown_channel")
            if msg.params is UNSET:
                raise ParseError("deribit subscription: missing field 'params'", reason="schema")
            params = msg.params
            if params.channel is UNSET or params.data is UNSET:
                raise ParseError("deribit subscription: params need 'channel' and 'data'", reason="schema")
            prefix = params.channel.split(".", 1)[0]
            if prefix == "trades":
                return self._trades(_TRADES.decode(params.data), recv_ms)
            if prefix == "ticker":
                return self._ticker(_TICKER.decode(params.data), recv_ms)
            if prefix in CHANNEL_PREFIXES:
                return self.options.on_channel(params.channel, params.data, recv_ms, self._issue)
        except msgspec.MsgspecError as exc:
            raise decode_failed(self.name, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        raise ParseError(f"deribit: unexpected channel {params.channel!r:.60}", reason="unknown_channel")

    def read_rest(self, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """Option book summaries (``get_book_summary_by_currency``) → ``options_summary``."""
        if requested(path)[0] != BOOK_SUMMARY_PATH:
            raise ParseError(f"deribit: unexpected REST path {path!r:.80}", reason="unknown_channel")
        return self.options.on_book_summary(path, body, recv_ms, self._issue)

    def _trades(self, trades: list[_Trade], recv_ms: int) -> list[Event]:
        """The liquidations among ``trades`` (trades without a liquidation flag give nothing)."""
        events: list[Event] = []
        for trade in trades:
            if trade.liquidation is not None:
                events += self._make_liquidations(
                    trade.instrument_name,
                    trade.liquidation,
                    trade.direction,
                    str(trade.trade_id),
                    trade.price + 0.0,
                    trade.amount + 0.0,
                    trade.timestamp,
                    recv_ms,
                )
        return events

    def _ticker(self, data: _Ticker, recv_ms: int) -> list[Event]:
        """A ticker's funding (``funding_8h``) and open interest."""
        name = data.instrument_name
        ts = recv_ms if data.timestamp is None else data.timestamp
        mark = self._mark(name, opt_finite(data.mark_price))
        inst = self.instrument(name)
        events: list[Event] = []
        funding = opt_finite(data.funding_8h)
        if funding is not None:
            events.append(
                inst.funding(
                    event_id(f"deribit|{name}|funding", ts, funding),
                    ts,
                    recv_ms,
                    funding,
                    FUNDING_H,
                    None,
                    mark,
                    opt_finite(data.index_price),
                )
            )
        open_interest = opt_finite(data.open_interest)
        if open_interest is not None:
            oi = inst.open_interest(event_id(f"deribit|{name}|oi", ts, open_interest), ts, recv_ms, open_interest, mark)
            if oi is None:
                self._issue("no_price", f"deribit {name}: open interest in USD needs a mark price; skipped")
            else:
                events.append(oi)
        return events

    def _make_liquidations(  # noqa: PLR0917 - called per liquidation trade, positionally
        self, name: str, flag: str, direction: Any, trade_id: str, price: float, amount: float, ts: int, recv_ms: int
    ) -> list[Event]:
        """The Liquidations of a liquidation trade's parsed fields (one per party)."""
        inst = self.instrument(name)
        events: list[Event] = []
        for party in flag:
            side = _SIDE.get((party, direction)) if isinstance(direction, str) else None
            if side is None:
                raise ParseError(f"deribit trade {name}: unknown direction {direction!r:.10}", reason="value")
            events.append(
                inst.liquidation(
                    trade_id if len(flag) == 1 else f"{trade_id}-{party}",
                    ts,
                    recv_ms,
                    side,
                    price,
                    amount,
                    None,
                    self.liquidations_sampled,
                )
            )
        if inst.base_qty(amount, price) is None:
            self._unknown_size(name)
        return events

    def _mark(self, name: str, mark: float | None) -> float | None:
        """Remember a positive mark price; the latest one known for ``name``."""
        if mark is not None and mark > 0:
            self._marks[name] = mark
        return self._marks.get(name)

    # -- helpers -------------------------------------------------------------------------------
    def guess_instrument(self, symbol: str) -> Instrument:
        """Deribit's naming rule: ``X_USDC-...`` linear, ``X-...`` inverse (USD); the contract size is unknown."""
        head = symbol.split("-", 1)[0].upper()
        if symbol.count("-") >= 2:  # options (BTC-27JUN25-60000-C): not a contract this adapter sizes
            return Instrument(self.name, symbol, head or symbol, "USD", "inverse", "contracts", contract_size=None)
        if "_" in head:
            base, quote = head.split("_", 1)
            return Instrument(self.name, symbol, base or head, quote or "USDC", "linear", "base", contract_size=None)
        return Instrument(self.name, symbol, head or symbol, "USD", "inverse", "usd", contract_size=None)
