"""Bybit v5 linear: ``allLiquidation.BTCUSDT`` (every liquidation, 500 ms batches) and ``tickers.BTCUSDT``.

Tickers start with a snapshot and continue with deltas carrying only the
fields that changed. ``openInterest`` is both sides of the book (twice
``singleOpenInterest``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, batches, everything, fmt, qty_steps, round_price

SYMBOL: Final = "BTCUSDT"
TICKER_EVERY_S: Final = 5.0
INSTRUMENTS_PATH: Final = "/v5/market/instruments-info?category=linear&limit=1000"
sample = everything


def _instruments() -> dict[str, object]:
    row = {
        "symbol": SYMBOL,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": "BTC",
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "fundingInterval": 480,
        "lotSizeFilter": {"qtyStep": "0.001", "minOrderQty": "0.001"},
        "priceFilter": {"tickSize": "0.10"},
    }
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": "linear", "list": [row], "nextPageCursor": ""},
        "retExtInfo": {},
        "time": 0,
    }


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Instrument list, liquidation batches and ticker snapshot + deltas."""
    yield view.meta(INSTRUMENTS_PATH, _instruments())
    yield view.meta(
        "/v5/market/instruments-info?category=inverse&limit=1000",
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": "inverse", "list": [], "nextPageCursor": ""},
            "retExtInfo": {},
            "time": 0,
        },
    )
    for push_ms, batch in batches(sample(view.liqs), 500):
        rows = [
            {
                "T": liq.ts_ms,
                "s": SYMBOL,
                "S": "Buy" if liq.side == "long" else "Sell",
                "v": fmt(qty_steps(liq.usd / liq.price, 0.001), 3),
                "p": fmt(round_price(liq.price), 1),
            }
            for liq in batch
        ]
        body = {"topic": f"allLiquidation.{SYMBOL}", "type": "snapshot", "ts": push_ms, "data": rows}
        yield view.frame(view.recv(push_ms), body)
    seq = 10_000_000
    for n, k in enumerate(view.ticks(TICKER_EVERY_S, offset_s=1.0)):
        ts = view.t_ms(k)
        single = view.oi_base(k)
        mark = view.mark(k)
        data = {
            "symbol": SYMBOL,
            "markPrice": fmt(mark, 2),
            "indexPrice": fmt(view.index(k), 2),
            "openInterest": fmt(2 * single, 3),
            "openInterestValue": fmt(2 * single * mark, 2),
            "singleOpenInterest": fmt(single, 3),
            "singleOpenInterestValue": fmt(single * mark, 2),
            "fundingRate": fmt(view.funding_8h(k), 6),
        }
        if n == 0:
            data.update(
                {
                    "lastPrice": fmt(mark, 1),
                    "nextFundingTime": str(view.next_funding_ms(ts)),
                    "fundingIntervalHour": "8",
                    "fundingCap": "0.005",
                }
            )
        elif ts % (8 * 3_600_000) < TICKER_EVERY_S * 1000:
            data["nextFundingTime"] = str(view.next_funding_ms(ts))
        seq += 1 + int(view.rng.random() * 50)
        body = {
            "topic": f"tickers.{SYMBOL}",
            "type": "snapshot" if n == 0 else "delta",
            "data": data,
            "cs": seq,
            "ts": ts,
        }
        yield view.frame(view.recv(ts), body)
