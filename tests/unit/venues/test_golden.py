"""Every vendored sample frame still normalizes to the checked-in events (see tests/unit/venues/golden.py)."""

from __future__ import annotations

import pytest

from tests.unit.venues.golden import INSTRUMENT_FILES, golden_path, outcomes, render, sample_files


@pytest.mark.parametrize("venue", sorted(INSTRUMENT_FILES))
def test_samples_match_golden_file(venue: str) -> None:
    assert sample_files(venue), f"no sample frames for {venue}"
    expected = golden_path(venue).read_text().splitlines()
    actual = render(outcomes(venue)).splitlines()
    # Line by line, so a failure names the sample whose outcome changed.
    for want, got in zip(expected, actual, strict=True):
        assert got == want


SAMPLED_FEEDS = {
    "binance": ["binance_forceOrder.jsonl"],
    "okx": ["okx_liquidation-orders.jsonl"],
    "bitget": ["bitget_liquidation.jsonl"],
    "bybit": ["bybit_liquidation.jsonl"],  # the legacy topic: at most one per symbol per second
}
COMPLETE_FEEDS = {
    "bybit": ["bybit_allLiquidation.jsonl"],
    "deribit": ["deribit_trades.jsonl"],
    "bitmex": ["bitmex_liquidation.jsonl"],
    "gate": ["gate_public_liquidates.jsonl"],
    "bitfinex": ["bitfinex_liquidation.jsonl"],
}


@pytest.mark.parametrize(
    ("venue", "name", "sampled"),
    [(v, n, True) for v, names in SAMPLED_FEEDS.items() for n in names]
    + [(v, n, False) for v, names in COMPLETE_FEEDS.items() for n in names],
)
def test_every_liquidation_says_whether_its_feed_is_sampled(venue: str, name: str, sampled: bool) -> None:
    records = [r for r in outcomes(venue) if r["sample"].startswith(name)]
    found = [e for r in records for e in r.get("events", []) if e["kind"] == "liquidation"]
    assert found, name
    assert {e["sampled"] for e in found} == {sampled}
