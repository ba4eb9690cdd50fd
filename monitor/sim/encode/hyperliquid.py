"""Hyperliquid: ``activeAssetCtx`` for BTC (hourly funding, open interest in coins, no timestamp).

Hyperliquid publishes no liquidation feed: its share of liquidations only shows
in its open interest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, fmt, nothing

SYMBOL: Final = "BTC"
CTX_EVERY_S: Final = 10.0
META_PATH: Final = "/info"
sample = nothing


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """The meta universe and asset contexts."""
    yield view.meta(META_PATH, {"universe": [{"name": SYMBOL, "szDecimals": 5, "maxLeverage": 40}]})
    for k in view.ticks(CTX_EVERY_S, offset_s=6.0):
        mark = view.mark(k)
        ctx = {
            "funding": fmt(view.funding_8h(k) / 8, 8),
            "openInterest": fmt(view.oi_base(k), 5),
            "prevDayPx": fmt(view.index(max(0, k - 17280)), 1),
            "dayNtlVlm": "2500000000.0",
            "premium": fmt(view.path.premium[k], 8),
            "oraclePx": fmt(view.index(k), 1),
            "markPx": fmt(mark, 1),
            "midPx": fmt(mark, 1),
            "impactPxs": [fmt(mark - 1, 1), fmt(mark + 1, 1)],
        }
        body = {"channel": "activeAssetCtx", "data": {"coin": SYMBOL, "ctx": ctx}}
        yield view.frame(view.recv(view.t_ms(k)), body)
