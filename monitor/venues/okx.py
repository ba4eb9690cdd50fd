"""OKX v5 public: ``liquidation-orders`` per instType, ``funding-rate`` and ``open-interest`` per instId.

One connection carries ``liquidation-orders`` for SWAP and FUTURES (every
instrument of those types, whatever the symbol list); the per-instrument
channels are spread over further connections, each subscribe request under
64 KB.

Units: ``sz`` is contracts. Linear base = sz × ctVal × ctMult; inverse
contracts are USD face value (USD = sz × ctVal × ctMult, base = USD / price).
``ctVal`` comes from ``/api/v5/public/instruments``; an instrument missing from
that list gives ``qty_base null`` and ``notional_usd null`` plus an
``unknown_contract`` issue, never a guess. Open interest uses ``oiCcy`` (coin)
and ``oiUsd`` as OKX reports them.

Side: ``posSide`` is the liquidated position in hedge mode; in one-way mode it
is ``net`` and the order ``side`` tells: a ``sell`` closes a long. The feed is
sampled (at most one order per contract per second).

Funding interval: ``nextFundingTime − fundingTime`` (OKX runs 8, 4, 2 and 1 h
intervals); the event's ``next_funding_ms`` is ``fundingTime``, the settlement
this rate applies to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Funding, Liquidation, OpenInterest, Side
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    Millis,
    NonEmpty,
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
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

VENUE: Final = "okx"
PUBLIC_PATH: Final = "/ws/v5/public"
INSTRUMENTS_PATH: Final = "/api/v5/public/instruments"
MAX_REQUEST_BYTES: Final = 64 * 1024 - 512  # OKX: all channels of one request ≤ 64 KB
DEFAULT_FUNDING_H: Final = 8.0
HOUR_MS: Final = 3_600_000
LIQUIDATION_INST_TYPES: Final = ("SWAP", "FUTURES")
_NET_SIDE: Final[dict[str, Side]] = {"sell": "long", "buy": "short"}
_POS_SIDE: Final[dict[str, Side]] = {"long": "long", "short": "short"}


# -- the typed readers: one per channel ---------------------------------------------------------
class _Arg(msgspec.Struct, gc=False):
    channel: NonEmpty


class _Push(msgspec.Struct, gc=False):
    """A channel push (``arg`` + ``data``), or a control message (``event``: subscribe, error, notice)."""

    arg: _Arg | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    event: str | UnsetType = UNSET


# Times: epoch milliseconds as a number or numeric string; "" and null are "not given".
_Time = Millis | Literal[""] | None


class _LiquidationDetail(msgspec.Struct, gc=False):
    posSide: str
    side: str
    bkPx: Finite
    sz: Finite
    ts: _Time = None


class _LiquidationRow(msgspec.Struct, gc=False):
    instId: NonEmpty
    details: list[_LiquidationDetail]


class _FundingRow(msgspec.Struct, gc=False):
    instId: NonEmpty
    fundingRate: Finite
    fundingTime: _Time = None
    nextFundingTime: _Time = None
    ts: _Time = None


class _OpenInterestRow(msgspec.Struct, gc=False):
    instId: NonEmpty
    # Older pushes carry contracts only (``oi``), no ``oiCcy``.
    oiCcy: Finite | Literal[""] | None = None
    oi: Finite | Literal[""] | None = None
    oiUsd: Finite | Literal[""] | None = None
    ts: _Time = None


class _MarkRow(msgspec.Struct, gc=False):
    instId: NonEmpty
    markPx: Finite


_PUSH: Final = msgspec.json.Decoder(_Push, strict=False)
_LIQUIDATION_ROWS: Final = msgspec.json.Decoder(list[_LiquidationRow], strict=False)
_FUNDING_ROWS: Final = msgspec.json.Decoder(list[_FundingRow], strict=False)
_OPEN_INTEREST_ROWS: Final = msgspec.json.Decoder(list[_OpenInterestRow], strict=False)
_MARK_ROWS: Final = msgspec.json.Decoder(list[_MarkRow], strict=False)


# (base, quote, linear/inverse) of an instId.


def _position_side(raw_pos: object, raw_side: object) -> Side | None:
    """The liquidated position: ``posSide`` in hedge mode; in one-way mode (``net``) the order side tells."""
    side = _POS_SIDE.get(raw_pos) if isinstance(raw_pos, str) else None
    if side is None and raw_pos in ("net", "") and isinstance(raw_side, str):
        side = _NET_SIDE.get(raw_side)
    return side


SPEC: Final = VenueSpec(
    name="okx",
    adapter="monitor.venues.okx:OkxAdapter",
    ws_url="wss://ws.okx.com:8443",
    rest_url="https://www.okx.com",
    # OKX closes a connection after 30 s without data; a text "ping" every 20 s keeps a quiet one open.
    keepalive=Keepalive("client_ping", interval_s=20.0, payload="ping", drop_after_s=30.0),
    limits=VenueLimits(connections=Rate(3, 1.0), subscribes=Rate(480, 3600.0)),
    topics_per_connection=240,
    # Pongs arrive every 20 s at worst; 50 s without any frame means the connection is gone.
    liveness_timeout_s=50.0,
    instruments=tuple(RestRequest(f"{INSTRUMENTS_PATH}?instType={t}") for t in LIQUIDATION_INST_TYPES),
    sampled=True,
    simulator="monitor.sim.protocols.okx:OkxProtocol",
    encoder="monitor.sim.encode.okx",
    scenario_share=0.12,
    scenario_latency_ms=70,
)


class OkxAdapter(VenueAdapter):
    """OKX v5 swaps and futures."""

    spec: ClassVar[VenueSpec] = SPEC

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        self._marks: dict[str, float] = {}
        self._requests = 0

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """A liquidations connection (every base) plus funding/OI connections for the instruments.

        With no symbols, every perpetual swap in the instrument book (none until it is loaded).
        """
        url = url_join(ws_url or self.ws_url, PUBLIC_PATH)
        liquidation_args = [{"channel": "liquidation-orders", "instType": t} for t in LIQUIDATION_INST_TYPES]
        result = [Connection(url=url, subscribe=self._subscribe(liquidation_args), label="liquidations")]
        targets = list(symbols) or self.instruments.perpetuals()
        groups: list[tuple[list[str], list[dict[str, str]]]] = []
        for inst_id in targets:
            args = [{"channel": "open-interest", "instId": inst_id}]
            if self._is_swap(inst_id):
                args.insert(0, {"channel": "funding-rate", "instId": inst_id})
            if not groups or len(groups[-1][1]) + len(args) > self.max_subscriptions_per_connection:
                groups.append(([], []))
            groups[-1][0].append(inst_id)
            groups[-1][1].extend(args)
        for number, (group_symbols, args) in enumerate(groups, 1):
            result.append(
                Connection(
                    url=url,
                    subscribe=self._subscribe(args),
                    symbols=tuple(group_symbols),
                    bases=tuple(sorted({self._base_of(s) for s in group_symbols})),
                    label=f"instruments-{number}",
                )
            )
        return result

    def _subscribe(self, args: list[dict[str, str]]) -> tuple[str, ...]:
        """Subscribe requests for ``args``, split so that none exceeds OKX's 64 KB request limit."""
        messages: list[str] = []
        batch: list[dict[str, str]] = []
        for arg in [*args, None]:
            if arg is not None:
                trial = [*batch, arg]
                if len(orjson.dumps(trial)) + 64 <= MAX_REQUEST_BYTES or not batch:
                    batch = trial
                    continue
            if batch:
                self._requests += 1
                message = {"id": str(self._requests), "op": "subscribe", "args": batch}
                messages.append(orjson.dumps(message).decode())
            batch = [arg] if arg is not None else []
        return tuple(messages)

    # -- instruments ---------------------------------------------------------------------------
    def read_instruments(self, path: str, body: str | bytes) -> int:
        """``/api/v5/public/instruments`` rows → contract size, multiplier, linear/inverse."""
        data = load_json(body)
        if str(field(data, "code", "instruments")) != "0":
            self._issue("rest_error", f"okx instruments refused: {data.get('msg')!r:.200}")
            return 0
        return self._load_instrument_rows(
            items(field(data, "data", "instruments"), "data"), self._instrument_row, "instruments"
        )

    def _instrument_row(self, row: Any) -> Instrument:
        inst_id = text(field(row, "instId", "instruments.data[]"), "instId")
        inst_type = row.get("instType")
        ct_type = row.get("ctType")
        base, quote = self._names(inst_id)
        default: Literal["linear", "inverse"] = "inverse" if quote == "USD" else "linear"
        contract: Literal["linear", "inverse"] = ct_type if ct_type in ("linear", "inverse") else default
        size = opt_num(row.get("ctVal"), "ctVal")
        mult = opt_num(row.get("ctMult"), "ctMult")
        perpetual = inst_type == "SWAP" or inst_id.endswith("-SWAP")
        return Instrument(
            venue=self.name,
            symbol=inst_id,
            base=base,
            quote=quote,
            contract=contract,
            size_unit="contracts",
            contract_size=size if size else None,
            multiplier=mult if mult else 1.0,
            funding_interval_h=None,
            perpetual=perpetual,
        )

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Channel pushes through their typed readers; ``pong``, acks, errors and notices give [].

        A frame that does not fit its reader raises ParseError with msgspec's path to the field. Mark
        prices are stored only once the whole frame has been read.
        """
        if frame in ("pong", b"pong"):
            return []
        try:
            push = _PUSH.decode(frame)
            if push.event is not UNSET or push.arg is UNSET or push.data is UNSET:
                return self._control(frame)
            channel = push.arg.channel
            data = push.data
            # Loops, not comprehensions: most pushes carry one row, and a comprehension is a call more.
            events: list[Event] = []
            if channel == "liquidation-orders":
                for liquidated in _LIQUIDATION_ROWS.decode(data):
                    for detail in liquidated.details:
                        events.append(self._liquidation(liquidated.instId, detail, recv_ms))
                return events
            if channel == "funding-rate":
                for funding in _FUNDING_ROWS.decode(data):
                    events.append(self._funding(funding, recv_ms))
                return events
            if channel == "open-interest":
                for row in _OPEN_INTEREST_ROWS.decode(data):
                    oi = self._open_interest(row, recv_ms)
                    if oi is not None:
                        events.append(oi)
                return events
            if channel == "mark-price":
                marks = [(row.instId, row.markPx + 0.0) for row in _MARK_ROWS.decode(data)]
                self._marks.update((inst_id, mark) for inst_id, mark in marks if mark > 0)
                return []
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        raise ParseError(f"okx: unexpected channel {channel!r:.60}", reason="unknown_channel")

    def _control(self, frame: str | bytes) -> list[Event]:
        """The dict reader, for control messages only: errors and notices become issues."""
        msg = load_json(frame)
        event = msg.get("event") if isinstance(msg, Mapping) else None
        if event == "error":
            self._issue("subscription_rejected", f"okx error {msg.get('code')!r:.12}: {msg.get('msg')!r:.200}")
        elif event == "notice":
            self._issue("venue_notice", f"okx notice {msg.get('code')!r:.12}: {msg.get('msg')!r:.200}")
        elif event is None:
            raise ParseError("okx: push without arg and data", reason="schema")
        return []

    def _liquidation(self, inst_id: str, detail: _LiquidationDetail, recv_ms: int) -> Liquidation:
        raw_pos, raw_side = detail.posSide, detail.side
        side = _position_side(raw_pos, raw_side)
        if side is None:
            where = f"liquidation-orders {inst_id}"
            raise ParseError(f"{where}: unknown posSide/side {raw_pos!r:.12}/{raw_side!r:.12}", reason="value")
        inst = self.instrument(inst_id)
        price, size = detail.bkPx + 0.0, detail.sz + 0.0
        ts = recv_ms if detail.ts is None or detail.ts == "" else detail.ts
        event = inst.liquidation(
            event_id(f"okx|{inst_id}|{raw_pos}|{raw_side}", ts, size, price),
            ts,
            recv_ms,
            side,
            price,
            size,
            None,
            self.liquidations_sampled,
        )
        if event.qty_base is None:
            self._unknown_size(inst_id)
        return event

    def _funding(self, row: _FundingRow, recv_ms: int) -> Funding:
        inst = self.instrument(row.instId)
        funding_ms = row.fundingTime or None  # "", null and 0 are "not given"
        next_ms = row.nextFundingTime or None
        if funding_ms is not None and next_ms is not None and next_ms > funding_ms:
            interval = (next_ms - funding_ms) / HOUR_MS
        else:
            interval = inst.funding_interval_h or DEFAULT_FUNDING_H
        rate, ts = row.fundingRate + 0.0, row.ts
        ts_ms = recv_ms if ts is None or ts == "" else ts
        return inst.funding(
            event_id(f"okx|{inst.symbol}|funding", ts_ms, rate), ts_ms, recv_ms, rate, interval, funding_ms
        )

    def _open_interest(self, row: _OpenInterestRow, recv_ms: int) -> OpenInterest | None:
        inst_id = row.instId
        inst = self.instrument(inst_id)
        mark = self._marks.get(inst_id)
        oi_base = opt_finite(row.oiCcy)
        if oi_base is None:  # older pushes: contracts only
            contracts = opt_finite(row.oi)
            if contracts is None:
                raise ParseError(f"okx open-interest {inst_id}: neither oiCcy nor oi", reason="schema")
            oi_base = inst.base_qty(contracts, mark or 0.0)
            if oi_base is None:
                self._issue("unknown_contract", f"okx {inst_id}: open interest in contracts, size unknown")
                return None
        ts = row.ts
        ts_ms = recv_ms if ts is None or ts == "" else ts
        return inst.open_interest(
            event_id(f"okx|{inst_id}|oi", ts_ms, oi_base), ts_ms, recv_ms, oi_base, mark, "base", opt_finite(row.oiUsd)
        )

    # -- helpers -------------------------------------------------------------------------------
    def guess_instrument(self, symbol: str) -> Instrument:
        """Base and quote from the instId (``BTC-USD-SWAP`` inverse, others linear); the contract size is unknown."""
        base, quote = self._names(symbol)
        kind: Literal["linear", "inverse"] = "inverse" if quote == "USD" else "linear"
        return Instrument(VENUE, symbol, base, quote, kind, "contracts", contract_size=None, funding_interval_h=None)

    @staticmethod
    def _names(inst_id: str) -> tuple[str, str]:
        """(base, quote) from an instId such as ``BTC-USDT-SWAP`` or ``XRP-USD-230929``."""
        parts = inst_id.upper().split("-")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ParseError(f"okx: cannot read base and quote from instId {inst_id!r:.60}", reason="unknown_symbol")
        return parts[0], parts[1]

    def _base_of(self, inst_id: str) -> str:
        try:
            return self.instrument(inst_id).base
        except ParseError:
            return inst_id.upper()

    def _is_swap(self, inst_id: str) -> bool:
        inst = self.instruments.get(inst_id)
        return inst.perpetual if inst is not None else inst_id.upper().endswith("-SWAP")
