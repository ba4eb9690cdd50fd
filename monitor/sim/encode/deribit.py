"""Deribit v2: BTC-PERPETUAL trades carrying ``liquidation`` flags, its ticker, and BTC options.

JSON-RPC ``subscription`` notifications. Amounts are USD (10 USD per
contract); a long liquidated as the taker shows as ``liquidation: "T"`` with
``direction: "sell"``, one liquidated as the maker as ``"M"`` with ``"buy"``.
Open interest in the ticker is USD. The options channels and book summaries
come from :mod:`monitor.sim.encode.deribit_options`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode import deribit_options
from monitor.sim.encode.common import VenueView, batches, everything, round_price

SYMBOL: Final = "BTC-PERPETUAL"
CONTRACT_USD: Final = 10
TICKER_EVERY_S: Final = 10.0
TRADES_CHANNEL: Final = f"trades.{SYMBOL}.100ms"
TICKER_CHANNEL: Final = f"ticker.{SYMBOL}.100ms"
INSTRUMENTS_PATH: Final = "/api/v2/public/get_instruments?currency=BTC&kind=future"
sample = everything


def _instruments() -> dict[str, object]:
    row = {
        "instrument_name": SYMBOL,
        "kind": "future",
        "settlement_period": "perpetual",
        "is_active": True,
        "base_currency": "BTC",
        "quote_currency": "USD",
        "counter_currency": "USD",
        "settlement_currency": "BTC",
        "instrument_type": "reversed",
        "contract_size": CONTRACT_USD,
        "tick_size": 0.5,
        "min_trade_amount": 10,
    }
    return {"jsonrpc": "2.0", "result": [row], "usIn": 0, "usOut": 0, "usDiff": 0, "testnet": False}


def _notify(channel: str, data: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """Instrument list, liquidation trades (100 ms batches), tickers and the options feeds."""
    yield view.meta(INSTRUMENTS_PATH, _instruments())
    seq = 150_000_000
    for push_ms, batch in batches(sample(view.liqs), 100):
        trades = []
        for liq in batch:
            seq += 1
            taker = view.rng.random() < 0.8
            long = liq.side == "long"
            direction = ("sell" if long else "buy") if taker else ("buy" if long else "sell")
            k = view.path.index_at(liq.ts_ms)
            trades.append(
                {
                    "trade_seq": seq,
                    "trade_id": str(seq + 90_000_000),
                    "timestamp": liq.ts_ms,
                    "tick_direction": 2 if direction == "sell" else 0,
                    "price": round_price(liq.price),
                    "mark_price": round(view.mark(k), 2),
                    "index_price": round(view.index(k), 2),
                    "instrument_name": SYMBOL,
                    "direction": direction,
                    "amount": float(max(1, round(liq.usd / CONTRACT_USD)) * CONTRACT_USD),
                    "liquidation": "T" if taker else "M",
                }
            )
        yield view.frame(view.recv(push_ms), _notify(TRADES_CHANNEL, trades))
    for k in view.ticks(TICKER_EVERY_S, offset_s=4.0):
        ts = view.t_ms(k)
        f8 = view.funding_8h(k)
        mark = view.mark(k)
        data = {
            "timestamp": ts,
            "instrument_name": SYMBOL,
            "state": "open",
            "mark_price": round(mark, 2),
            "index_price": round(view.index(k), 2),
            "last_price": round_price(mark),
            "best_bid_price": round_price(mark - 0.5),
            "best_ask_price": round_price(mark + 0.5),
            "current_funding": round(f8 / 8, 10),
            "funding_8h": round(f8, 10),
            "open_interest": round(view.oi_face_usd(k) / CONTRACT_USD) * CONTRACT_USD,
            "estimated_delivery_price": round(view.index(k), 2),
        }
        yield view.frame(view.recv(ts), _notify(TICKER_CHANNEL, data))
    yield from deribit_options.encode(view)
