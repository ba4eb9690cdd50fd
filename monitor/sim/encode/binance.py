"""Binance USD-M: ``!forceOrder@arr`` and ``!markPrice@arr@1s`` on ``/market/stream``, REST open interest.

Combined-stream frames (``{"stream": ..., "data": ...}``). The liquidation
stream shows at most one order per symbol per second (the largest); open
interest is a polled ``/fapi/v1/openInterest`` body every ``OI_POLL_S``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, fmt, largest_per_second, qty_steps, round_price

SYMBOL: Final = "BTCUSDT"
MARK_EVERY_S: Final = 5.0
OI_POLL_S: Final = 30.0
OI_PATH: Final = f"/fapi/v1/openInterest?symbol={SYMBOL}"
sample = largest_per_second


def _exchange_info() -> dict[str, object]:
    return {
        "timezone": "UTC",
        "rateLimits": [],
        "symbols": [
            {
                "symbol": SYMBOL,
                "pair": SYMBOL,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "pricePrecision": 2,
                "quantityPrecision": 3,
            }
        ],
    }


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Instrument lists, liquidation and mark-price frames, open-interest polls."""
    yield view.meta("/fapi/v1/exchangeInfo", _exchange_info())
    yield view.meta("/fapi/v1/fundingInfo", [])
    for liq in sample(view.liqs):
        qty = fmt(qty_steps(liq.usd / liq.price, 0.001), 3)
        price = round_price(liq.price)
        order = {
            "s": SYMBOL,
            "S": "SELL" if liq.side == "long" else "BUY",
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": fmt(round_price(price * (0.995 if liq.side == "long" else 1.005)), 2),
            "ap": fmt(price, 2),
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": liq.ts_ms,
        }
        data = {"e": "forceOrder", "E": liq.ts_ms + 3, "o": order}
        yield view.frame(view.recv(liq.ts_ms + 3), {"stream": "!forceOrder@arr", "data": data})
    for k in view.ticks(MARK_EVERY_S):
        ts = view.t_ms(k)
        update = {
            "e": "markPriceUpdate",
            "E": ts,
            "s": SYMBOL,
            "p": fmt(view.mark(k), 8),
            "ap": fmt(view.mark(k), 8),
            "i": fmt(view.index(k), 8),
            "P": fmt(view.index(k), 8),
            "r": fmt(view.funding_8h(k), 8),
            "T": view.next_funding_ms(ts),
        }
        yield view.frame(view.recv(ts), {"stream": "!markPrice@arr@1s", "data": [update]})
    for k in view.ticks(OI_POLL_S, offset_s=2.0):
        ts = view.t_ms(k)
        body = {"openInterest": fmt(view.oi_base(k), 3), "symbol": SYMBOL, "time": ts - 20}
        yield view.rest(view.recv(ts), OI_PATH, body)
