"""The backtest report: market series, alert episodes, a chart, tables and a sweep comparison.

Pure builders (:class:`SeriesBuilder`, :func:`episodes_from_alerts`,
:func:`comparison_rows`) and small writers (PNG via matplotlib's Agg backend,
markdown, CSV, JSON lines). Times in tables are UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alert import Alert, encode_alert, severity_rank
from monitor.events import Event, Funding, Liquidation, OpenInterest

BIN_MS = 60_000
_SHADES = {
    ("liquidation_cascade", "long"): ("#d62728", "long cascade"),
    ("liquidation_cascade", "short"): ("#2ca02c", "short squeeze"),
    ("funding_flip", "negative"): ("#9467bd", "funding flip −"),
    ("funding_flip", "positive"): ("#17becf", "funding flip +"),
    ("oi_collapse", "down"): ("#ff7f0e", "OI collapse"),
    ("oi_surge", "up"): ("#bcbd22", "OI surge"),
    ("funding_extreme", "negative"): ("#e377c2", "funding extreme −"),
    ("funding_extreme", "positive"): ("#8c564b", "funding extreme +"),
}
_SEVERITY_COLOURS = {"info": "#1f77b4", "warning": "#ff7f0e", "critical": "#d62728"}


@dataclass(slots=True)
class Series:
    """Per-minute market series of one asset (lists share the ``t_ms`` axis)."""

    base: str
    t_ms: list[int] = field(default_factory=list)
    price: list[float | None] = field(default_factory=list)
    long_usd: list[float] = field(default_factory=list)
    short_usd: list[float] = field(default_factory=list)
    oi_base: list[float | None] = field(default_factory=list)
    oi_usd: list[float | None] = field(default_factory=list)
    funding_8h: list[float | None] = field(default_factory=list)

    def price_at(self, ts_ms: int) -> float | None:
        """The last known price at or before ``ts_ms``."""
        best: float | None = None
        for t, p in zip(self.t_ms, self.price, strict=True):
            if t > ts_ms:
                break
            if p is not None:
                best = p
        return best


class SeriesBuilder:
    """Folds normalized events of one asset into per-minute series."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._bins: dict[int, dict[str, float]] = {}
        self._oi: dict[tuple[str, str], float] = {}
        self._oi_usd: dict[tuple[str, str], float] = {}
        self._funding: dict[str, float] = {}
        self._venue_oi: dict[str, float] = {}
        self._price: float | None = None

    def add(self, event: Event) -> None:
        """Take one event (other assets and gaps are ignored)."""
        if isinstance(event, (Liquidation, Funding, OpenInterest)) and event.base == self.base:
            row = self._bins.setdefault(event.ts_ms // BIN_MS * BIN_MS, {})
            if isinstance(event, Liquidation):
                key = "long_usd" if event.side == "long" else "short_usd"
                row[key] = row.get(key, 0.0) + (event.notional_usd or 0.0)
                self._price = self._price or event.price
            elif isinstance(event, Funding):
                self._funding[event.venue] = event.rate_8h
                if event.mark_price:
                    self._price = event.mark_price
            else:
                self._oi[(event.venue, event.symbol)] = event.oi_base
                if event.oi_usd is not None:
                    self._oi_usd[(event.venue, event.symbol)] = event.oi_usd
                self._venue_oi[event.venue] = sum(v for (ven, _), v in self._oi.items() if ven == event.venue)
            self._snapshot(row)

    def _snapshot(self, row: dict[str, float]) -> None:
        if self._price is not None:
            row["price"] = self._price
        if self._oi:
            row["oi_base"] = sum(self._oi.values())
            row["oi_sources"] = len(self._oi)
        if self._oi_usd:
            row["oi_usd"] = sum(self._oi_usd.values())
        if self._funding:
            weights = {v: self._venue_oi.get(v, 0.0) for v in self._funding}
            total = sum(weights.values())
            if total > 0:
                row["funding_8h"] = sum(r * weights[v] for v, r in self._funding.items()) / total
            else:
                row["funding_8h"] = sum(self._funding.values()) / len(self._funding)

    def build(self) -> Series:
        """The series, one point per minute from the first to the last event (gaps carried forward)."""
        series = Series(self.base)
        if not self._bins:
            return series
        last: dict[str, float | None] = {"price": None, "oi_base": None, "oi_usd": None, "funding_8h": None}
        # Open interest is a sum over sources: leave it out until every source has reported once.
        sources = max((row.get("oi_sources", 0.0) for row in self._bins.values()), default=0.0)
        complete = False
        for t in range(min(self._bins), max(self._bins) + BIN_MS, BIN_MS):
            row = self._bins.get(t, {})
            complete = complete or row.get("oi_sources", 0.0) >= sources
            for key in last:
                if key in row and (complete or not key.startswith("oi_")):
                    last[key] = row[key]
            series.t_ms.append(t)
            series.price.append(last["price"])
            series.oi_base.append(last["oi_base"])
            series.oi_usd.append(last["oi_usd"])
            series.funding_8h.append(last["funding_8h"])
            series.long_usd.append(row.get("long_usd", 0.0))
            series.short_usd.append(row.get("short_usd", 0.0))
        return series


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    """One alert episode: from its firing alert to its resolved alert (end None while still firing)."""

    start_ms: int
    end_ms: int | None
    kind: str
    base: str
    venue: str | None
    direction: str
    peak_severity: str
    notional_usd: float | None
    count: int | None
    price_change_pct: float | None
    # Of the notional: from complete feeds, and from sampled ones (a lower bound); cascades only.
    complete_usd: float | None = None
    sampled_usd: float | None = None

    def cells(self) -> list[str]:
        """The row as table cells."""
        return [
            iso(self.start_ms),
            iso(self.end_ms) if self.end_ms is not None else "(firing)",
            self.kind,
            self.base,
            self.venue or "all",
            self.direction,
            self.peak_severity,
            "" if self.notional_usd is None else f"{self.notional_usd:,.0f}",
            "" if self.count is None else str(self.count),
            "" if self.price_change_pct is None else f"{self.price_change_pct:+.2f}",
            "" if self.complete_usd is None else f"{self.complete_usd:,.0f}",
            "" if self.sampled_usd is None else f"≥ {self.sampled_usd:,.0f}",
        ]


HEADER = [
    "start",
    "end",
    "kind",
    "base",
    "venue",
    "direction",
    "peak severity",
    "notional usd",
    "count",
    "price change %",
    "complete usd",
    "sampled usd",
]


def iso(ts_ms: int) -> str:
    """UTC time of epoch milliseconds, to the second."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def episodes_from_alerts(alerts: Iterable[Alert], series: dict[str, Series] | None = None) -> list[EpisodeRow]:
    """Pair firing and resolved alerts into episodes, in order of start."""
    open_: dict[tuple[str, str, str | None, str, int], list[Alert]] = {}
    rows: list[EpisodeRow] = []
    for alert in alerts:
        key = (alert.kind, alert.base, alert.venue, alert.direction, alert.started_ms)
        bucket = open_.setdefault(key, [])
        bucket.append(alert)
        if alert.status == "resolved":
            rows.append(_episode(open_.pop(key), series))
    rows.extend(_episode(bucket, series) for bucket in open_.values())
    return sorted(rows, key=lambda r: (r.start_ms, r.kind, r.venue or "", r.direction))


def _episode(alerts: list[Alert], series: dict[str, Series] | None) -> EpisodeRow:
    first, last = alerts[0], alerts[-1]
    resolved = last if last.status == "resolved" else None
    peak = max((a.severity for a in alerts), key=severity_rank)
    values: dict[str, Any] = resolved.values if resolved is not None else {}
    change = values.get("price_change_pct")
    end = resolved.ts_ms if resolved is not None else None
    if change is None and series and first.base in series:
        s = series[first.base]
        p0 = s.price_at(first.started_ms)
        p1 = s.price_at(end if end is not None else (s.t_ms[-1] if s.t_ms else first.ts_ms))
        change = (p1 / p0 - 1) * 100 if p0 and p1 else None
    notional = values.get("total_usd")
    count = values.get("count")
    complete, sampled = values.get("complete_usd"), values.get("sampled_usd")
    return EpisodeRow(
        start_ms=first.started_ms,
        end_ms=end,
        kind=first.kind,
        base=first.base,
        venue=first.venue,
        direction=first.direction,
        peak_severity=peak,
        notional_usd=float(notional) if isinstance(notional, (int, float)) else None,
        count=int(count) if isinstance(count, (int, float)) else None,
        price_change_pct=float(change) if isinstance(change, (int, float)) else None,
        complete_usd=float(complete) if isinstance(complete, (int, float)) else None,
        sampled_usd=float(sampled) if isinstance(sampled, (int, float)) else None,
    )


def write_episodes(rows: Sequence[EpisodeRow], directory: Path) -> tuple[Path, Path]:
    """``episodes.md`` and ``episodes.csv`` in ``directory``."""
    md, csv_path = directory / "episodes.md", directory / "episodes.csv"
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    md.write_text("# Alert episodes\n\n" + ("\n".join(lines) if rows else "No alerts fired.") + "\n", encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([h.replace(" ", "_") for h in HEADER])
        writer.writerows(r.cells() for r in rows)
    return md, csv_path


def write_alerts(alerts: Iterable[Alert], path: Path) -> int:
    """Alerts as JSON lines (the DESIGN §7 shape); returns how many."""
    count = 0
    with path.open("wb") as handle:
        for alert in alerts:
            handle.write(encode_alert(alert) + b"\n")
            count += 1
    return count


def episode_lanes(rows: Sequence[EpisodeRow], base: str) -> list[tuple[str, str, str]]:
    """(kind, direction, label) of the episode lanes to draw, in a fixed order, only those with episodes."""
    present = {(r.kind, r.direction) for r in rows if r.venue is None and r.base == base}
    known = [
        (kind, direction, label) for (kind, direction), (_, label) in _SHADES.items() if (kind, direction) in present
    ]
    extra = sorted(present - set(_SHADES))
    return known + [(kind, direction, f"{kind} {direction}") for kind, direction in extra]


def write_chart(
    series: Series, rows: Sequence[EpisodeRow], path: Path, title: str, alerts: Sequence[Alert] = ()
) -> Path:
    """Price with the alerts on it, episodes in lanes per kind, liquidations, open interest and funding.

    Every firing, escalation and resolved alert of the asset is a marker on the price panel, coloured by
    its severity; each kind and direction of episode has its own lane, so overlapping episodes of
    different kinds stay apart; every panel has a legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def when(ts_ms: int) -> datetime:
        return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)

    lanes = episode_lanes(rows, series.base)
    times = [when(t) for t in series.t_ms]
    fig, axes = plt.subplots(
        5, 1, figsize=(13, 12), sharex=True, height_ratios=[3, max(1.0, 0.45 * len(lanes)), 2, 2, 1.5]
    )
    price_ax, lane_ax, liq_ax, oi_ax, fund_ax = axes
    price_ax.plot(times, _nan(series.price), color="black", linewidth=1, label=f"{series.base} price")
    price_ax.set_ylabel(f"{series.base} price (USD)")
    # Alerts on the price: shape = what happened, colour = severity.
    shapes = {"fire": ("v", "firing"), "escalate": ("^", "escalation"), "resolve": ("o", "resolved")}
    seen_shapes: set[str] = set()
    seen_severities: set[str] = set()
    episodes_seen: set[tuple[str, str, int]] = set()
    for alert in alerts:
        if alert.venue is not None or alert.base != series.base:
            continue
        key = (alert.kind, alert.direction, alert.started_ms)
        step = "resolve" if alert.status == "resolved" else ("escalate" if key in episodes_seen else "fire")
        episodes_seen.add(key)
        price = series.price_at(alert.ts_ms)
        if price is None:
            continue
        marker, _ = shapes[step]
        price_ax.scatter(
            [when(alert.ts_ms)],
            [price],
            marker=marker,
            s=60 if step != "resolve" else 30,
            color=_SEVERITY_COLOURS[alert.severity],
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
        seen_shapes.add(step)
        seen_severities.add(alert.severity)
    handles: list[Any] = [Line2D([], [], color="black", linewidth=1, label=f"{series.base} price")]
    handles += [
        Line2D([], [], marker=shapes[s][0], linestyle="", color="grey", label=shapes[s][1])
        for s in ("fire", "escalate", "resolve")
        if s in seen_shapes
    ]
    handles += [
        Patch(color=_SEVERITY_COLOURS[s], label=s) for s in ("info", "warning", "critical") if s in seen_severities
    ]
    price_ax.legend(handles=handles, loc="upper right", fontsize=8, ncol=2)
    # Episodes: one lane per kind and direction, the bar's shade is its peak severity.
    end_default = series.t_ms[-1] if series.t_ms else 0
    for index, (kind, direction, _label) in enumerate(lanes):
        colour = _SHADES.get((kind, direction), ("#7f7f7f", ""))[0]
        for row in rows:
            if row.venue is not None or row.base != series.base or (row.kind, row.direction) != (kind, direction):
                continue
            lo = mdates.date2num(when(row.start_ms))  # type: ignore[no-untyped-call]
            hi = mdates.date2num(when(row.end_ms or end_default))  # type: ignore[no-untyped-call]
            alpha = {"info": 0.35, "warning": 0.65, "critical": 1.0}.get(row.peak_severity, 0.5)
            lane_ax.barh(
                index,
                hi - lo,
                left=lo,
                height=0.7,
                color=colour,
                alpha=alpha,
                edgecolor=_SEVERITY_COLOURS.get(row.peak_severity, "black"),
                linewidth=1.2,
            )
    lane_ax.set_yticks(range(len(lanes)), [label for _, _, label in lanes], fontsize=8)
    lane_ax.set_ylim(-0.6, max(0.6, len(lanes) - 0.4))
    lane_ax.invert_yaxis()
    lane_ax.set_ylabel("episodes")
    lane_ax.legend(
        handles=[
            Patch(facecolor="#bbbbbb", alpha=a, edgecolor=_SEVERITY_COLOURS[s], label=f"peak {s}")
            for s, a in (("info", 0.35), ("warning", 0.65), ("critical", 1.0))
        ],
        loc="upper right",
        fontsize=7,
        ncol=3,
    )
    width = 1 / 1440
    liq_ax.bar(times, [v / 1e6 for v in series.long_usd], width=width, color="#d62728", label="longs liquidated")
    liq_ax.bar(times, [-v / 1e6 for v in series.short_usd], width=width, color="#2ca02c", label="shorts liquidated")
    liq_ax.axhline(0, color="grey", linewidth=0.5)
    liq_ax.set_ylabel("liquidated\n$M / min")
    liq_ax.legend(loc="upper left", fontsize=8)
    oi_ax.plot(
        times, _nan(series.oi_base), color="#1f77b4", linewidth=1, label=f"open interest ({series.base}, base units)"
    )
    oi_ax.set_ylabel(f"open interest\n({series.base})")
    usd_ax = oi_ax.twinx()
    usd_ax.plot(
        times,
        _nan([None if v is None else v / 1e9 for v in series.oi_usd]),
        color="#aec7e8",
        linewidth=1,
        label="open interest (USD, $B)",
    )
    usd_ax.set_ylabel("OI ($B)", color="#7f9fbf")
    oi_handles = oi_ax.get_legend_handles_labels()[0] + usd_ax.get_legend_handles_labels()[0]
    oi_ax.legend(handles=oi_handles, loc="upper left", fontsize=8)
    fund_ax.plot(
        times,
        _nan([None if v is None else v * 100 for v in series.funding_8h]),
        color="#8c564b",
        label="funding (% per 8 h)",
    )
    fund_ax.axhline(0, color="grey", linewidth=0.5)
    fund_ax.set_ylabel("funding\n% per 8 h")
    fund_ax.legend(loc="upper left", fontsize=8)
    fund_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    fund_ax.set_xlabel("UTC")
    price_ax.set_title(title)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def chart_title(name: str, series: Series, extra: str = "") -> str:
    """``name: BASE, start → end UTC`` (and ``extra``): what the chart shows and over which period."""
    period = f"{iso(series.t_ms[0])} → {iso(series.t_ms[-1])} UTC" if series.t_ms else "no data"
    return f"{name}: {series.base}, {period}" + (f" — {extra}" if extra else "")


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def comparison_rows(runs: Sequence[tuple[dict[str, str], Sequence[EpisodeRow]]]) -> tuple[list[str], list[list[str]]]:
    """A table of what fired under each parameter combination (asset-wide episodes per kind/direction)."""
    params = sorted({k for combo, _ in runs for k in combo})
    kinds = sorted({(r.kind, r.direction) for _, rows in runs for r in rows if r.venue is None})
    header = [*params, *(f"{k} {d}" for k, d in kinds), "venue episodes", "first alert"]
    table = []
    for combo, rows in runs:
        overall = [r for r in rows if r.venue is None]
        cells = [combo.get(p, "") for p in params]
        for kind, direction in kinds:
            matching = [r for r in overall if (r.kind, r.direction) == (kind, direction)]
            peak = max((r.peak_severity for r in matching), key=severity_rank, default="")
            cells.append(f"{len(matching)}" + (f" (peak {peak})" if peak else ""))
        cells.append(str(sum(1 for r in rows if r.venue is not None)))
        cells.append(iso(min(r.start_ms for r in rows)) if rows else "")
        table.append(cells)
    return header, table


def write_comparison(runs: Sequence[tuple[dict[str, str], Sequence[EpisodeRow]]], directory: Path) -> Path:
    """``comparison.md`` and ``comparison.csv``: one row per parameter combination."""
    header, table = comparison_rows(runs)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    path = directory / "comparison.md"
    path.write_text("# Parameter sweep\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with (directory / "comparison.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(table)
    return path
