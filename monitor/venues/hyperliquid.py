"""Hyperliquid: funding, mark and open interest from ``activeAssetCtx``.

Hyperliquid has **no public liquidation feed**: liquidations are only visible
per wallet (``userEvents``/``userFills``). liqmon therefore reads stress on
Hyperliquid from open-interest drops (the OI-collapse detector) and funding.

``activeAssetCtx`` frames carry no timestamp, so ``ts_ms`` is the receive
time. ``funding`` is the hourly rate (``interval_h`` 1, ``rate_8h`` = ×8);
``openInterest`` is in coins; ``oi_usd`` = OI × ``markPx`` (USDC counts as USD).

Frames have no time and no sequence number, so a re-sent context cannot be told
from a new one by its id; instead a context identical to the last one published
for that coin emits nothing.

``activeAssetCtx`` frames have one typed reader (see :mod:`monitor.venues.common`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final, Literal

import msgspec
import orjson

from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event, canonical_base
from monitor.venues.adapter import Connection, VenueAdapter
from monitor.venues.common import (
    Finite,
    NonEmpty,
    NonNegative,
    decode_failed,
    event_id,
    field,
    load_json,
    rejected_event,
    url_join,
)
from monitor.venues.instruments import Instrument, InstrumentBook
from monitor.venues.spec import Keepalive, Rate, RestRequest, VenueLimits, VenueSpec

VENUE: Final = "hyperliquid"
INTERVAL_H: Final = 1.0
_HOUR_MS: Final = 3_600_000
# Instrument lists come from POST /info with a JSON body; the path names the request type.


# -- the typed reader ------------------------------------------------------------------------------
class _Ctx(msgspec.Struct, gc=False):
    funding: Finite
    openInterest: NonNegative
    markPx: NonNegative | Literal[""] | None = None
    oraclePx: NonNegative | Literal[""] | None = None


class _AssetCtx(msgspec.Struct, gc=False):
    coin: NonEmpty
    ctx: _Ctx


class _AssetCtxFrame(msgspec.Struct, gc=False, tag_field="channel", tag="activeAssetCtx"):
    data: _AssetCtx


class _Error(msgspec.Struct, gc=False, tag_field="channel", tag="error"):
    data: Any = None


class _Pong(msgspec.Struct, gc=False, tag_field="channel", tag="pong"):
    pass


class _Ack(msgspec.Struct, gc=False, tag_field="channel", tag="subscriptionResponse"):
    pass


class _SpotCtx(msgspec.Struct, gc=False, tag_field="channel", tag="activeSpotAssetCtx"):
    pass


# One pass: the channel picks the shape (control frames keep none of their data but an error's).
_FRAME: Final = msgspec.json.Decoder(_AssetCtxFrame | _Error | _Pong | _Ack | _SpotCtx, strict=False)


SPEC: Final = VenueSpec(
    name=VENUE,
    adapter="monitor.venues.hyperliquid:HyperliquidAdapter",
    ws_url="wss://api.hyperliquid.xyz/ws",
    rest_url="https://api.hyperliquid.xyz",
    # The server closes connections idle for ~60 s; the official SDK pings every 50 s.
    keepalive=Keepalive("client_ping", interval_s=30.0, payload='{"method":"ping"}', drop_after_s=60.0),
    # One coin per subscription; 1000 subscriptions, 100 connections and 2000 messages a minute per IP.
    limits=VenueLimits(ip_messages=Rate(2000, 60.0), ip_topics=1000),
    topics_per_connection=250,
    # Pongs arrive every 30 s even when no context changes.
    liveness_timeout_s=90.0,
    instruments=(RestRequest("/info", method="POST", body=b'{"type":"meta"}'),),
    liquidations=False,
    untimed=True,
    simulator="monitor.sim.protocols.hyperliquid:HyperliquidProtocol",
    encoder="monitor.sim.encode.hyperliquid",
    scenario_share=0.10,
    scenario_latency_ms=80,
)


class HyperliquidAdapter(VenueAdapter):
    """Hyperliquid perpetuals: one ``activeAssetCtx`` subscription per coin."""

    spec: ClassVar[VenueSpec] = SPEC
    # Per-IP cap on subscriptions (the connection loop must not open more in total).
    max_subscriptions_per_ip: ClassVar[int] = 1000

    def __init__(self, instruments: InstrumentBook | None = None) -> None:
        super().__init__(instruments)
        # Last values published per coin, of funding and of open interest. Kept across reconnects on purpose: a
        # context re-sent after a resubscription (or by an overlapping connection) is not news.
        self._last_funding: dict[str, tuple[float, float | None, float | None]] = {}
        self._last_oi: dict[str, tuple[float, float | None]] = {}

    # -- subscriptions -------------------------------------------------------------------------
    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        """``activeAssetCtx`` per coin (``BTC``, ``ETH``...); all listed perpetuals when empty."""
        url = url_join(ws_url, "/ws") if ws_url else self.ws_url  # an override may be an origin
        coins = list(symbols) or self.instruments.perpetuals()
        if len(coins) > self.max_subscriptions_per_ip:
            self._issue(
                "subscription_limit",
                f"hyperliquid allows {self.max_subscriptions_per_ip} subscriptions per IP; "
                f"watching the first {self.max_subscriptions_per_ip} of {len(coins)} coins",
            )
            coins = coins[: self.max_subscriptions_per_ip]
        size = self.max_subscriptions_per_connection
        result: list[Connection] = []
        for index in range(0, len(coins), size):
            chunk = coins[index : index + size]
            frames = tuple(
                orjson.dumps({"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": c}}).decode()
                for c in chunk
            )
            result.append(
                Connection(
                    url=url,
                    subscribe=frames,
                    symbols=tuple(chunk),
                    bases=tuple(sorted({canonical_base(c) for c in chunk})),
                    label=f"hyperliquid-{index // size}",
                )
            )
        return result

    def read_instruments(self, path: str, body: str | bytes) -> int:
        """Read the ``meta`` universe: coin names; sizes in coins; funding hourly; delisted skipped."""
        data = load_json(body)
        universe = field(data, "universe", "hyperliquid meta")
        if not isinstance(universe, list):
            raise ParseError("hyperliquid meta: 'universe' must be an array", reason="schema")
        loaded: list[Instrument] = []
        for entry in universe:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name or entry.get("isDelisted") is True:
                continue
            loaded.append(
                Instrument(
                    venue=VENUE,
                    symbol=name,
                    base=name,
                    quote="USD",
                    contract="linear",
                    size_unit="base",
                    funding_interval_h=INTERVAL_H,
                )
            )
        self.instruments.update(loaded)
        return len(loaded)

    # -- parsing -------------------------------------------------------------------------------
    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        """``activeAssetCtx`` through its typed reader; pongs and subscription acks give [], errors an issue.

        A frame that does not fit raises ParseError with msgspec's path to the field. A context gives its
        funding and open interest, each only when it changed since the last frame.
        """
        try:
            msg = _FRAME.decode(frame)
            if type(msg) is _AssetCtxFrame:
                data = msg.data
                return self._context_events(data.coin, data.ctx, recv_ms)
        except msgspec.ValidationError as exc:
            if str(exc).startswith("Invalid value") and str(exc).endswith("$.channel`"):
                raise ParseError(f"hyperliquid: unexpected channel ({exc})", reason="unknown_channel") from None
            raise decode_failed(VENUE, exc) from None
        except msgspec.MsgspecError as exc:
            raise decode_failed(VENUE, exc) from None
        except InvalidEvent as exc:
            raise rejected_event(self.name, exc) from None
        if type(msg) is _Error:
            self._issue("venue_error", f"hyperliquid rejected a request: {msg.data!r:.200}")
        return []

    def _context_events(self, coin: str, ctx: _Ctx, recv_ms: int) -> list[Event]:
        """The events of a context: funding and open interest, those that changed since the last frame.

        Both are built (so checked) before either is remembered as published.
        """
        rate, oi, mark, oracle = ctx.funding + 0.0, ctx.openInterest + 0.0, ctx.markPx, ctx.oraclePx
        mark = None if mark is None or mark == "" else mark + 0.0
        oracle = None if oracle is None or oracle == "" else oracle + 0.0
        inst = self.instrument(coin)
        funding = inst.funding(
            event_id(f"hyperliquid|{coin}|funding|{mark}", recv_ms, rate),
            recv_ms,
            recv_ms,
            rate,
            INTERVAL_H,
            (recv_ms // _HOUR_MS + 1) * _HOUR_MS,
            mark,
            oracle,
        )
        open_interest = inst.open_interest(event_id(f"hyperliquid|{coin}|oi", recv_ms, oi), recv_ms, recv_ms, oi, mark)
        # Both events are valid by now; only what changed since the last frame is published (and remembered).
        events: list[Event] = []
        values = (rate, mark, oracle)
        if self._last_funding.get(coin) != values:
            self._last_funding[coin] = values
            events.append(funding)
        if open_interest is not None:
            oi_values = (oi, mark)
            if self._last_oi.get(coin) != oi_values:
                self._last_oi[coin] = oi_values
                events.append(open_interest)
        return events

    def guess_instrument(self, symbol: str) -> Instrument:
        """A coin the meta list does not have yet: a USD-margined perpetual sized in the coin."""
        return Instrument(VENUE, symbol, symbol, "USD", "linear", "base", funding_interval_h=INTERVAL_H)
