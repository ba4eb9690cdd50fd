"""``liqmon backtest``: sweeps, episode tables, the report files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from monitor.alert import Alert
from monitor.capture.format import CaptureRecord
from monitor.cli import main
from monitor.commands.backtest import overrides_for, parse_records, parse_value, sweep
from monitor.errors import ConfigError
from monitor.report import episodes_from_alerts
from monitor.sim.scenario import generate, write_capture

pytestmark = pytest.mark.integration


def test_sweep_expands_every_combination() -> None:
    combos = sweep(["detectors.cascade.floor_usd=5e6,1e7", "detectors.funding.confirm_s=600,900"])
    assert len(combos) == 4
    assert {"detectors.cascade.floor_usd": "1e7", "detectors.funding.confirm_s": "600"} in combos
    assert sweep([]) == [{}]
    with pytest.raises(ConfigError, match="detectors"):
        sweep(["bus.shard_count=4"])
    with pytest.raises(ConfigError, match="expected"):
        sweep(["detectors.cascade.floor_usd"])


def test_shorthand_paths_become_per_asset_overrides() -> None:
    out = overrides_for({"detectors.cascade.floor_usd": "5e6", "detectors.tick_s": "2"}, ["BTC", "ETH"])
    assert out == {
        "detectors.assets.BTC.cascade.floor_usd": 5e6,
        "detectors.assets.ETH.cascade.floor_usd": 5e6,
        "detectors.tick_s": 2,
    }
    assert parse_value("true") is True
    assert parse_value("1e7") == 1e7
    assert parse_value("abc") == "abc"


def _alert(status: str, severity: str, ts: int, **values: float) -> Alert:
    return Alert(
        id=f"{status}{ts}",
        kind="liquidation_cascade",
        status=status,
        severity=severity,  # type: ignore[arg-type]
        base="BTC",
        venue=None,
        direction="long",
        started_ms=1_000,
        ts_ms=ts,
        summary="s",
        values=values,
    )


def test_episodes_pair_firing_and_resolved_alerts() -> None:
    alerts = [
        _alert("firing", "info", 1_000),
        _alert("firing", "critical", 5_000),
        _alert("resolved", "critical", 9_000, total_usd=2e6, count=40, price_change_pct=-3.5),
    ]
    rows = episodes_from_alerts(alerts)
    assert len(rows) == 1
    row = rows[0]
    assert (row.start_ms, row.end_ms, row.peak_severity) == (1_000, 9_000, "critical")
    assert (row.notional_usd, row.count, row.price_change_pct) == (2e6, 40, -3.5)
    still = episodes_from_alerts(alerts[:1])
    assert still[0].end_ms is None


def test_bad_frames_are_counted_not_fatal() -> None:
    records = [
        CaptureRecord(recv_ms=1, venue="bybit", frame="{not json"),
        CaptureRecord(recv_ms=2, venue="nasdaq", frame="{}"),
        CaptureRecord(recv_ms=3, venue="okx", gap="disconnect"),
    ]
    parsed = parse_records(records)
    assert parsed.records == 3
    assert parsed.parse_errors[("bybit", "json")] == 1
    assert parsed.unknown_venues["nasdaq"] == 1
    assert set(parsed.parse_errors) == {("bybit", "json")}
    # The gap marker reaches the detectors as it does in a replay.
    assert [(type(e).__name__, e.venue) for e in parsed.events] == [("Gap", "okx")]
    assert parsed.gaps == 1


@pytest.mark.slow
def test_backtest_writes_chart_and_expected_episodes(tmp_path: Path) -> None:
    capture = tmp_path / "feb.jsonl.gz"
    write_capture(generate("feb-2026-crash", seed=1, hours=6).records, capture)
    report = tmp_path / "report"
    assert main(["backtest", str(capture), "--report", str(report)]) == 0
    png = (report / "chart.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 20_000
    with (report / "episodes.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["venue"] == "all"]
    seen = {(r["kind"], r["direction"]) for r in rows}
    assert {
        ("liquidation_cascade", "long"),
        ("funding_flip", "negative"),
        ("oi_collapse", "down"),
        ("liquidation_cascade", "short"),
    } <= seen
    long_rows = [r for r in rows if (r["kind"], r["direction"]) == ("liquidation_cascade", "long")]
    assert any(r["notional_usd"] and float(r["notional_usd"].replace(",", "")) > 100e6 for r in long_rows)
    assert "liquidation_cascade" in (report / "episodes.md").read_text(encoding="utf-8")
    assert (report / "alerts.jsonl").read_text(encoding="utf-8").count("\n") >= len(rows)


@pytest.mark.slow
def test_sweep_compares_what_fires(tmp_path: Path) -> None:
    capture = tmp_path / "bybit.jsonl"
    write_capture(generate("feb-2026-crash", seed=1, hours=6, venues=["bybit"]).records, capture)
    report = tmp_path / "sweep"
    code = main(["backtest", str(capture), "--report", str(report), "--set", "detectors.cascade.floor_usd=2e6,1e9"])
    assert code == 0
    table = (report / "comparison.csv").read_text(encoding="utf-8").splitlines()
    assert len(table) == 3
    low, high = table[1], table[2]
    assert low.startswith("2e6")
    assert high.startswith("1e9")
    assert (report / "run-01" / "chart.png").exists()
    assert (report / "run-02" / "episodes.md").exists()
    cascades = {
        run: [
            r
            for r in csv.DictReader((report / run / "episodes.csv").read_text(encoding="utf-8").splitlines())
            if r["kind"] == "liquidation_cascade"
        ]
        for run in ("run-01", "run-02")
    }
    assert cascades["run-01"]
    assert not cascades["run-02"]
