"""Writes the liqmon Grafana dashboards (grafana/dashboards/*.json).

The JSON files are committed, so Grafana provisioning needs nothing but the
files; this script is how they are edited. Run it after changing a panel::

    .venv/bin/python grafana/generate.py

tests/unit/test_dashboards.py fails when the committed files and this script
disagree, and checks every expression against the metric catalogue.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE_UID = "liqmon-prometheus"  # grafana/provisioning/datasources/prometheus.yaml
DS = {"type": "prometheus", "uid": "${datasource}"}
OUT = Path(__file__).resolve().parent / "dashboards"

# Selector fragments for the template variables.
BV = 'base=~"$base", venue=~"$venue"'
V = 'venue=~"$venue"'
B = 'base=~"$base"'
RI = "$__rate_interval"


@dataclass
class Q:
    """One PromQL target."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass
class P:
    """One panel; ``w``/``h`` in grid units (24 columns)."""

    title: str
    kind: str
    queries: list[Q]
    unit: str = "short"
    w: int = 12
    h: int = 8
    description: str = ""
    stack: bool = False
    decimals: int | None = None
    thresholds: list[tuple[float | None, str]] | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    min: float | None = None
    max: float | None = None


@dataclass
class Row:
    """A row header; the panels after it belong to it. ``repeat``: one copy per value of that variable."""

    title: str
    repeat: str | None = None


def _panel(panel_id: int, p: P, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    if p.min is not None:
        defaults["min"] = p.min
    if p.max is not None:
        defaults["max"] = p.max
    if p.thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in p.thresholds],
        }
    if p.mappings:
        defaults["mappings"] = p.mappings
    options: dict[str, Any]
    if p.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 25 if p.stack else 8,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if p.stack else "none", "group": "A"},
        }
        options = {
            "legend": {
                "displayMode": "table",
                "placement": "right",
                "showLegend": True,
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif p.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background" if p.thresholds else "value",
            "graphMode": "area",
            "textMode": "value_and_name",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    elif p.kind == "state-timeline":
        defaults["custom"] = {"fillOpacity": 80, "lineWidth": 0}
        options = {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "legend": {"showLegend": True}}
    elif p.kind == "bargauge":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        }
    else:
        raise ValueError(f"unsupported panel type {p.kind!r}")
    targets = []
    for i, q in enumerate(p.queries):
        target: dict[str, Any] = {
            "refId": chr(ord("A") + i),
            "datasource": DS,
            "expr": q.expr,
            "legendFormat": q.legend,
        }
        if q.instant:
            target["instant"] = True
            target["range"] = False
        else:
            target["range"] = True
        targets.append(target)
    panel: dict[str, Any] = {
        "id": panel_id,
        "type": p.kind,
        "title": p.title,
        "datasource": DS,
        "gridPos": {"h": p.h, "w": p.w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": p.overrides},
        "options": options,
        "targets": targets,
    }
    if p.description:
        panel["description"] = p.description
    return panel


def _layout(items: list[P | Row]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    x = y = 0
    row_h = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Row):
            if x:
                y += row_h
            row: dict[str, Any] = {
                "id": panel_id,
                "type": "row",
                "title": item.title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
            if item.repeat:
                row["repeat"] = item.repeat
            panels.append(row)
            x, y, row_h = 0, y + 1, 0
            continue
        if x + item.w > 24:
            x, y, row_h = 0, y + row_h, 0
        panels.append(_panel(panel_id, item, x, y))
        x += item.w
        row_h = max(row_h, item.h)
    return panels


def _query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _templating(base_query: str | None, venue_query: str) -> dict[str, Any]:
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {"selected": True, "text": "Prometheus", "value": DATASOURCE_UID},
            "hide": 0,
        }
    ]
    if base_query:
        variables.append(_query_var("base", "Asset", base_query))
    variables.append(_query_var("venue", "Venue", venue_query))
    return {"list": variables}


def _dashboard(
    uid: str,
    title: str,
    description: str,
    items: list[P | Row],
    templating: dict[str, Any],
    *,
    annotations: list[dict[str, Any]] | None = None,
    time_from: str = "now-6h",
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["liqmon"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "templating": templating,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                *(annotations or []),
            ]
        },
        "links": [
            {
                "title": "liqmon dashboards",
                "type": "dashboards",
                "tags": ["liqmon"],
                "asDropdown": True,
                "icon": "external link",
            }
        ],
        "panels": _layout(items),
    }


