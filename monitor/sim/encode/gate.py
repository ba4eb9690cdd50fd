"""Gate futures v4 (USDT-settled): ``futures.public_liquidates`` and ``futures.tickers`` for BTC_USDT.

Sizes are contracts of ``quanto_multiplier`` 0.0001 BTC, sent as strings
(``X-Gate-Size-Decimal: 1``); a negative liquidation size is a sell order, i.e.
a long liquidated. At most one liquidation per contract per second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, fmt, largest_per_second, round_price

SYMBOL: Final = "BTC_USDT"
MULTIPLIER: Final = 0.0001
TICKER_EVERY_S: Final = 10.0
USDT_PATH: Final = "/api/v4/futures/usdt/contracts"
BTC_PATH: Final = "/api/v4/futures/btc/contracts"
sample = largest_per_second


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Contract lists, liquidation and ticker updates."""
    contract = {
        "name": SYMBOL,
        "type": "direct",
        "quanto_multiplier": "0.0001",
        "funding_interval": 28800,
        "mark_type": "index",
        "order_size_min": 1,
        "in_delisting": False,
    }
    yield view.meta(USDT_PATH, [contract])
    yield view.meta(BTC_PATH, [])
    for liq in sample(view.liqs):
        contracts = max(1, round(liq.usd / liq.price / MULTIPLIER))
        row = {
            "price": fmt(round_price(liq.price), 1),
            "size": str(-contracts if liq.side == "long" else contracts),
            "time_ms": liq.ts_ms,
            "contract": SYMBOL,
        }
        push = liq.ts_ms + 300
        body = {
            "channel": "futures.public_liquidates",
            "event": "update",
            "time": push // 1000,
            "time_ms": push,
            "result": [row],
        }
        yield view.frame(view.recv(push), body)
    for k in view.ticks(TICKER_EVERY_S, offset_s=8.0):
        ts = view.t_ms(k)
        mark = view.mark(k)
        row = {
            "contract": SYMBOL,
            "last": fmt(round_price(mark), 1),
            "funding_rate": fmt(view.funding_8h(k), 6),
            "mark_price": fmt(mark, 2),
            "index_price": fmt(view.index(k), 2),
            "total_size": fmt(view.oi_base(k) / MULTIPLIER, 0),
            "quanto_base_rate": "",
            "t": ts,
        }
        body = {"time": ts // 1000, "time_ms": ts, "channel": "futures.tickers", "event": "update", "result": [row]}
        yield view.frame(view.recv(ts), body)
