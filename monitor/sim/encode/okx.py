"""OKX v5: ``liquidation-orders`` (SWAP), ``funding-rate`` and ``open-interest`` for BTC-USDT-SWAP.

Sizes are contracts of ``ctVal`` 0.01 BTC. The liquidation channel shows at
most one order per contract per second (the largest here). Funding pushes
every ``FUNDING_EVERY_S`` (OKX: 30–90 s), open interest every ``OI_EVERY_S``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, fmt, largest_per_second, round_price

SYMBOL: Final = "BTC-USDT-SWAP"
CT_VAL: Final = 0.01
FUNDING_EVERY_S: Final = 60.0
OI_EVERY_S: Final = 15.0
INSTRUMENTS_PATH: Final = "/api/v5/public/instruments?instType=SWAP"
sample = largest_per_second


def _instruments() -> dict[str, object]:
    row = {
        "instId": SYMBOL,
        "instType": "SWAP",
        "instFamily": "BTC-USDT",
        "uly": "BTC-USDT",
        "ctVal": "0.01",
        "ctMult": "1",
        "ctValCcy": "BTC",
        "ctType": "linear",
        "settleCcy": "USDT",
        "state": "live",
        "lotSz": "1",
        "minSz": "1",
        "tickSz": "0.1",
        "baseCcy": "",
        "quoteCcy": "",
    }
    return {"code": "0", "msg": "", "data": [row]}


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Instrument list, liquidation orders, funding-rate and open-interest pushes."""
    yield view.meta(INSTRUMENTS_PATH, _instruments())
    for liq in sample(view.liqs):
        contracts = max(1, round(liq.usd / liq.price / CT_VAL))
        long = liq.side == "long"
        detail = {
            "bkLoss": "0",
            "bkPx": fmt(round_price(liq.price), 1),
            "ccy": "",
            "posSide": "long" if long else "short",
            "side": "sell" if long else "buy",
            "sz": str(contracts),
            "ts": str(liq.ts_ms),
        }
        body = {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [
                {"details": [detail], "instFamily": "BTC-USDT", "instId": SYMBOL, "instType": "SWAP", "uly": "BTC-USDT"}
            ],
        }
        yield view.frame(view.recv(liq.ts_ms + 200), body)
    for k in view.ticks(FUNDING_EVERY_S, offset_s=7.0):
        ts = view.t_ms(k)
        nxt = view.next_funding_ms(ts)
        row = {
            "formulaType": "withRate",
            "fundingRate": fmt(view.funding_8h(k), 16),
            "fundingTime": str(nxt),
            "impactValue": "",
            "instId": SYMBOL,
            "instType": "SWAP",
            "interestRate": "0.0001",
            "method": "current_period",
            "maxFundingRate": "0.00375",
            "minFundingRate": "-0.00375",
            "nextFundingRate": "",
            "nextFundingTime": str(nxt + 8 * 3_600_000),
            "premium": fmt(view.path.premium[k], 16),
            "settFundingRate": "0",
            "settState": "settled",
            "ts": str(ts),
        }
        yield view.frame(view.recv(ts), {"arg": {"channel": "funding-rate", "instId": SYMBOL}, "data": [row]})
    for k in view.ticks(OI_EVERY_S, offset_s=3.0):
        ts = view.t_ms(k)
        coins = view.oi_base(k)
        row = {
            "instId": SYMBOL,
            "instType": "SWAP",
            "oi": fmt(coins / CT_VAL, 2),
            "oiCcy": fmt(coins, 4),
            "oiUsd": fmt(coins * view.mark(k), 2),
            "ts": str(ts),
        }
        yield view.frame(view.recv(ts), {"arg": {"channel": "open-interest", "instId": SYMBOL}, "data": [row]})