def _annotation(name: str, expr: str, color: str, title: str, tags: str) -> dict[str, Any]:
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "iconColor": color,
        "expr": expr,
        "step": "30s",
        "titleFormat": title,
        "tagKeys": tags,
        "textFormat": "",
        "useValueForTime": False,
    }


SEVERITY_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "idle", "color": "transparent", "index": 0},
            "1": {"text": "info", "color": "blue", "index": 1},
            "2": {"text": "warning", "color": "orange", "index": 2},
            "3": {"text": "critical", "color": "red", "index": 3},
        },
    }
]
UP_MAPPING = [
    {"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0}}},
    {"type": "range", "options": {"from": 1, "to": 1_000_000, "result": {"text": "up", "color": "green", "index": 1}}},
]
SHORTS_NEGATIVE = [
    {
        "matcher": {"id": "byRegexp", "options": ".*short.*"},
        "properties": [{"id": "custom.transform", "value": "negative-Y"}],
    }
]


def _complete(expr: str, sampled: int) -> str:
    """``expr`` kept for the venues whose liquidation feed is complete (0) or sampled (1)."""
    return f"{expr} and on (venue) (liqmon_feed_liquidations_sampled == {sampled})"


def liquidations() -> dict[str, Any]:
    """Liquidated notional by venue and side, cascades and price."""
    liq_usd = f"liqmon_liquidated_notional_usd_total{{{BV}}}"
    items: list[P | Row] = [
        Row("Last hour"),
        P(
            "Long liquidations, 1h (USD)",
            "stat",
            [Q(f'sum(increase(liqmon_liquidated_notional_usd_total{{side="long", {BV}}}[1h]))', "longs")],
            unit="currencyUSD",
            w=6,
            h=4,
            decimals=1,
        ),
        P(
            "Short liquidations, 1h (USD)",
            "stat",
            [Q(f'sum(increase(liqmon_liquidated_notional_usd_total{{side="short", {BV}}}[1h]))', "shorts")],
            unit="currencyUSD",
            w=6,
            h=4,
            decimals=1,
        ),
        P(
            "Liquidations, 1h (count)",
            "stat",
            [Q(f"sum(increase(liqmon_liquidations_total{{{BV}}}[1h]))", "liquidations")],
            w=6,
            h=4,
            decimals=0,
        ),
        P(
            "Active cascades",
            "stat",
            [
                Q(
                    f'count(max by (base, direction) (liqmon_detector_state{{kind="liquidation_cascade", {B}}}) > 0)'
                    " or vector(0)",
                    "cascades",
                )
            ],
            w=6,
            h=4,
            decimals=0,
            thresholds=[(None, "green"), (1, "red")],
            description="Assets and directions whose cascade detector is firing right now.",
        ),
        Row("Liquidations"),
        P(
            "Liquidated notional: complete feeds vs sampled lower bound (USD/s)",
            "timeseries",
            [
                Q(f"sum({_complete('rate(' + liq_usd + '[' + RI + '])', 0)})", "complete feeds"),
                Q(
                    f"sum({_complete('rate(' + liq_usd + '[' + RI + '])', 1)})",
                    "sampled feeds (lower bound)",
                ),
            ],
            unit="currencyUSD",
            w=24,
            h=8,
            stack=True,
            description="Binance, OKX and Bitget publish at most one liquidation per symbol per interval, so "
            "their part is a lower bound (analysts estimate 10-100x short in the worst minutes); the complete "
            "part comes from Bybit allLiquidation, Deribit, BitMEX and Gate. "
            "Split by liqmon_feed_liquidations_sampled.",
        ),
        P(
            "Liquidated notional by venue and side (USD/s; shorts drawn below zero)",
            "timeseries",
            [Q(f"sum by (venue, side) (rate({liq_usd}[{RI}]))", "{{venue}} {{side}}")],
            unit="currencyUSD",
            w=16,
            h=10,
            stack=True,
            overrides=SHORTS_NEGATIVE,
            description="Rate of liqmon_liquidated_notional_usd_total. Side is the liquidated position: "
            "long liquidations push price down, short liquidations squeeze it up.",
        ),
        P(
            "Liquidated notional by venue, 24h (USD)",
            "bargauge",
            [Q(f"sum by (venue) (increase({liq_usd}[24h]))", "{{venue}}", instant=True)],
            unit="currencyUSD",
            w=8,
            h=10,
        ),
        P(
            "Mark price (USD)",
            "timeseries",
            [Q(f"max by (base, venue) (liqmon_mark_price_usd{{{BV}}})", "{{base}} {{venue}}")],
            unit="currencyUSD",
            w=12,
            h=8,
            description="Price alongside the liquidations, per venue.",
        ),
        P(
            "Cascade detector window (USD)",
            "timeseries",
            [Q(f"max by (base, direction) (liqmon_cascade_window_notional_usd{{{B}}})", "{{base}} {{direction}}")],
            unit="currencyUSD",
            w=12,
            h=8,
            description="Liquidated notional inside the cascade detector's short window, per direction.",
        ),
        P(
            "Liquidations by venue (count/s)",
            "timeseries",
            [Q(f"sum by (venue) (rate(liqmon_liquidations_total{{{BV}}}[{RI}]))", "{{venue}}")],
            unit="short",
            w=12,
            h=8,
            stack=True,
        ),
        P(
            "Liquidations by asset and side (USD/s)",
            "timeseries",
            [Q(f"sum by (base, side) (rate({liq_usd}[{RI}]))", "{{base}} {{side}}")],
            unit="currencyUSD",
            w=12,
            h=8,
            overrides=SHORTS_NEGATIVE,
        ),
        Row("Detectors"),
        P(
            "Detector state",
            "state-timeline",
            [Q(f"max by (kind, base, direction) (liqmon_detector_state{{{B}}})", "{{kind}} {{base}} {{direction}}")],
            w=24,
            h=8,
            mappings=SEVERITY_MAPPING,
            min=0,
            max=3,
            thresholds=[(None, "transparent"), (1, "blue"), (2, "orange"), (3, "red")],
        ),
        P(
            "Alerts raised",
            "timeseries",
            [
                Q(
                    f"sum by (kind, severity, status) (increase(liqmon_alerts_raised_total[{RI}]))",
                    "{{kind}} {{severity}} {{status}}",
                )
            ],
            unit="short",
            w=24,
            h=7,
            stack=True,
        ),
    ]
    annotations = [
        _annotation(
            "Cascade episodes",
            f'max by (base, direction) (liqmon_detector_state{{kind="liquidation_cascade", {B}}}) > 0',
            "red",
            "Cascade {{base}} {{direction}}",
            "base,direction",
        ),
        _annotation(
            "Alerts raised",
            f"sum by (kind, severity, status) (increase(liqmon_alerts_raised_total[{RI}])) > 0",
            "orange",
            "{{kind}} {{status}} ({{severity}})",
            "kind,severity,status",
        ),
    ]
    return _dashboard(
        "liqmon-liquidations",
        "liqmon / Liquidations",
        "Liquidated notional by venue and side, cascade episodes and price.",
        items,
        _templating("label_values(liqmon_liquidations_total, base)", "label_values(liqmon_events_total, venue)"),
        annotations=annotations,
    )


def funding() -> dict[str, Any]:
    """Funding per venue normalized to 8 h, open interest and its change."""
    fund = f"max by (base, venue) (liqmon_funding_rate_8h{{{BV}}})"
    oi_base = f"liqmon_open_interest_base{{{BV}}}"
    oi_usd = f"liqmon_open_interest_usd{{{BV}}}"

    def change(window: str) -> str:
        return (
            f"100 * sum by (base) (delta({oi_base}[{window}])) / sum by (base) ({oi_base} - delta({oi_base}[{window}]))"
        )

    items: list[P | Row] = [
        Row("Funding"),
        P(
            "Funding rate, 8h-normalized",
            "timeseries",
            [Q(fund, "{{base}} {{venue}}")],
            unit="percentunit",
            w=16,
            h=9,
            decimals=4,
            description="Each venue's latest funding, normalized to an 8-hour interval.",
        ),
        P(
            "Venues paying negative funding",
            "stat",
            [
                Q(f"count by (base) ({fund} < 0) or count by (base) ({fund}) * 0", "{{base}}"),
                Q(f"count by (base) ({fund})", "{{base}} venues"),
            ],
            w=8,
            h=9,
            decimals=0,
            description="How many venues have funding below zero, per asset, out of the venues reporting.",
        ),
        P(
            "OI-weighted funding, 8h (annualized)",
            "timeseries",
            [
                Q(
                    f"sum by (base) ({fund} * on (base, venue) max by (base, venue) ({oi_usd}))"
                    f" / sum by (base) (max by (base, venue) ({oi_usd}) and on (base, venue) {fund}) * 3 * 365",
                    "{{base}}",
                )
            ],
            unit="percentunit",
            w=12,
            h=8,
            decimals=1,
        ),
        P(
            "Funding rate (per venue interval)",
            "timeseries",
            [Q(f"max by (base, venue) (liqmon_funding_rate{{{BV}}})", "{{base}} {{venue}}")],
            unit="percentunit",
            w=12,
            h=8,
            decimals=4,
        ),
        Row("Open interest"),
        P(
            "Open interest (base units)",
            "timeseries",
            [Q(f"max by (base, venue) ({oi_base})", "{{base}} {{venue}}")],
            w=12,
            h=9,
            stack=True,
        ),
        P(
            "Open interest (USD)",
            "timeseries",
            [Q(f"max by (base, venue) ({oi_usd})", "{{base}} {{venue}}")],
            unit="currencyUSD",
            w=12,
            h=9,
            stack=True,
        ),
        P(
            "OI change over 1h (base units, %)",
            "timeseries",
            [Q(change("1h"), "{{base}}")],
            unit="percent",
            w=8,
            h=8,
            decimals=2,
            description="Measured in base units, so a price move alone does not show up as a change.",
        ),
        P(
            "OI change over 24h (base units, %)",
            "timeseries",
            [Q(change("24h"), "{{base}}")],
            unit="percent",
            w=8,
            h=8,
            decimals=2,
        ),
        P(
            "OI change over 1h by venue (base units)",
            "bargauge",
            [Q(f"sum by (venue) (delta({oi_base}[1h]))", "{{venue}}", instant=True)],
            w=8,
            h=8,
        ),
        P(
            "Mark price (USD)",
            "timeseries",
            [Q(f"max by (base, venue) (liqmon_mark_price_usd{{{BV}}})", "{{base}} {{venue}}")],
            unit="currencyUSD",
            w=24,
            h=7,
        ),
    ]
    annotations = [
        _annotation(
            "Funding flips",
            f'max by (base, direction) (liqmon_detector_state{{kind="funding_flip", {B}}}) > 0',
            "purple",
            "Funding {{base}} {{direction}}",
            "base,direction",
        ),
        _annotation(
            "OI collapses",
            f'max by (base, direction) (liqmon_detector_state{{kind="oi_collapse", {B}}}) > 0',
            "red",
            "Open interest {{base}} {{direction}}",
            "base,direction",
        ),
    ]
    return _dashboard(
        "liqmon-funding-oi",
        "liqmon / Funding and open interest",
        "Funding per venue and asset normalized to 8 h, open interest in base units and USD and its change.",
        items,
        _templating("label_values(liqmon_funding_rate_8h, base)", "label_values(liqmon_events_total, venue)"),
        annotations=annotations,
        time_from="now-24h",
    )


def health() -> dict[str, Any]:
    """Feeds, bus, detectors and alert delivery."""
    items: list[P | Row] = [
        Row("Feeds"),
        P(
            "Connected",
            "stat",
            [Q(f"max by (venue) (liqmon_feed_connected{{{V}}})", "{{venue}}")],
            w=12,
            h=5,
            mappings=UP_MAPPING,
            thresholds=[(None, "red"), (1, "green")],
            decimals=0,
        ),
        P(
            "Seconds since last message",
            "stat",
            [Q(f"min by (venue) (liqmon_feed_seconds_since_last_message{{{V}}})", "{{venue}}")],
            unit="s",
            w=12,
            h=5,
            decimals=0,
            thresholds=[(None, "green"), (60, "orange"), (300, "red")],
        ),
        P(
            "Messages by venue and channel (msg/s)",
            "timeseries",
            [Q(f"sum by (venue, channel) (rate(liqmon_feed_messages_total{{{V}}}[{RI}]))", "{{venue}} {{channel}}")],
            unit="short",
            w=12,
            h=8,
            stack=True,
        ),
        P(
            "Normalized events by venue and kind (events/s)",
            "timeseries",
            [Q(f"sum by (venue, kind) (rate(liqmon_events_total{{{V}}}[{RI}]))", "{{venue}} {{kind}}")],
            unit="short",
            w=12,
            h=8,
            stack=True,
        ),
        P(
            "Reconnects by reason",
            "timeseries",
            [
                Q(
                    f"sum by (venue, reason) (increase(liqmon_feed_reconnects_total{{{V}}}[{RI}]))",
                    "{{venue}} {{reason}}",
                )
            ],
            w=8,
            h=7,
        ),
        P(
            "Parse errors by reason (errors/s)",
            "timeseries",
            [Q(f"sum by (venue, reason) (rate(liqmon_feed_parse_errors_total{{{V}}}[{RI}]))", "{{venue}} {{reason}}")],
            w=8,
            h=7,
        ),
        P(
            "Gaps (data may be missing)",
            "timeseries",
            [Q(f"sum by (venue) (increase(liqmon_feed_gaps_total{{{V}}}[{RI}]))", "{{venue}}")],
            w=8,
            h=7,
        ),
        P(
            "Duplicates dropped and unknown contracts (events/s)",
            "timeseries",
            [
                Q(f"sum by (venue) (rate(liqmon_feed_duplicates_dropped_total{{{V}}}[{RI}]))", "{{venue}} duplicates"),
                Q(f"sum by (venue) (rate(liqmon_unknown_contract_total{{{V}}}[{RI}]))", "{{venue}} unknown contract"),
            ],
            w=8,
            h=7,
        ),
        P(
            "REST polls by status (requests/s)",
            "timeseries",
            [Q(f"sum by (venue, status) (rate(liqmon_rest_requests_total{{{V}}}[{RI}]))", "{{venue}} {{status}}")],
            w=8,
            h=7,
        ),
        P(
            "REST weight used",
            "timeseries",
            [Q(f"max by (venue) (liqmon_rest_weight_used{{{V}}})", "{{venue}}")],
            w=8,
            h=7,
        ),
        Row("Bus"),
        P(
            "Published and consumed (entries/s)",
            "timeseries",
            [
                Q(f"sum by (stream) (rate(liqmon_bus_published_total[{RI}]))", "published {{stream}}"),
                Q(f"sum by (stream) (rate(liqmon_bus_consumed_total[{RI}]))", "consumed {{stream}}"),
            ],
            w=12,
            h=8,
        ),
        P(
            "Consumer lag (entries not yet delivered)",
            "timeseries",
            [Q("max by (stream, group) (liqmon_bus_lag_entries)", "{{stream}} {{group}}")],
            w=12,
            h=8,
        ),
        P(
            "Pending entries (delivered, not acknowledged)",
            "timeseries",
            [Q("max by (stream, group) (liqmon_bus_pending_entries)", "{{stream}} {{group}}")],
            w=8,
            h=8,
        ),
        P(
            "Stream length (entries)",
            "timeseries",
            [Q("max by (stream) (liqmon_bus_stream_length)", "{{stream}}")],
            w=8,
            h=8,
        ),
        P(
            "Redis reachable",
            "stat",
            [Q("min by (instance) (liqmon_bus_redis_up)", "{{instance}}")],
            w=8,
            h=4,
            mappings=UP_MAPPING,
            thresholds=[(None, "red"), (1, "green")],
            decimals=0,
        ),
        P(
            "Events buffered while Redis is away",
            "stat",
            [Q("sum(liqmon_bus_buffered_events)", "buffered")],
            w=4,
            h=4,
            decimals=0,
            thresholds=[(None, "green"), (1, "orange")],
        ),
        P(
            "Bus data loss, 24h",
            "stat",
            [
                Q("sum(increase(liqmon_bus_overflow_total[24h]))", "overflow drops"),
                Q("sum(increase(liqmon_bus_stream_resets_total[24h]))", "group resets"),
            ],
            w=4,
            h=4,
            decimals=0,
            thresholds=[(None, "green"), (1, "red")],
        ),
        P(
            "Claimed and skipped entries (entries/s)",
            "timeseries",
            [
                Q(f"sum(rate(liqmon_bus_claimed_total[{RI}]))", "claimed from dead consumers"),
                Q(
                    f"sum by (stream, reason) (rate(liqmon_bus_invalid_entries_total[{RI}]))",
                    "skipped {{stream}} {{reason}}",
                ),
            ],
            w=12,
            h=7,
        ),
        P(
            "Redis write latency (s)",
            "timeseries",
            [
                Q(f"histogram_quantile(0.5, sum by (le) (rate(liqmon_bus_write_seconds_bucket[{RI}])))", "p50"),
                Q(f"histogram_quantile(0.99, sum by (le) (rate(liqmon_bus_write_seconds_bucket[{RI}])))", "p99"),
            ],
            unit="s",
            w=12,
            h=7,
        ),
        Row("Detectors"),
        P(
            "Detector events by outcome (events/s)",
            "timeseries",
            [Q(f"sum by (outcome) (rate(liqmon_detector_events_total[{RI}]))", "{{outcome}}")],
            w=8,
            h=7,
            stack=True,
        ),
        P(
            "Venue event time to detector decision (s)",
            "timeseries",
            [
                Q(f"histogram_quantile(0.5, sum by (le) (rate(liqmon_decision_latency_seconds_bucket[{RI}])))", "p50"),
                Q(f"histogram_quantile(0.99, sum by (le) (rate(liqmon_decision_latency_seconds_bucket[{RI}])))", "p99"),
            ],
            unit="s",
            w=8,
            h=7,
        ),
        P(
            "Shards owned per detector process",
            "timeseries",
            [Q("sum by (instance) (liqmon_detector_shards_owned)", "{{instance}}")],
            w=8,
            h=7,
            decimals=0,
        ),
        Row("Alert delivery"),
        P(
            "Sink healthy",
            "stat",
            [Q("min by (sink) (liqmon_sink_healthy)", "{{sink}}")],
            w=8,
            h=5,
            mappings=UP_MAPPING,
            thresholds=[(None, "red"), (1, "green")],
            decimals=0,
        ),
        P("Sink queue depth", "timeseries", [Q("max by (sink) (liqmon_sink_queue_depth)", "{{sink}}")], w=8, h=5),
        P(
            "Dead-lettered deliveries, 24h",
            "stat",
            [Q("sum by (sink) (increase(liqmon_alerts_dead_lettered_total[24h]))", "{{sink}}")],
            w=8,
            h=5,
            decimals=0,
            thresholds=[(None, "green"), (1, "red")],
        ),
        P(
            "Deliveries by sink and outcome",
            "timeseries",
            [Q(f"sum by (sink, outcome) (increase(liqmon_alerts_delivered_total[{RI}]))", "{{sink}} {{outcome}}")],
            w=12,
            h=8,
        ),
        P(
            "Alert event time to delivery, p99 (s)",
            "timeseries",
            [
                Q(
                    "histogram_quantile(0.99, sum by (sink, le) "
                    f"(rate(liqmon_alert_delivery_latency_seconds_bucket[{RI}])))",
                    "{{sink}}",
                )
            ],
            unit="s",
            w=12,
            h=8,
        ),
        Row("Processes"),
        P(
            "Versions running",
            "stat",
            [Q("count by (version) (liqmon_build_info)", "{{version}}")],
            w=12,
            h=4,
            decimals=0,
        ),
        P(
            "Malformed capture lines, 24h",
            "stat",
            [Q("sum(increase(liqmon_capture_malformed_lines_total[24h]))", "malformed")],
            w=12,
            h=4,
            decimals=0,
            thresholds=[(None, "green"), (1, "orange")],
        ),
    ]
    return _dashboard(
        "liqmon-health",
        "liqmon / Feed and pipeline health",
        "Venue connections, message rates, reconnects, parse errors and gaps; bus lag; detectors; alert delivery.",
        items,
        _templating(None, "label_values(liqmon_feed_connected, venue)"),
        time_from="now-3h",
    )


def signal_board() -> dict[str, Any]:
    """What a desk opens first in a crash: one row per asset with every signal of a leverage flush."""
    liq = f"liqmon_liquidated_notional_usd_total{{{BV}}}"
    oi_base = f"liqmon_open_interest_base{{{BV}}}"
    oi_usd = f"liqmon_open_interest_usd{{{BV}}}"
    fund = f"max by (base, venue) (liqmon_funding_rate_8h{{{BV}}})"

    def change(window: str) -> str:
        return (
            f"100 * sum by (base) (delta({oi_base}[{window}])) / sum by (base) ({oi_base} - delta({oi_base}[{window}]))"
        )

    def vol_points(metric: str, tenors: str) -> str:
        return f'100 * avg by (base, tenor) ({metric}{{tenor=~"{tenors}", {BV}}})'

    items: list[P | Row] = [
        Row("$base", repeat="base"),
        P(
            "Liquidations, complete feeds vs sampled lower bound (USD/s; shorts below zero)",
            "timeseries",
            [
                Q(f"sum by (side) ({_complete(f'rate({liq}[{RI}])', 0)})", "{{side}} complete feeds"),
                Q(f"sum by (side) ({_complete(f'rate({liq}[{RI}])', 1)})", "{{side}} sampled (lower bound)"),
            ],
            unit="currencyUSD",
            w=8,
            h=8,
            stack=True,
            overrides=SHORTS_NEGATIVE,
            description="Liquidated notional by liquidated position side, split by "
            "liqmon_feed_liquidations_sampled: venues that publish at most one liquidation per symbol per "
            "interval give a lower bound; the complete feeds give every liquidation.",
        ),
        P(
            "OI change, 24h and 7d (base units, %)",
            "stat",
            [Q(change("24h"), "24h"), Q(change("7d"), "7d")],
            unit="percent",
            w=4,
            h=8,
            decimals=1,
            thresholds=[(None, "red"), (-5, "orange"), (0, "green")],
            description="Open interest in base units across venues, so a price move alone changes nothing.",
        ),
        P(
            "OI-weighted funding, 8h (annualized)",
            "timeseries",
            [
                Q(
                    f"sum by (base) ({fund} * on (base, venue) max by (base, venue) ({oi_usd}))"
                    f" / sum by (base) (max by (base, venue) ({oi_usd}) and on (base, venue) {fund}) * 3 * 365",
                    "funding",
                )
            ],
            unit="percentunit",
            w=6,
            h=8,
            decimals=1,
        ),
        P(
            "Current regime: detectors firing",
            "state-timeline",
            [Q(f"max by (kind, direction) (liqmon_detector_state{{{B}}})", "{{kind}} {{direction}}")],
            w=6,
            h=8,
            mappings=SEVERITY_MAPPING,
            min=0,
            max=3,
            thresholds=[(None, "transparent"), (1, "blue"), (2, "orange"), (3, "red")],
            description="Every detector of the asset: cascades, funding, open interest, skew, term structure.",
        ),
        P(
            "25Δ risk reversal, 7d and 30d (vol points)",
            "timeseries",
            [Q(vol_points("liqmon_options_rr25", "7d|30d"), "RR25 {{tenor}}")],
            w=8,
            h=8,
            decimals=1,
            thresholds=[(None, "red"), (-10, "orange"), (-8, "transparent"), (8, "orange"), (10, "red")],
            description="IV(25Δ call) − IV(25Δ put) at constant maturity. Negative: puts dearer (downside "
            "hedging); February 2026 read about −13. skew_extreme fires beyond ±8 held 10 minutes.",
        ),
        P(
            "ATM IV term structure (vol points)",
            "timeseries",
            [Q(vol_points("liqmon_options_atm_iv", "7d|30d|90d"), "ATM {{tenor}}")],
            w=8,
            h=8,
            decimals=1,
            description="ATM implied volatility at the forward, 7/30/90 days. The 7d above the 30d is an "
            "inverted term structure (iv_term_inversion).",
        ),
        P(
            "DVOL (vol points)",
            "stat",
            [Q(f"avg by (base) (liqmon_options_dvol{{{BV}}})", "DVOL")],
            w=4,
            h=8,
            decimals=1,
            description="The venue's 30-day volatility index as published (Deribit DVOL).",
        ),
        P(
            "Put/call OI",
            "stat",
            [Q(f"avg by (base) (liqmon_options_put_call_oi_ratio{{{BV}}})", "put/call")],
            w=4,
            h=8,
            decimals=2,
            description="Put over call open interest, all expiries.",
        ),
        P(
            "Largest put open interest (base units, rank 1 = largest strike)",
            "bargauge",
            [Q(f"max by (rank) (liqmon_options_put_oi_top_base{{{BV}}})", "#{{rank}}", instant=True)],
            w=12,
            h=7,
            decimals=0,
            description="Put open interest summed over expiries at the ten largest strikes; the strikes are "
            "in the next panel, by the same rank.",
        ),
        P(
            "Strikes of the largest put open interest (USD)",
            "stat",
            [Q(f'max by (rank) (liqmon_options_put_oi_top_strike_usd{{rank=~"1|2|3|4|5", {BV}}})', "#{{rank}}")],
            unit="currencyUSD",
            w=12,
            h=7,
            decimals=0,
            description="February 2026: hedges concentrated at the 60k–50k puts of the month-end expiry.",
        ),
    ]
    return _dashboard(
        "liqmon-signal-board",
        "liqmon / Signal board",
        "One row per tracked asset: liquidations, open interest, funding, options positioning, regime.",
        items,
        _templating("label_values(liqmon_open_interest_base, base)", "label_values(liqmon_events_total, venue)"),
        time_from="now-24h",
    )


DASHBOARDS = {
    "liqmon-liquidations.json": liquidations,
    "liqmon-funding-oi.json": funding,
    "liqmon-health.json": health,
    "liqmon-signal-board.json": signal_board,
}


def render(dashboard: dict[str, Any]) -> str:
    """The committed text of a dashboard."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write every dashboard into grafana/dashboards/."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT / name).write_text(render(build()), encoding="utf-8")
        sys.stdout.write(f"wrote {OUT / name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
