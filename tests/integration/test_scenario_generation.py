"""Scenarios: reproducible bytes, frames every adapter reads, calibration to the documented figures."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import ParseError
from monitor.sim.catalog import FEB_5_2026_MS, SCENARIOS
from monitor.sim.scenario import Scenario, generate, write_capture
from monitor.venues.registry import VENUES, create_adapter

pytestmark = pytest.mark.integration

# Venues whose public feeds carry liquidations (Hyperliquid has none).
LIQUIDATION_VENUES = set(VENUES) - {"hyperliquid"}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_same_seed_same_bytes(tmp_path: Path, suffix: str) -> None:
    paths = []
    for n, seed in enumerate((11, 11, 12)):
        path = tmp_path / f"run{n}{suffix}"
        write_capture(generate("calm", seed=seed, hours=1).records, path)
        paths.append(path.read_bytes())
    assert paths[0] == paths[1]
    assert paths[0] != paths[2]
    if suffix.endswith(".gz"):
        assert gzip.decompress(paths[0]).count(b"\n") > 1000


def _parse(scenario: Scenario) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    adapters = {v: create_adapter(v) for v in VENUES}
    kinds: Counter[tuple[str, str]] = Counter()
    problems: Counter[str] = Counter()
    for record in scenario.records:
        adapter = adapters[record.venue]
        if record.gap is not None:
            kinds[(record.venue, "gap")] += 1
            continue
        assert record.frame is not None
        try:
            if record.meta is not None:
                assert adapter.load_instruments(record.meta, record.frame) >= 0
                continue
            if record.rest is not None:
                events = adapter.parse_rest(record.rest, record.frame, record.recv_ms)
            else:
                events = adapter.parse(record.frame, record.recv_ms)
        except ParseError as exc:
            problems[f"{record.venue}: {exc}"] += 1
            continue
        for event in events:
            kinds[(event.venue, event.kind)] += 1
            if event.kind == "liquidation" and event.notional_usd is None:
                problems[f"{record.venue}: liquidation without notional"] += 1
        for reason, message in adapter.drain_issues():
            problems[f"{record.venue} {reason}: {message}"] += 1
    return kinds, problems


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_frame_parses_with_the_real_adapters(name: str) -> None:
    scenario = generate(name, seed=2, hours=2)
    kinds, problems = _parse(scenario)
    assert not problems, problems.most_common(5)
    for venue in scenario.venues:
        assert kinds[(venue, "funding")] > 0, venue
        assert kinds[(venue, "open_interest")] > 0, venue
        assert (kinds[(venue, "liquidation")] > 0) == (venue in LIQUIDATION_VENUES), venue
    times = [r.recv_ms for r in scenario.records]
    assert times == sorted(times)


def test_venue_subset_and_unknown_names() -> None:
    scenario = generate("calm", seed=1, hours=0.5, venues=["okx", "deribit"])
    assert {r.venue for r in scenario.records} == {"okx", "deribit"}
    with pytest.raises(ValueError, match="known scenarios"):
        generate("no-such-day")
    with pytest.raises(ValueError, match="unknown venue"):
        generate("calm", venues=["nasdaq"])


@pytest.mark.parametrize("hours", [12.0])
def test_feb_2026_crash_is_calibrated_to_the_reported_figures(hours: float | None) -> None:
    scenario = generate("feb-2026-crash", seed=1, hours=hours)
    path = scenario.path
    day = scenario.start_ms + (scenario.end_ms - scenario.start_ms) // 2  # end of 5 Feb in scenario time
    assert scenario.start_ms == FEB_5_2026_MS
    shown_longs = sum(q.usd for v in VENUES for q in _sampled(v, path.liqs) if q.side == "long" and q.ts_ms < day)
    assert shown_longs == pytest.approx(1.0e9, rel=0.01)
    first_day = [p for k, p in enumerate(path.price) if path.t_ms(k) < day]
    second_day = [p for k, p in enumerate(path.price) if path.t_ms(k) >= day]
    assert first_day[0] == pytest.approx(73_100, rel=0.01)
    assert min(first_day) == pytest.approx(62_600, rel=0.025)
    assert min(second_day) == pytest.approx(60_000, rel=0.025)
    assert max(second_day) == pytest.approx(71_400, rel=0.025)
    oi_usd = [b * p for b, p in zip(path.oi_base, path.price, strict=True)]
    assert oi_usd[0] == pytest.approx(61e9, rel=0.01)
    assert min(oi_usd) == pytest.approx(49e9, rel=0.04)
    assert min(path.funding_8h) < 0 < max(path.funding_8h)


def _sampled(venue: str, liqs: list) -> list:  # type: ignore[type-arg]
    from monitor.sim.encode import encoder

    return list(encoder(venue).sample([q for q in liqs if q.venue == venue]))


def test_scenario_command_writes_a_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calm.jsonl.gz"
    assert main(["scenario", "calm", "--out", str(out), "--hours", "0.5", "--venues", "bybit", "okx"]) == 0
    assert out.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "liquidations shown" in printed
    assert main(["scenario", "--list"]) == 0
    assert "feb-2026-crash" in capsys.readouterr().out
    assert main(["scenario", "nope", "--out", str(out)]) == 2
    assert "known scenarios" in capsys.readouterr().err


def test_outage_variant_marks_the_gap_and_drops_the_venue_meanwhile() -> None:
    scenario = generate("flash-crash-outage", seed=1, hours=4)
    squeeze = scenario.spec.nominal_hours / scenario.hours
    outage = scenario.spec.outage
    assert outage is not None
    lo = scenario.start_ms + outage.from_h / squeeze * 3_600_000
    hi = scenario.start_ms + outage.to_h / squeeze * 3_600_000
    gaps = [r for r in scenario.records if r.gap is not None]
    assert [(g.venue, g.gap, g.recv_ms) for g in gaps] == [("binance", "disconnect", int(lo))]
    binance = [r.recv_ms for r in scenario.records if r.venue == "binance" and r.frame is not None and r.meta is None]
    assert not [t for t in binance if lo <= t < hi]
    assert [t for t in binance if t < lo]  # frames stop...
    assert [t for t in binance if t >= hi]  # ...then resume


def test_scale_variants_scale_the_liquidations() -> None:
    shown = {
        name: generate(name, seed=1, hours=4).figures["long_usd_shown"]
        for name in ("flash-crash", "flash-crash-half", "flash-crash-double")
    }
    assert shown["flash-crash-half"] == pytest.approx(shown["flash-crash"] / 2, rel=1e-6)
    assert shown["flash-crash-double"] == pytest.approx(shown["flash-crash"] * 2, rel=1e-6)
