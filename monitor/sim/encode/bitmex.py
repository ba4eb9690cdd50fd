"""BitMEX realtime: the ``liquidation`` and ``instrument`` tables for XBTUSD.

A ``partial`` of both tables opens the stream. Each liquidation is a resting
order: ``insert`` with its ``leavesQty`` (USD contracts, lots of 100), then
``delete`` once filled a few seconds later. Instrument updates carry only the
changed fields (mark, funding, open interest and value).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, everything

SYMBOL: Final = "XBTUSD"
INSTRUMENT_EVERY_S: Final = 10.0
INSTRUMENTS_PATH: Final = "/api/v1/instrument/active"
sample = everything


def iso(ts_ms: int) -> str:
    """BitMEX's ISO timestamp with milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def _row(view: VenueView, k: int) -> dict[str, object]:
    ts = view.t_ms(k)
    mark = round(view.mark(k) * 2) / 2
    oi_usd = round(view.oi_face_usd(k) / 100) * 100
    return {
        "symbol": SYMBOL,
        "markPrice": mark,
        "fundingRate": round(view.funding_8h(k), 6),
        "indicativeFundingRate": round(view.funding_8h(k), 6),
        "openInterest": oi_usd,
        "openValue": round(oi_usd / mark * 1e8),
        "fundingTimestamp": iso(view.next_funding_ms(ts)),
        "timestamp": iso(ts),
    }


def _static() -> dict[str, object]:
    return {
        "symbol": SYMBOL,
        "rootSymbol": "XBT",
        "state": "Open",
        "typ": "FFWCSX",
        "underlying": "XBT",
        "quoteCurrency": "USD",
        "positionCurrency": "USD",
        "settlCurrency": "XBt",
        "lotSize": 100,
        "tickSize": 0.5,
        "multiplier": -100000000,
        "underlyingToSettleMultiplier": -100000000,
        "isQuanto": False,
        "isInverse": True,
        "fundingInterval": "2000-01-01T08:00:00.000Z",
    }


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Instrument list, table partials, liquidation inserts/deletes and instrument updates."""
    yield view.meta(INSTRUMENTS_PATH, [{**_static(), **_row(view, 0)}])
    start = view.path.start_ms
    yield view.frame(start, {"table": "liquidation", "action": "partial", "keys": ["orderID"], "data": []})
    yield view.frame(
        start + 1,
        {"table": "instrument", "action": "partial", "keys": ["symbol"], "data": [{**_static(), **_row(view, 0)}]},
    )
    for n, liq in enumerate(sample(view.liqs)):
        order_id = (
            f"{view.rng.getrandbits(32):08x}-{n & 0xFFFF:04x}-4{view.rng.getrandbits(12):03x}-"
            f"8{view.rng.getrandbits(12):03x}-{view.rng.getrandbits(48):012x}"
        )
        lots = max(1, round(liq.usd / 100))
        row = {
            "orderID": order_id,
            "symbol": SYMBOL,
            "side": "Sell" if liq.side == "long" else "Buy",
            "price": round(liq.price * 2) / 2,
            "leavesQty": lots * 100,
        }
        yield view.frame(view.recv(liq.ts_ms + 400), {"table": "liquidation", "action": "insert", "data": [row]})
        done = liq.ts_ms + 1500 + int(view.rng.random() * 4000)
        yield view.frame(
            view.recv(done),
            {"table": "liquidation", "action": "delete", "data": [{"orderID": order_id, "symbol": SYMBOL}]},
        )
    for k in view.ticks(INSTRUMENT_EVERY_S, offset_s=INSTRUMENT_EVERY_S):
        yield view.frame(view.recv(view.t_ms(k)), {"table": "instrument", "action": "update", "data": [_row(view, k)]})
