"""The ``liqmon top`` screen: a snapshot (and what changed lately) → a ``rich`` renderable. Pure.

Sections, top to bottom: a title line (what is watched, the time, how to
quit), the feeds (one row per venue: health, events/s, liquidations, funding,
open interest, whether its liquidation feed is complete or sampled), the
assets (price, liquidations in the last minute and since the start, by side,
with the part from sampled feeds; funding; open interest), the options
positioning per asset (when a venue publishes it), the detectors (the
open episodes) and the last alerts, as many as the height leaves room for.
Every line is one terminal row (no wrapping), so the layout's height is known
and never exceeds the screen.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from monitor.alert import Alert
from monitor.events import OptionsSummary
from monitor.top.state import Snapshot, VenueState
from monitor.top.trend import Recent

QUIT_HINT: Final = "q or Ctrl-C: quit"
STALE_AFTER_S: Final = 60.0
_SEVERITY_STYLE: Final = {"info": "cyan", "warning": "yellow", "critical": "bold red"}
_MIN_ALERT_ROWS: Final = 3


def clock(ms: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch milliseconds as UTC text; ``-`` for None."""
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def usd(value: float | None) -> str:
    """Dollars, short: $950, $12.3K, $4.6M, $1.02B."""
    if value is None:
        return "-"
    for scale, suffix, digits in ((1e9, "B", 2), (1e6, "M", 1), (1e3, "K", 1)):
        if abs(value) >= scale:
            return f"${value / scale:,.{digits}f}{suffix}"
    return f"${value:,.0f}"


def feed_status(venue: VenueState) -> tuple[str, str]:
    """(word, style) for a venue's health: down, waiting, stale or ok."""
    if venue.health is not None and venue.health.connected == 0:
        return "down", "bold red"
    if venue.age_s is None:
        return "waiting", "yellow"
    if venue.age_s > STALE_AFTER_S:
        return f"stale {venue.age_s:,.0f}s", "yellow"
    return "ok", "green"


def _title(snapshot: Snapshot, hint: str) -> Text:
    market = f"   market time {clock(snapshot.market_ms)}" if snapshot.market_ms is not None else ""
    return Text.assemble(
        ("liqmon top", "bold"),
        "  ",
        (hint, "reverse"),
        f"  {snapshot.label}   {clock(snapshot.ts_ms)} UTC{market}",
        no_wrap=True,
        overflow="ellipsis",
    )


def _feeds(snapshot: Snapshot, recent: Recent) -> Table:
    table = Table(expand=True, title="feeds", title_justify="left", pad_edge=False, box=None, show_edge=False)
    columns = ("venue", "status", "conn", "events/s", "liquidations", "funding", "OI", "reconn", "errors", "liq feed")
    for name in columns:
        table.add_column(name, justify="left" if name in ("venue", "status", "liq feed") else "right", no_wrap=True)
    for v in snapshot.venues:
        word, style = feed_status(v)
        rate = recent.rates.get(v.venue)
        health = v.health
        table.add_row(
            v.venue,
            Text(word, style=style),
            "-" if health is None else str(health.connected),
            "…" if rate is None else f"{rate:,.1f}",
            f"{v.events.get('liquidation', 0):,}",
            f"{v.events.get('funding', 0):,}",
            f"{v.events.get('open_interest', 0):,}",
            "-" if health is None else f"{health.reconnects:,}",
            "-" if health is None else f"{health.parse_errors:,}",
            Text("sampled", style="yellow") if v.sampled else "complete",
        )
    return table


