"""Pure text helpers shared by the sinks: titles, numbers, and the facts of an alert's ``values``.

Detectors put whatever they measured in ``values`` (see docs/detectors.md);
these helpers pick the well-known keys in a fixed order and format them, and
list any other scalar values after them, so a new key shows up without code
changes and a missing key is simply left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from monitor.alert import Alert

KIND_TITLES: Final = {
    "liquidation_cascade": "Liquidation cascade",
    "funding_flip": "Funding flip",
    "funding_extreme": "Extreme funding",
    "oi_collapse": "Open-interest collapse",
    "oi_surge": "Open-interest surge",
    "skew_extreme": "Extreme 25Δ skew",
    "iv_term_inversion": "IV term-structure inversion",
    "test": "Test alert",
}

_DIRECTION_WORDS: Final = {
    ("liquidation_cascade", "long"): "longs liquidated (downside)",
    ("liquidation_cascade", "short"): "shorts liquidated (squeeze)",
    ("funding_flip", "negative"): "funding turned negative",
    ("funding_flip", "positive"): "funding turned positive",
    ("funding_extreme", "positive"): "extreme positive funding (crowded longs)",
    ("funding_extreme", "negative"): "extreme negative funding (crowded shorts)",
    ("oi_collapse", "down"): "open interest collapsing",
    ("oi_surge", "up"): "leverage building up",
    ("skew_extreme", "negative"): "puts bid over calls (downside hedging)",
    ("skew_extreme", "positive"): "calls bid over puts (upside chase)",
    ("iv_term_inversion", "positive"): "front implied volatility above the back",
}

SEVERITY_EMOJI: Final = {"info": ":large_blue_circle:", "warning": ":large_orange_circle:", "critical": ":red_circle:"}
SEVERITY_COLOUR: Final = {"info": "#439FE0", "warning": "#F2A900", "critical": "#D0021B"}
RESOLVED_EMOJI: Final = ":white_check_mark:"
# The same marks as Unicode, for chat apps that do not expand Slack's :shortcodes: (Telegram, Discord).
SEVERITY_SYMBOL: Final = {"info": "\U0001f535", "warning": "\U0001f7e0", "critical": "\U0001f534"}
RESOLVED_SYMBOL: Final = "\u2705"


def symbol(alert: Alert) -> str:
    """The Unicode mark of an alert: a coloured circle by severity, a check mark once resolved."""
    return RESOLVED_SYMBOL if alert.status == "resolved" else SEVERITY_SYMBOL[alert.severity]


def state_word(alert: Alert) -> str:
    """``RESOLVED``, or the severity in capitals."""
    return "RESOLVED" if alert.status == "resolved" else alert.severity.upper()


def kind_title(kind: str) -> str:
    """Human title of an alert kind (``liquidation_cascade`` → ``Liquidation cascade``)."""
    return KIND_TITLES.get(kind, kind.replace("_", " ").capitalize())


def direction_words(alert: Alert) -> str:
    """What the direction means for this kind (``shorts liquidated (squeeze)``)."""
    return _DIRECTION_WORDS.get((alert.kind, alert.direction), alert.direction)


def where(alert: Alert) -> str:
    """``BTC`` or ``BTC on binance``."""
    return f"{alert.base} on {alert.venue}" if alert.venue else alert.base


def headline(alert: Alert) -> str:
    """One line: ``FIRING critical · BTC · Liquidation cascade · longs liquidated (downside)``."""
    title = kind_title(alert.kind)
    return f"{alert.status.upper()} {alert.severity} · {where(alert)} · {title} · {direction_words(alert)}"


def iso_time(ms: int) -> str:
    """Epoch milliseconds as ``2026-02-05T14:03:00Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def usd(value: float) -> str:
    """Compact dollars: ``$1.23B``, ``$45.6M``, ``$812k``, ``$950``."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            scaled = v / limit
            digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
            return f"{sign}${scaled:.{digits}f}{suffix}"
    return f"{sign}${v:.0f}"


def pct(value: float, digits: int = 1) -> str:
    """A signed percentage: ``-14.3%``, ``+2.0%``."""
    return f"{value:+.{digits}f}%"


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _fraction_pct(value: float) -> str:
    return f"{value * 100:+.4f}%"


def _venue_breakdown(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return None
    parts = []
    for venue, amount in sorted(value.items(), key=lambda kv: -(_number(kv[1]) or 0.0)):
        n = _number(amount)
        parts.append(f"{venue} {usd(n)}" if n is not None else str(venue))
    return ", ".join(parts[:8])


# (label, candidate keys, formatter) in display order; the first key present wins. Keys follow
# docs/detectors.md (cascade: window_usd/total_usd, funding: rate_8h, OI: move_pct ...), with a few
# synonyms so older or third-party producers still render.
_FACTS: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("Liquidated", ("total_usd", "window_usd", "notional_usd", "liquidated_usd"), "usd"),
    ("Liquidations", ("count", "window_count", "liquidations"), "int"),
    ("Peak rate", ("peak_minute_usd", "peak_usd_per_min"), "usd_min"),
    ("Last minute", ("minute_usd",), "usd"),
    ("Baseline multiple", ("multiple", "peak_multiple", "baseline_multiple"), "times"),
    ("Baseline", ("baseline_usd",), "usd"),
    ("Price move", ("price_change_pct", "price_move_pct"), "pct"),
    ("Price", ("price", "price_end", "last_price", "mark_price"), "price"),
    ("Price at start", ("price_start",), "price"),
    ("OI change", ("move_pct", "oi_change_pct", "change_pct"), "pct"),
    ("Open interest (base)", ("oi_base",), "amount"),
    ("Open interest", ("oi_usd",), "usd"),
    ("Funding (8h)", ("rate_8h", "funding_rate_8h", "funding_8h"), "frac"),
    ("Funding (annualized)", ("annualized_pct",), "pct"),
    ("Funding (annualized)", ("annualized", "annualized_rate"), "frac_annual"),
    ("Most extreme funding (8h)", ("extreme_rate_8h",), "frac"),
    ("Duration", ("duration_s",), "duration"),
    ("Duration", ("duration_ms",), "duration_ms"),
    ("Window", ("window_s",), "duration"),
    ("Market", ("regime_note", "regime"), "text"),
    ("Reason", ("reason",), "text"),
)
_VENUE_KEYS: Final = ("venues", "by_venue", "venue_usd")
# Parameters and flags kept in the JSON for machines, left out of human messages.
_QUIET: Final = frozenset(
    {
        "warming_up",
        "lead_in_s",
        "confirm_s",
        "dead_band_8h",
        "floor_usd",
        "reference_base",
        "sources",
        "excluded",
        "regime",
        "test",
        "host",
    }
)


def _format(kind: str, value: Any) -> str | None:
    if kind == "text":
        return (value.strip()[:200] or None) if isinstance(value, str) else None
    n = _number(value)
    if n is None:
        return None
    if kind == "usd":
        return usd(n)
    if kind == "usd_min":
        return f"{usd(n)}/min"
    if kind == "int":
        return f"{int(n):,}"
    if kind == "times":
        return f"{n:.1f}×"
    if kind == "pct":
        return pct(n)
    if kind == "price":
        return f"{n:,.2f}" if n < 1000 else f"{n:,.0f}"
    if kind == "amount":
        return f"{n:,.0f}" if abs(n) >= 100 else f"{n:,.4g}"
    if kind == "frac":
        return _fraction_pct(n)
    if kind == "frac_annual":
        return f"{n * 100:+.1f}%"
    if kind == "duration":
        return duration(n)
    return duration(n / 1000)  # duration_ms


def facts(alert: Alert, *, extra_limit: int = 6) -> list[tuple[str, str]]:
    """The alert's measured values as ``(label, text)`` pairs, known keys first, then other scalars."""
    values = alert.values if isinstance(alert.values, Mapping) else {}
    out: list[tuple[str, str]] = []
    used: set[str] = set()
    labels: set[str] = set()
    for label, keys, kind in _FACTS:
        if label in labels:
            continue
        for key in keys:
            if key in values:
                used.add(key)
                text = _format(kind, values[key])
                if text is not None:
                    out.append((label, text))
                    labels.add(label)
                break
    for key in _VENUE_KEYS:
        if key in values:
            used.add(key)
            text = _venue_breakdown(values[key])
            if text:
                out.append(("Venues", text))
            break
    extras = 0
    for key, value in values.items():
        if key in used or key in _QUIET or extras >= extra_limit:
            continue
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            n = _number(value)
            text = str(value) if n is None else (f"{n:,.6g}")
            out.append((key.replace("_", " ").capitalize(), text[:80]))
            extras += 1
    return out


def since(alert: Alert) -> str:
    """When the episode started, and for how long (resolved) or how long ago (firing at ``ts_ms``)."""
    elapsed = duration((alert.ts_ms - alert.started_ms) / 1000)
    return f"{iso_time(alert.started_ms)} ({elapsed})"
