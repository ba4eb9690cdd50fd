"""Every Prometheus metric liqmon exports, declared in one place (DESIGN §8).

Prefix ``liqmon_``; counters end in ``_total``; units are in the names and help
texts. Labels come from bounded sets only: ``venue`` (the registered venues), ``base``
(the configured tracked assets, everything else is ``other``), ``side``,
``kind``, ``sink``, ``reason`` (short fixed vocabularies). Components take a
:class:`Metrics` instance; tests build one on a fresh ``CollectorRegistry``.
Values that are cheap to read but costly to push (stream length, pending
entries, lag, seconds since the last message) come from scrape-time callbacks
registered with :meth:`Metrics.add_scrape_callback`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.errors import ImplausibleValue, ParseError
from monitor.events import Event
from monitor.histogram import FastHistogram
from monitor.market_metrics import FAMILIES as MARKET_FAMILIES
from monitor.market_metrics import OTHER as MARKET_OTHER
from monitor.market_metrics import MarketTally
from monitor.venues.registry import VENUES

OTHER: Final = MARKET_OTHER  # label for assets outside the tracked set
DEFAULT_ASSETS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB")

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ScrapeCallback = Callable[[], Iterable[Metric]]


class _ScrapeCollector(Collector):
    """Runs registered callbacks when Prometheus scrapes."""

    def __init__(self) -> None:
        self.callbacks: list[ScrapeCallback] = []

    def collect(self) -> Iterable[Metric]:
        for callback in list(self.callbacks):
            yield from callback()


class Metrics:
    """The metric catalogue, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, assets: Sequence[str] = DEFAULT_ASSETS) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.assets = frozenset(a.upper() for a in assets)
        r = self.registry

        Info("liqmon_build", "Version of the running liqmon (value always 1).", registry=r).info(
            {"version": __version__}
        )

        # Feeds (venue adapters).
        self.feed_configured = Gauge(
            "liqmon_feed_configured",
            "1 when this process is configured to collect the venue (set at start, before any connection).",
            ["venue"],
            registry=r,
        )
        self.feed_connected = Gauge(
            "liqmon_feed_connected", "Open websocket connections per venue (count).", ["venue"], registry=r
        )
        self.feed_reconnects = Counter(
            "liqmon_feed_reconnects_total",
            "Reconnections to a venue (count), by reason (closed, error, stale, planned, rejected).",
            ["venue", "reason"],
            registry=r,
        )
        self.feed_gaps = Counter(
            "liqmon_feed_gaps_total",
            "Gap markers emitted (count): data may be missing (one per disconnect).",
            ["venue"],
            registry=r,
        )
        self.feed_parse_errors = Counter(
            "liqmon_feed_parse_errors_total",
            "Frames liqmon could not normalize (count), by reason (json, schema, value, unknown_channel, ...).",
            ["venue", "reason"],
            registry=r,
        )
        self.feed_implausible = Counter(
            "liqmon_feed_implausible_total",
            "Frames rejected because an event value was past its plausibility bound (count), by event field.",
            ["venue", "field"],
            registry=r,
        )
        self.feed_duplicates = Counter(
            "liqmon_feed_duplicates_dropped_total",
            "Events dropped as duplicates of an id already seen (count; overlapping planned reconnects).",
            ["venue"],
            registry=r,
        )
        self.unknown_contract = Counter(
            "liqmon_unknown_contract_total",
            "Events whose instrument has no known contract size (count); their notional is null.",
            ["venue"],
            registry=r,
        )
        self.rest_weight_used = Gauge(
            "liqmon_rest_weight_used",
            "REST request weight used in the venue's current window (units).",
            ["venue"],
            registry=r,
        )
        self.rest_requests = Counter(
            "liqmon_rest_requests_total",
            "REST polls made (count), by HTTP status class (2xx, 4xx, 429, 418, 5xx, error).",
            ["venue", "status"],
            registry=r,
        )

        # Bus.
        self.bus_published = Counter(
            "liqmon_bus_published_total",
            "Events and alerts written to the bus (count), by stream (events, alerts).",
            ["stream"],
            registry=r,
        )
        self.bus_consumed = Counter(
            "liqmon_bus_consumed_total",
            "Events and alerts read from the bus (count), by stream (events, alerts).",
            ["stream"],
            registry=r,
        )
        self.bus_buffered = Gauge(
            "liqmon_bus_buffered_events", "Events held in memory waiting for Redis (count).", registry=r
        )
        self.bus_overflow = Counter(
            "liqmon_bus_overflow_total",
            "Events dropped because the bounded publish buffer was full (count).",
            registry=r,
        )
        self.bus_resets = Counter(
            "liqmon_bus_stream_resets_total",
            "Consumer groups recreated after Redis lost them (count; restart without persistence): data was lost.",
            registry=r,
        )
        self.bus_claimed = Counter(
            "liqmon_bus_claimed_total", "Pending entries claimed from dead consumers (count, XAUTOCLAIM).", registry=r
        )
        self.bus_redis_up = Gauge(
            "liqmon_bus_redis_up",
            "1 when the last Redis command succeeded, 0 while Redis is unreachable.",
            registry=r,
        )
        self.metrics_clients_closed = Counter(
            "liqmon_metrics_clients_closed_total",
            "Connections to the metrics endpoint closed to make room because they waited on their client (count).",
            registry=r,
        )
        self.bus_writes_refused = Gauge(
            "liqmon_bus_writes_refused",
            "1 while Redis answers but refuses writes (OOM at maxmemory, read-only replica, failed persistence).",
            registry=r,
        )
        self.bus_write_seconds = Histogram(
            "liqmon_bus_write_seconds",
            "Time to write one batch to Redis (seconds).",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.bus_invalid = Counter(
            "liqmon_bus_invalid_entries_total",
            "Stream entries acknowledged and skipped (count), by stream (events, alerts) and reason (trimmed, decode); "
            "reason event counts single invalid events skipped inside a batched entry.",
            ["stream", "reason"],
            registry=r,
        )

        # Detectors.
        self.detector_events = Counter(
            "liqmon_detector_events_total",
            "Events handled by the detectors (count), by outcome (processed, duplicate, late; "
            "set aside as bad prints: implausible_notional, implausible_price, oi_zero, oi_jump).",
            ["outcome"],
            registry=r,
        )
        self.detector_state = Gauge(
            "liqmon_detector_state",
            "Detector state per asset: 0 idle, 1 info, 2 warning, 3 critical.",
            ["kind", "base", "direction"],
            registry=r,
        )
        self.cascade_window_usd = Gauge(
            "liqmon_cascade_window_notional_usd",
            "Liquidated notional in the cascade detector's short window (USD).",
            ["base", "direction"],
            registry=r,
        )
        self.alerts_raised = Counter(
            "liqmon_alerts_raised_total",
            "Alerts emitted by the detectors (count), by kind, severity and status.",
            ["kind", "severity", "status"],
            registry=r,
        )
        # Observed for every event the detectors decide on: a list-backed histogram (histogram.py).
        self.decision_latency = FastHistogram(
            "liqmon_decision_latency_seconds",
            "Time from the venue's event time to the detector decision (seconds).",
            LATENCY_BUCKETS,
        )
        r.register(self.decision_latency)
        self.checkpoints = Counter(
            "liqmon_detector_checkpoints_total",
            "Detector checkpoints (count) by outcome: written, write_failed, fenced (not written: another process"
            " holds the shard's lease), restored, or ignored on takeover"
            " (ignored_version, ignored_settings, ignored_decode, ignored_stale, ignored_ahead).",
            ["outcome"],
            registry=r,
        )
        self.shards_owned = Gauge(
            "liqmon_detector_shards_owned", "Event shards this detector process currently owns (count).", registry=r
        )

        # Alert delivery.
        self.alerts_delivered = Counter(
            "liqmon_alerts_delivered_total",
            "Alert deliveries (count) by sink and outcome (delivered, retried, duplicate, gave_up).",
            ["sink", "outcome"],
            registry=r,
        )
        self.sink_healthy = Gauge(
            "liqmon_sink_healthy",
            "1 while a sink delivers; 0 while it fails (an outage: alerts wait) or after a permanent error broke it.",
            ["sink"],
            registry=r,
        )
        self.sink_queue = Gauge(
            "liqmon_sink_queue_depth", "Alerts waiting in a sink's queue (count).", ["sink"], registry=r
        )
        self.dead_letters = Counter(
            "liqmon_alerts_dead_lettered_total",
            "Deliveries given up and written to the dead-letter stream (count).",
            ["sink"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "liqmon_alert_delivery_latency_seconds",
            "Time from the alert's event time to its delivery by a sink (seconds).",
            ["sink"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )

        # Capture files.
        self.capture_malformed = Counter(
            "liqmon_capture_malformed_lines_total",
            "Capture lines skipped because they were malformed (count).",
            registry=r,
        )
        self.capture_write_errors = Counter(
            "liqmon_capture_write_errors_total",
            "Capture files that stopped recording because a write failed, e.g. disk full (count).",
            registry=r,
        )
        self.capture_writing = Gauge(
            "liqmon_capture_writing",
            "1 while a capture file (--capture-out, record) is being written; 0 once it stopped or when none is.",
            registry=r,
        )

        self._scrape = _ScrapeCollector()
        r.register(self._scrape)
        # Events, frames and market figures: plain dicts, exported at scrape time (market_metrics.py).
        self.market = MarketTally(sorted(self.assets))
        r.register(self.market)
        self.add_scrape_callback(self._seconds_since_last_message)
        for venue in VENUES:
            self.feed_connected.labels(venue=venue)
            self.feed_gaps.labels(venue=venue)

    def observe_events(self, events: Sequence[Event]) -> None:
        """Count normalized events and update the market figures (live collection and replay alike)."""
        self.market.observe(events)

    def base_label(self, base: str) -> str:
        """``base`` when it is a tracked asset, otherwise ``other`` (keeps cardinality bounded)."""
        return base if base in self.assets else OTHER

    def add_scrape_callback(self, callback: ScrapeCallback) -> None:
        """Run ``callback`` at every scrape; it yields metric families computed then."""
        self._scrape.callbacks.append(callback)

    def remove_scrape_callback(self, callback: ScrapeCallback) -> None:
        """Stop running ``callback`` at scrapes."""
        if callback in self._scrape.callbacks:
            self._scrape.callbacks.remove(callback)

    def frame_rejected(self, venue: str, exc: ParseError) -> None:
        """Count a frame that could not be normalized (live or replayed), by reason; implausible ones by field too."""
        self.feed_parse_errors.labels(venue=venue, reason=exc.reason).inc()
        if isinstance(exc, ImplausibleValue):
            self.feed_implausible.labels(venue=venue, field=exc.field).inc()

    def message_received(self, venue: str, channel: str) -> None:
        """Count a frame and note when it arrived."""
        self.market.message(venue, channel, time.time())

    def messages_received(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Count frames by (venue, channel), all received now (a replay's chunk of records)."""
        self.market.add_messages(counts, time.time())

    def _seconds_since_last_message(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "liqmon_feed_seconds_since_last_message",
            "Seconds since the last frame from a venue (computed at scrape time).",
            labels=["venue"],
        )
        now = time.time()
        for venue, seen in sorted(self.market.last_message.items()):
            family.add_metric([venue], max(0.0, now - seen))
        yield family


_default: Metrics | None = None


def default_metrics() -> Metrics:
    """The process-wide catalogue (created on first use with the default tracked assets)."""
    global _default
    if _default is None:
        _default = Metrics()
    return _default


def set_default_metrics(metrics: Metrics) -> None:
    """Install the catalogue the daemon built from its settings."""
    global _default
    _default = metrics


@dataclass(frozen=True, slots=True)
class ScrapeFamily:
    """A metric family computed by a scrape-time callback rather than declared on the registry."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


# Families that only exist once their producer registered its callback (the
# Redis bus adds the ``liqmon_bus_*`` ones). Listed here so the dashboards,
# rules and docs/metrics.md can be checked against one catalogue.
SCRAPE_FAMILIES: Final = (
    ScrapeFamily(
        "liqmon_feed_seconds_since_last_message",
        "gauge",
        ("venue",),
        "Seconds since the last frame from a venue (computed at scrape time).",
    ),
    ScrapeFamily(
        "liqmon_bus_stream_length",
        "gauge",
        ("stream",),
        "Entries in a bus stream (XLEN, count), read at scrape time.",
    ),
    ScrapeFamily(
        "liqmon_bus_pending_entries",
        "gauge",
        ("stream", "group"),
        "Entries delivered to a consumer group but not acknowledged yet (count), read at scrape time.",
    ),
    ScrapeFamily(
        "liqmon_bus_lag_entries",
        "gauge",
        ("stream", "group"),
        "Entries not yet delivered to a consumer group (count), read at scrape time.",
    ),
)


def _gauge(name: str) -> GaugeMetricFamily:
    """An empty gauge family of the scrape-time catalogue, with its documented help and labels."""
    family = next(f for f in SCRAPE_FAMILIES if f.name == name)
    return GaugeMetricFamily(family.name, family.help, labels=list(family.labels))


def bus_stream_families(
    lengths: Iterable[tuple[str, int]], groups: Iterable[tuple[str, str, int, int | None]]
) -> list[Metric]:
    """The ``liqmon_bus_*`` stream gauges of either bus, from (stream, length) and (stream, group, pending, lag)."""
    length = _gauge("liqmon_bus_stream_length")
    for stream, n in lengths:
        length.add_metric([stream], n)
    pending = _gauge("liqmon_bus_pending_entries")
    lag = _gauge("liqmon_bus_lag_entries")
    for stream, group, n_pending, n_lag in groups:
        pending.add_metric([stream, group], n_pending)
        if n_lag is not None:
            lag.add_metric([stream, group], n_lag)
    return [length, pending, lag]


def catalogue(metrics: Metrics) -> list[ScrapeFamily]:
    """Every family liqmon can expose, as series names a query uses (docs/metrics.md is made from this)."""
    found: dict[str, ScrapeFamily] = {}
    # The registry has no public listing of its collectors; this private map is stable across versions.
    for collector in set(metrics.registry._names_to_collectors.values()):
        kind = getattr(collector, "_type", None)
        if kind is None:
            continue
        name = str(getattr(collector, "_name", ""))
        shown = f"{name}_total" if kind == "counter" else f"{name}_info" if kind == "info" else name
        labels = tuple(getattr(collector, "_labelnames", ()))
        found[shown] = ScrapeFamily(shown, str(kind), labels, str(getattr(collector, "_documentation", "")))
    fast = metrics.decision_latency
    found[fast.name] = ScrapeFamily(fast.name, "histogram", (), fast.documentation)
    for name, kind, labels, text in MARKET_FAMILIES:
        found[name] = ScrapeFamily(name, kind, labels, text)
    for family in SCRAPE_FAMILIES:
        found[family.name] = family
    return [found[name] for name in sorted(found)]


def markdown_table(families: Iterable[ScrapeFamily]) -> str:
    """A Markdown table of ``families``: name, type, labels, meaning and unit."""
    rows = ["| Metric | Type | Labels | Meaning (unit) |", "|---|---|---|---|"]
    for f in families:
        name = f"`{f.name}`" + (" (`_bucket`, `_sum`, `_count`)" if f.type == "histogram" else "")
        labels = ", ".join(f"`{label}`" for label in f.labels) or "-"
        rows.append(f"| {name} | {f.type} | {labels} | {f.help.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