def _assets(snapshot: Snapshot, recent: Recent) -> Table:
    sampled = {v.venue for v in snapshot.venues if v.sampled}
    totals: dict[tuple[str, str], float] = defaultdict(float)
    from_sampled: dict[tuple[str, str], float] = defaultdict(float)
    bases: set[str] = set()
    for row in snapshot.liquidations:
        totals[(row.base, row.side)] += row.usd
        if row.venue in sampled:
            from_sampled[(row.base, row.side)] += row.usd
        bases.add(row.base)
    prices: dict[str, float] = {}
    for p in snapshot.prices:
        prices.setdefault(p.base, p.price)
    funding: dict[str, list[float]] = defaultdict(list)
    for f in snapshot.funding:
        funding[f.base].append(f.rate_8h)
    oi_usd: dict[str, float] = defaultdict(float)
    oi_base: dict[str, float] = defaultdict(float)
    for o in snapshot.open_interest:
        oi_base[o.base] += o.oi_base
        if o.oi_usd is not None:
            oi_usd[o.base] += o.oi_usd  # venues with no price yet are left out of the USD sum
    bases |= set(funding) | set(oi_base)
    window = f"{recent.window_s:,.0f}s" if recent.window_s else "1m"
    since = clock(snapshot.since_ms, "%H:%M")
    table = Table(expand=True, title="assets", title_justify="left", pad_edge=False, box=None, show_edge=False)
    for name in (
        "asset",
        "price",
        f"longs liq {window}",
        f"shorts liq {window}",
        f"longs since {since}",
        f"shorts since {since}",
        "sampled",
        "funding/8h",
        "OI",
    ):
        table.add_column(name, justify="left" if name == "asset" else "right", no_wrap=True)
    for base in sorted(bases, key=lambda b: (b == "other", -totals[(b, "long")] - totals[(b, "short")], b)):
        rates = funding.get(base)
        part = from_sampled[(base, "long")] + from_sampled[(base, "short")]
        table.add_row(
            base,
            f"{prices[base]:,.2f}" if base in prices else "-",
            _window(recent, base, "long"),
            _window(recent, base, "short"),
            Text(usd(totals[(base, "long")]), style="red") if totals[(base, "long")] else "-",
            Text(usd(totals[(base, "short")]), style="green") if totals[(base, "short")] else "-",
            usd(part) if part else "-",
            "-" if not rates else f"{sum(rates) / len(rates) * 100:+.4f}%",
            usd(oi_usd[base]) if base in oi_usd else f"{oi_base[base]:,.0f} {base}" if base in oi_base else "-",
        )
    return table


def _window(recent: Recent, base: str, side: str) -> str:
    if not recent.window_s:
        return "…"
    amount, count = recent.liquidations.get((base, side), (0.0, 0))
    return f"{usd(amount)}" if count else "-"


def _alert_line(alert: Alert, *, when: str = "ts") -> Text:
    style = "green" if alert.status == "resolved" else _SEVERITY_STYLE.get(alert.severity, "")
    at = alert.started_ms if when == "started" else alert.ts_ms
    return Text(
        f"{clock(at, '%d %b %H:%M:%S')}  {alert.status:8} {alert.severity:8} {alert.summary}",
        style=style,
        no_wrap=True,
        overflow="ellipsis",
    )


def options_line(summary: OptionsSummary) -> str:
    """RR25 and ATM IV per tenor, DVOL, put/call OI and the top put strikes, in vol points and thousands."""
    tenors = sorted(summary.tenors.items(), key=lambda item: int(item[0]))
    parts = [
        "RR25 " + " ".join(f"{days}d {point.rr25 * 100:+.1f}" for days, point in tenors),
        "ATM " + " ".join(f"{days}d {point.atm_iv * 100:.1f}" for days, point in tenors),
    ]
    if summary.dvol is not None:
        parts.append(f"DVOL {summary.dvol:.1f}")
    if summary.put_call_oi_ratio is not None:
        parts.append(f"put/call OI {summary.put_call_oi_ratio:.2f}")
    if summary.put_oi_top:
        parts.append("top puts " + ", ".join(f"{strike / 1000:g}k" for strike, _ in summary.put_oi_top[:3]))
    return " · ".join(parts)


def _options(snapshot: Snapshot) -> list[Text]:
    return [
        Text(f"options {s.base} ({s.venue}): {options_line(s)}", no_wrap=True, overflow="ellipsis")
        for s in sorted(snapshot.options, key=lambda s: (s.base, s.venue))
    ]


def _detectors(snapshot: Snapshot) -> list[Text]:
    lines = [Text("detectors (open episodes, since)", style="bold")]
    if not snapshot.active:
        lines.append(Text("all idle: no episode firing", style="green"))
    lines += [_alert_line(a, when="started") for a in snapshot.active]
    return lines


def render(snapshot: Snapshot, recent: Recent, *, height: int, hint: str = QUIT_HINT) -> RenderableType:
    """The whole screen for a terminal ``height`` rows high (the alerts list takes the rows left)."""
    feeds = _feeds(snapshot, recent)
    assets = _assets(snapshot, recent)
    options = _options(snapshot)
    detectors = _detectors(snapshot)
    used = 1 + (feeds.row_count + 2) + (assets.row_count + 2) + len(options) + len(detectors) + 1
    notes = [Text(note, style="dim", no_wrap=True, overflow="ellipsis") for note in snapshot.notes]
    used += len(notes)
    rows = max(_MIN_ALERT_ROWS, height - used - 1)
    alerts: list[Text] = [Text("last alerts (newest first)", style="bold")]
    shown = snapshot.recent[:rows]
    alerts += [_alert_line(a) for a in shown] or [Text("no alerts yet", style="dim")]
    return Group(_title(snapshot, hint), feeds, assets, *options, *detectors, *alerts, *notes)
