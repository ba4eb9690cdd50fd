"""The sampled-feed gauge: which venues' liquidation sums are lower bounds."""

from __future__ import annotations

import msgspec
from prometheus_client import CollectorRegistry, generate_latest

from monitor.market_metrics import MarketTally
from tests.unit.detectors.market import T0, liq


def test_sampled_gauge_follows_the_liquidations_seen() -> None:
    tally = MarketTally(["BTC"])
    registry = CollectorRegistry()
    registry.register(tally)
    tally.observe(
        [
            msgspec.structs.replace(liq(T0, "long", 1e5, venue="binance"), sampled=True),
            liq(T0, "long", 2e5, venue="bybit"),
        ]
    )
    text = generate_latest(registry).decode()
    assert 'liqmon_feed_liquidations_sampled{venue="binance"} 1.0' in text
    assert 'liqmon_feed_liquidations_sampled{venue="bybit"} 0.0' in text
