"""Bitget: v2 ``ticker`` for BTCUSDT (funding, mark, ``holdingAmount``) and the UTA ``liquidation`` topic.

The liquidation topic pushes once a second the largest long and the largest
short liquidation per pair; ``side`` is the position side (``buy`` = long) and
``amount`` is in quote currency (USDT).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, batches, fmt, largest_per_side_per_second, round_price

SYMBOL: Final = "BTCUSDT"
TICKER_EVERY_S: Final = 10.0
CONTRACTS_PATH: Final = "/api/v2/mix/market/contracts?productType="
sample = largest_per_side_per_second


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Contract lists, liquidation pushes (1 s) and ticker snapshots."""
    row = {
        "symbol": SYMBOL,
        "baseCoin": "BTC",
        "quoteCoin": "USDT",
        "symbolType": "perpetual",
        "fundInterval": "8",
        "sizeMultiplier": "0.0001",
        "symbolStatus": "normal",
    }
    yield view.meta(CONTRACTS_PATH + "USDT-FUTURES", {"code": "00000", "msg": "success", "data": [row]})
    for kind in ("COIN-FUTURES", "USDC-FUTURES"):
        yield view.meta(CONTRACTS_PATH + kind, {"code": "00000", "msg": "success", "data": []})
    for push_ms, batch in batches(sample(view.liqs), 1000):
        rows = [
            {
                "symbol": SYMBOL,
                "side": "buy" if liq.side == "long" else "sell",
                "price": fmt(round_price(liq.price), 1),
                "amount": fmt(liq.usd, 2),
                "ts": str(liq.ts_ms),
            }
            for liq in batch
        ]
        body = {
            "action": "update",
            "arg": {"instType": "usdt-futures", "topic": "liquidation"},
            "data": rows,
            "ts": push_ms,
        }
        yield view.frame(view.recv(push_ms), body)
    for k in view.ticks(TICKER_EVERY_S, offset_s=9.0):
        ts = view.t_ms(k)
        mark = view.mark(k)
        data = {
            "instId": SYMBOL,
            "lastPr": fmt(round_price(mark), 1),
            "fundingRate": fmt(view.funding_8h(k), 6),
            "nextFundingTime": str(view.next_funding_ms(ts)),
            "markPrice": fmt(mark, 1),
            "indexPrice": fmt(view.index(k), 1),
            "holdingAmount": fmt(view.oi_base(k), 3),
            "symbolType": 1,
            "symbol": SYMBOL,
            "deliveryPrice": "0",
            "ts": str(ts),
        }
        body = {
            "action": "snapshot",
            "arg": {"instType": "USDT-FUTURES", "channel": "ticker", "instId": SYMBOL},
            "data": [data],
            "ts": ts + 5,
        }
        yield view.frame(view.recv(ts), body)
