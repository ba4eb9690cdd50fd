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
from typing import Any, Final, Literal

import orjson

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, Funding, Liquidation, OpenInterest, Side, rate_8h, stable_id
from monitor.venues.adapter import Connection, Keepalive, VenueAdapter
from monitor.venues.common import field, is_usd, items, load_json, ms, num, opt_num, text, url_join
from monitor.venues.instruments import Instrument, InstrumentBook

PUBLIC_PATH: Final = "/ws/v5/public"
INSTRUMENTS_PATH: Final = "/api/v5/public/instruments"
MAX_REQUEST_BYTES: Final = 64 * 1024 - 512  # OKX: all channels of one request ≤ 64 KB
DEFAULT_FUNDING_H: Final = 8.0
HOUR_MS: Final = 3_600_000
LIQUIDATION_INST_TYPES: Final = ("SWAP", "FUTURES")
_NET_SIDE: Final[dict[str, Side]] = {"sell": "long", "buy": "short"}
_POS_SIDE: Final[dict[str, Side]] = {"long": "long", "short": "short"}


class OkxAdapter(VenueAdapter):
    """OKX v5 swaps and futures."""

    name = "okx"
    ws_url = "wss://ws.okx.com:8443"
    rest_url = "https://www.okx.com"
    # OKX closes a connection after 30 s without data; a text "ping" every 20 s keeps a quiet one open.
    keepalive = Keepalive("text", interval_s=20.0, payload="ping", drop_after_s=30.0)
    max_subscriptions_per_connection = 240
    # Pongs arrive every 20 s at worst; 50 s without any frame means the connection is gone.
    liveness_timeout_s = 50.0

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

    def instrument_paths(self) -> list[str]:
        """Swap and futures instrument lists (ctVal, ctMult, ctType, ctValCcy)."""
        return [f"{INSTRUMENTS_PATH}?instType={t}" for t in LIQUIDATION_INST_TYPES]

    # -- instruments ---------------------------------------------------------------------------
    def load_instruments(self, path: str, body: str | bytes) -> int:
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
    def parse(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """Channel pushes; ``pong``, subscribe acks and notices give []."""
        if frame in ("pong", b"pong"):
            return []
        try:
            return self._parse(load_json(frame), recv_ms)
        except InvalidEvent as exc:
            raise ParseError(f"okx: {exc}", reason="value") from None

    def _parse(self, msg: Any, recv_ms: int) -> list[Event]:
        if isinstance(msg, Mapping) and "event" in msg:
            event = msg.get("event")
            if event == "error":
                self._issue("subscription_rejected", f"okx error {msg.get('code')!r:.12}: {msg.get('msg')!r:.200}")
            elif event == "notice":
                self._issue("venue_notice", f"okx notice {msg.get('code')!r:.12}: {msg.get('msg')!r:.200}")
            return []
        arg = field(msg, "arg", "okx push")
        channel = text(field(arg, "channel", "arg"), "arg.channel")
        rows = items(field(msg, "data", channel), "data")
        events: list[Event] = []
        if channel == "liquidation-orders":
            for row in rows:
                inst_id = text(field(row, "instId", "liquidation-orders.data[]"), "instId")
                for detail in items(field(row, "details", inst_id), "details"):
                    events.append(self._liquidation(inst_id, detail, recv_ms))
        elif channel == "funding-rate":
            events.extend(self._funding(row, recv_ms) for row in rows)
        elif channel == "open-interest":
            for row in rows:
                oi = self._open_interest(row, recv_ms)
                if oi is not None:
                    events.append(oi)
        elif channel == "mark-price":
            for row in rows:
                inst_id = text(field(row, "instId", "mark-price.data[]"), "instId")
                mark = num(field(row, "markPx", inst_id), "markPx")
                if mark > 0:
                    self._marks[inst_id] = mark
        else:
            raise ParseError(f"okx: unexpected channel {channel!r:.60}", reason="unknown_channel")
        return events

    def _liquidation(self, inst_id: str, detail: Any, recv_ms: int) -> Liquidation:
        where = f"liquidation-orders {inst_id}"
        raw_pos = field(detail, "posSide", where)
        raw_side = field(detail, "side", where)
        side = _POS_SIDE.get(raw_pos) if isinstance(raw_pos, str) else None
        if side is None and raw_pos in ("net", "") and isinstance(raw_side, str):
            side = _NET_SIDE.get(raw_side)
        if side is None:
            raise ParseError(f"{where}: unknown posSide/side {raw_pos!r:.12}/{raw_side!r:.12}", reason="value")
        price = num(field(detail, "bkPx", where), "bkPx")
        size = num(field(detail, "sz", where), "sz")
        ts = self._time(detail.get("ts"), recv_ms, "ts")
        base, quote, contract = self._spec(inst_id)
        inst = self.instruments.get(inst_id)
        qty: float | None = None
        if inst is not None and inst.contract_size is not None:
            qty = inst.base_qty(size, price)
        if qty is None:
            self._issue("unknown_contract", f"okx {inst_id}: contract size unknown; liquidation has no size")
        notional = inst.usd_notional(qty, price) if inst is not None and is_usd(quote) else None
        return Liquidation(
            id=stable_id(self.name, inst_id, ts, raw_pos, raw_side, size, price),
            venue=self.name,
            symbol=inst_id,
            base=base,
            quote=quote,
            contract=contract,
            ts_ms=ts,
            recv_ms=recv_ms,
            side=side,
            price=price,
            qty_base=qty,
            notional_usd=notional,
        )

    def _funding(self, row: Any, recv_ms: int) -> Funding:
        inst_id = text(field(row, "instId", "funding-rate.data[]"), "instId")
        rate = num(field(row, "fundingRate", inst_id), "fundingRate")
        funding_ms = self._opt_ms(row.get("fundingTime"), "fundingTime")
        next_ms = self._opt_ms(row.get("nextFundingTime"), "nextFundingTime")
        if funding_ms is not None and next_ms is not None and next_ms > funding_ms:
            interval = (next_ms - funding_ms) / HOUR_MS
        else:
            inst = self.instruments.get(inst_id)
            interval = (inst.funding_interval_h if inst is not None else None) or DEFAULT_FUNDING_H
        ts = self._time(row.get("ts"), recv_ms, "ts")
        base, quote, contract = self._spec(inst_id)
        return Funding(
            id=stable_id(self.name, inst_id, "funding", ts, rate),
            venue=self.name,
            symbol=inst_id,
            base=base,
            quote=quote,
            contract=contract,
            ts_ms=ts,
            recv_ms=recv_ms,
            rate=rate,
            interval_h=interval,
            rate_8h=rate_8h(rate, interval),
            next_funding_ms=funding_ms,
        )

    def _open_interest(self, row: Any, recv_ms: int) -> OpenInterest | None:
        inst_id = text(field(row, "instId", "open-interest.data[]"), "instId")
        base, quote, contract = self._spec(inst_id)
        oi_base = opt_num(row.get("oiCcy"), "oiCcy")
        mark = self._marks.get(inst_id)
        if oi_base is None:  # older pushes: contracts only
            contracts = num(field(row, "oi", inst_id), "oi")
            inst = self.instruments.get(inst_id)
            price = mark or 0.0
            oi_base = inst.base_qty(contracts, price) if inst is not None and inst.contract_size else None
            if oi_base is None:
                self._issue("unknown_contract", f"okx {inst_id}: open interest in contracts, size unknown")
                return None
        oi_usd = opt_num(row.get("oiUsd"), "oiUsd")
        if oi_usd is None and mark is not None:
            oi_usd = oi_base * mark
        ts = self._time(row.get("ts"), recv_ms, "ts")
        return OpenInterest(
            id=stable_id(self.name, inst_id, "oi", ts, oi_base),
            venue=self.name,
            symbol=inst_id,
            base=base,
            quote=quote,
            contract=contract,
            ts_ms=ts,
            recv_ms=recv_ms,
            oi_base=oi_base,
            oi_usd=oi_usd,
        )

    # -- helpers -------------------------------------------------------------------------------
    def _spec(self, inst_id: str) -> tuple[str, str, Literal["linear", "inverse"]]:
        inst = self.instruments.get(inst_id)
        if inst is not None:
            return inst.base, inst.quote, inst.contract
        base, quote = self._names(inst_id)
        return base, quote, "inverse" if quote == "USD" else "linear"

    @staticmethod
    def _names(inst_id: str) -> tuple[str, str]:
        """(base, quote) from an instId such as ``BTC-USDT-SWAP`` or ``XRP-USD-230929``."""
        parts = inst_id.upper().split("-")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ParseError(f"okx: cannot read base and quote from instId {inst_id!r:.60}", reason="unknown_symbol")
        return parts[0], parts[1]

    def _base_of(self, inst_id: str) -> str:
        try:
            return self._spec(inst_id)[0]
        except ParseError:
            return inst_id.upper()

    def _is_swap(self, inst_id: str) -> bool:
        inst = self.instruments.get(inst_id)
        return inst.perpetual if inst is not None else inst_id.upper().endswith("-SWAP")

    @staticmethod
    def _opt_ms(value: Any, name: str) -> int | None:
        return None if value in (None, "", "0", 0) else ms(value, name)

    @staticmethod
    def _time(value: Any, recv_ms: int, name: str) -> int:
        return recv_ms if value in (None, "") else ms(value, name)
