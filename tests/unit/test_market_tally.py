"""The market tally over a mixed batch: each kind lands in its own figures, gaps and untracked gauges nowhere."""

from __future__ import annotations

from monitor.market_metrics import OTHER, MarketTally
from tests.unit.detectors.market import T0, fund, gap, liq, oi


def test_one_batch_of_every_kind_updates_each_figure_as_one_event_at_a_time() -> None:
    events = [
        fund(T0, 0.0001, "bybit", mark=70_000.0),
        gap(T0, "bybit"),
        oi(T0, 100.0, "bybit"),
        liq(T0, "long", 1e5, venue="bybit"),
        fund(T0 + 1, 0.0002, "bybit"),  # no mark price: the previous one stays
        oi(T0 + 1, 50.0, "bybit", symbol="BTCUSD", price=None),
        liq(T0 + 1, "long", None, venue="bybit"),  # unknown notional: counted, not summed
        liq(T0 + 1, "short", 2e5, venue="okx", base="DOGE"),  # untracked: counted under "other"
        fund(T0 + 1, 0.0003, "okx", base="DOGE"),  # untracked: no gauge
        oi(T0 + 1, 9.0, "okx", base="DOGE"),
    ]
    batched, one_by_one = MarketTally(["BTC"]), MarketTally(["BTC"])

    batched.observe(events)
    for event in events:
        one_by_one.observe([event])

    assert batched.events == one_by_one.events
    assert batched.events[("bybit", "gap")] == 1
    assert batched.events[("okx", "funding")] == 1
    assert batched.funding == one_by_one.funding == {("bybit", "BTC"): (0.0002, 0.0002)}
    assert batched.mark_price == one_by_one.mark_price == {("bybit", "BTC"): 70_000.0}
    assert batched.open_interest == one_by_one.open_interest
    assert batched.open_interest_totals() == {("bybit", "BTC"): (150.0, None)}
    assert batched.liquidations == one_by_one.liquidations == {("bybit", "BTC", "long"): 2, ("okx", OTHER, "short"): 1}
    assert batched.liquidated_usd == {("bybit", "BTC", "long"): 1e5, ("okx", OTHER, "short"): 2e5}
    assert batched.sampled == {"bybit": False, "okx": False}
    assert batched.options == {}
