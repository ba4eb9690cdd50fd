"""The backtest chart: a lane per episode kind, alert markers with severities, a titled period."""

from __future__ import annotations

import dataclasses

from monitor.alert import Alert, alert_id
from monitor.report import SeriesBuilder, chart_title, episode_lanes, episodes_from_alerts
from tests.unit.detectors.market import T0, fund, liq, oi

MIN = 60_000


def alert(kind: str, direction: str, status: str, severity: str, *, started: int, ts: int) -> Alert:
    return Alert(
        id=alert_id(kind, "BTC", None, direction, started, status, severity),
        kind=kind,
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        base="BTC",
        venue=None,
        direction=direction,  # type: ignore[arg-type]
        started_ms=started,
        ts_ms=ts,
        summary=f"{kind} {status}",
    )


ALERTS = [
    alert("liquidation_cascade", "long", "firing", "info", started=T0 + 10 * MIN, ts=T0 + 10 * MIN),
    alert("oi_collapse", "down", "firing", "info", started=T0 + 12 * MIN, ts=T0 + 12 * MIN),
    alert("liquidation_cascade", "long", "firing", "critical", started=T0 + 10 * MIN, ts=T0 + 14 * MIN),
    alert("oi_collapse", "down", "resolved", "info", started=T0 + 12 * MIN, ts=T0 + 30 * MIN),
    alert("liquidation_cascade", "long", "resolved", "critical", started=T0 + 10 * MIN, ts=T0 + 40 * MIN),
]


def series_of_an_hour() -> SeriesBuilder:
    builder = SeriesBuilder("BTC")
    for m in range(60):
        builder.add(liq(T0 + m * MIN, "long", 1e5, price=70_000 - 50 * m))
        builder.add(oi(T0 + m * MIN, 100_000 - 10 * m))
        builder.add(fund(T0 + m * MIN, 0.0001, mark=70_000 - 50 * m))
    return builder


def test_overlapping_episodes_of_different_kinds_get_their_own_lanes() -> None:
    rows = episodes_from_alerts(ALERTS)
    assert [(r.kind, r.peak_severity) for r in rows] == [("liquidation_cascade", "critical"), ("oi_collapse", "info")]
    lanes = episode_lanes(rows, "BTC")
    assert [label for _, _, label in lanes] == ["long cascade", "OI collapse"]
    other = [*rows, dataclasses.replace(rows[0], kind="options_skew", direction="down")]
    assert [label for _, _, label in episode_lanes(other, "BTC")][
        -1
    ] == "options_skew down"  # unknown kinds still drawn


def test_title_names_the_capture_and_the_period() -> None:
    series = series_of_an_hour().build()
    title = chart_title("feb.jsonl.gz", series, "detectors.cascade.floor_usd=5e6")
    assert title == (
        "feb.jsonl.gz: BTC, 2026-02-05 00:00:00 → 2026-02-05 00:59:00 UTC — detectors.cascade.floor_usd=5e6"
    )


def test_the_episode_table_splits_complete_and_sampled_notional() -> None:
    resolved = dataclasses.replace(
        ALERTS[-1], values={"total_usd": 3e6, "count": 40, "complete_usd": 1e6, "sampled_usd": 2e6}
    )
    row = episodes_from_alerts([*ALERTS[:-1], resolved])[0]
    assert (row.kind, row.notional_usd, row.complete_usd, row.sampled_usd) == ("liquidation_cascade", 3e6, 1e6, 2e6)
    assert row.cells()[-2:] == ["1,000,000", "≥ 2,000,000"]
