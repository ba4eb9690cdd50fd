"""The live terminal view of ``liqmon demo``: what flows through the pipeline, as it happens.

:class:`DemoView` is fed by the application's event and alert taps (plain
callbacks, no I/O) and renders a ``rich`` layout: event rates per venue,
liquidated notional by side, funding and open interest per venue, price, the
options positioning per asset and the latest alerts. :func:`summary_lines` gives the end-of-run summary.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from monitor.alert import Alert
from monitor.events import Event, Funding, Liquidation, OpenInterest, OptionsSummary

_RATE_WINDOW_S = 5.0
_STYLES = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


class DemoView:
    """Counters and recent history of one demo run."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.started = time.monotonic()
        self.events: Counter[tuple[str, str]] = Counter()
        self.liquidated: dict[str, float] = {"long": 0.0, "short": 0.0}
        self.funding: dict[str, float] = {}
        self.oi_usd: dict[str, float] = {}
        self.options: dict[str, OptionsSummary] = {}
        self.price: float | None = None
        self.clock_ms = 0
        self.alerts: deque[Alert] = deque(maxlen=12)
        self.alert_counts: Counter[tuple[str, str, str]] = Counter()
        self._recent: deque[tuple[float, str]] = deque()
        self.notes: list[str] = []

    # -- taps ----------------------------------------------------------------------------------
    def on_events(self, events: Sequence[Event]) -> None:
        """Event tap: count and remember the latest market state."""
        now = time.monotonic()
        for event in events:
            venue = event.venue
            self.events[(venue, event.kind)] += 1
            self._recent.append((now, venue))
            self.clock_ms = max(self.clock_ms, event.ts_ms)
            if isinstance(event, Liquidation):
                self.liquidated[event.side] += event.notional_usd or 0.0
                self.price = event.price
            elif isinstance(event, Funding):
                self.funding[venue] = event.rate_8h
                if event.mark_price:
                    self.price = event.mark_price
            elif isinstance(event, OpenInterest) and event.oi_usd is not None:
                self.oi_usd[venue] = event.oi_usd
            elif isinstance(event, OptionsSummary):
                self.options[f"{event.base} ({venue})"] = event

    def on_alert(self, alert: Alert) -> None:
        """Alert tap: keep the latest alerts."""
        self.alerts.append(alert)
        self.alert_counts[(alert.kind, alert.direction, alert.status)] += 1

    # -- rendering -----------------------------------------------------------------------------
    def rates(self) -> dict[str, float]:
        """Events per second per venue over the last few seconds."""
        horizon = time.monotonic() - _RATE_WINDOW_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        counts = Counter(venue for _, venue in self._recent)
        return {venue: n / _RATE_WINDOW_S for venue, n in counts.items()}

    def render(self) -> RenderableType:
        """The whole view."""
        clock = (
            datetime.fromtimestamp(self.clock_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if self.clock_ms else "-"
        )
        head = Text.assemble(
            (self.title, "bold"),
            f"   market time {clock} UTC   ",
            f"price {self.price:,.1f}   " if self.price else "",
            ("longs liquidated ", "red"),
            f"${self.liquidated['long'] / 1e6:,.1f}M   ",
            ("shorts liquidated ", "green"),
            f"${self.liquidated['short'] / 1e6:,.1f}M",
        )
        lines = [Text(f"options {name}: {options_line(summary)}") for name, summary in sorted(self.options.items())]
        return Group(head, self._venues(), *lines, self._alerts())

    def _venues(self) -> Table:
        table = Table(expand=True, title="venues")
        for column in ("venue", "events/s", "liquidations", "funding % / 8 h", "open interest $B"):
            table.add_column(column, justify="left" if column == "venue" else "right")
        rates = self.rates()
        venues = sorted({v for v, _ in self.events})
        for venue in venues:
            funding = self.funding.get(venue)
            oi = self.oi_usd.get(venue)
            table.add_row(
                venue,
                f"{rates.get(venue, 0.0):,.1f}",
                f"{self.events[(venue, 'liquidation')]:,}",
                "-" if funding is None else f"{funding * 100:+.4f}",
                "-" if oi is None else f"{oi / 1e9:,.2f}",
            )
        total_oi = sum(self.oi_usd.values())
        liquidations = sum(n for (_, kind), n in self.events.items() if kind == "liquidation")
        table.add_row(
            "all",
            f"{sum(rates.values()):,.1f}",
            f"{liquidations:,}",
            "",
            f"{total_oi / 1e9:,.2f}" if total_oi else "-",
            style="bold",
        )
        return table

    def _alerts(self) -> Panel:
        lines = [
            Text(
                f"{_time(a.ts_ms)}  {a.status:8s} {a.severity:8s} {a.summary}",
                style="green" if a.status == "resolved" else _STYLES.get(a.severity, ""),
            )
            for a in reversed(self.alerts)
        ]
        return Panel(Group(*lines) if lines else Text("no alerts yet"), title="alerts (newest first)")


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


def _time(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%d %b %H:%M:%S")


def summary_lines(view: DemoView) -> list[str]:
    """The end-of-run summary (plain text)."""
    elapsed = time.monotonic() - view.started
    total = sum(view.events.values())
    lines = [f"demo finished in {elapsed:,.0f} s: {total:,} events"]
    for venue in sorted({v for v, _ in view.events}):
        kinds = ", ".join(f"{k} {n:,}" for (v, k), n in sorted(view.events.items()) if v == venue)
        lines.append(f"  {venue}: {kinds}")
    lines.append(
        f"  liquidated: longs ${view.liquidated['long'] / 1e6:,.1f}M, shorts ${view.liquidated['short'] / 1e6:,.1f}M"
    )
    fired = sorted((k, d, n) for (k, d, s), n in view.alert_counts.items() if s == "firing")
    if fired:
        lines.append("  alerts fired: " + ", ".join(f"{k} {d} ×{n}" for k, d, n in fired))
    else:
        lines.append("  no alerts fired")
    lines += [f"  options {name}: {options_line(summary)}" for name, summary in sorted(view.options.items())]
    lines += [f"  {note}" for note in view.notes]
    return lines
