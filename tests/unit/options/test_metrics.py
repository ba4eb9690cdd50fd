"""liqmon_options_* gauges: the latest summary per venue and tracked asset, bounded labels only."""

from __future__ import annotations

from monitor.market_metrics import MarketTally
from tests.unit.options.test_event import make


def samples(tally: MarketTally) -> dict[tuple[str, tuple[str, ...]], float]:
    out = {}
    for family in tally.collect():
        for sample in family.samples:
            if sample.name.startswith("liqmon_options_"):
                out[(sample.name, tuple(sample.labels.values()))] = sample.value
    return out


def test_gauges_follow_the_latest_summary_of_tracked_assets() -> None:
    tally = MarketTally(["BTC", "ETH"])
    tally.observe([make(), make(base="DOGE", id="d1")])
    got = samples(tally)
    assert got[("liqmon_options_rr25", ("deribit", "BTC", "7d"))] == -0.131
    assert got[("liqmon_options_atm_iv", ("deribit", "BTC", "30d"))] == 0.63
    assert got[("liqmon_options_bf25", ("deribit", "BTC", "7d"))] == 0.021
    assert ("liqmon_options_rr25", ("deribit", "BTC", "90d")) not in got  # no 90 d tenor: no sample
    assert got[("liqmon_options_dvol", ("deribit", "BTC"))] == 71.3
    assert got[("liqmon_options_put_call_oi_ratio", ("deribit", "BTC"))] == 0.94
    assert got[("liqmon_options_put_oi_top_strike_usd", ("deribit", "BTC", "1"))] == 60_000.0
    assert got[("liqmon_options_put_oi_top_base", ("deribit", "BTC", "2"))] == 6_020.5
    assert not any("DOGE" in labels for _, labels in got)
    # An older summary arriving late does not replace a newer one.
    tally.observe([make(ts_ms=1_770_249_000_000, dvol=50.0)])
    assert samples(tally)[("liqmon_options_dvol", ("deribit", "BTC"))] == 71.3
    tally.observe([make(ts_ms=1_770_249_700_000, dvol=80.0, put_oi_top=())])
    after = samples(tally)
    assert after[("liqmon_options_dvol", ("deribit", "BTC"))] == 80.0
    assert not any(name == "liqmon_options_put_oi_top_base" for name, _ in after)
