"""Per-event market figures, kept in plain dicts and turned into metric families when Prometheus scrapes.

Every normalized event and every frame updates these, so the update must cost
a few dictionary operations, not a labelled-child lookup with validation and a
lock per call (which was a fifth of the collector's time). The exposition is
the same as declared Counter/Gauge families would give: ``*_total`` counters
and gauges with the same names, labels and help texts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.events import TENOR_KEYS, Event, OptionsSummary

OTHER: Final = "other"
_VENUE_KIND: Final = attrgetter("venue", "kind")

# (name as exposed, type, labels, help): the catalogue and docs/metrics.md read these.
FAMILIES: Final = (
    ("liqmon_events_total", "counter", ("venue", "kind"), "Normalized events produced (count), by venue and kind."),
    (
        "liqmon_feed_messages_total",
        "counter",
        ("venue", "channel"),
        "Frames received from a venue (count), by channel (liquidation, funding, open_interest, control).",
    ),
    (
        "liqmon_feed_last_message_timestamp_seconds",
        "gauge",
        ("venue",),
        "Unix time (seconds) of the last frame received from a venue.",
    ),
    (
        "liqmon_liquidations_total",
        "counter",
        ("venue", "base", "side"),
        "Liquidations seen (count), by venue, asset and liquidated position side.",
    ),
    (
        "liqmon_liquidated_notional_usd_total",
        "counter",
        ("venue", "base", "side"),
        "Liquidated notional in USD, by venue, asset and position side.",
    ),
    (
        "liqmon_feed_liquidations_sampled",
        "gauge",
        ("venue",),
        "1 when the venue's liquidation feed is sampled (at most one per symbol per interval: its sums are "
        "lower bounds), 0 when it is complete; from the liquidations seen.",
    ),
    ("liqmon_funding_rate", "gauge", ("venue", "base"), "Latest funding rate as a fraction per funding interval."),
    ("liqmon_funding_rate_8h", "gauge", ("venue", "base"), "Latest funding rate normalized to 8 hours (fraction)."),
    (
        "liqmon_open_interest_base",
        "gauge",
        ("venue", "base"),
        "Open interest in base-asset units (one side of the book).",
    ),
    ("liqmon_open_interest_usd", "gauge", ("venue", "base"), "Open interest in USD."),
    ("liqmon_mark_price_usd", "gauge", ("venue", "base"), "Latest mark (or liquidation) price in USD."),
    (
        "liqmon_options_atm_iv",
        "gauge",
        ("venue", "base", "tenor"),
        "Options ATM implied volatility at the forward, constant maturity 7d/30d/90d (fraction, 0.55 = 55 vol points).",
    ),
    (
        "liqmon_options_rr25",
        "gauge",
        ("venue", "base", "tenor"),
        "Options 25-delta risk reversal IV(25d call) - IV(25d put) per constant maturity (fraction).",
    ),
    (
        "liqmon_options_bf25",
        "gauge",
        ("venue", "base", "tenor"),
        "Options 25-delta butterfly: mean of the 25-delta wings minus ATM IV per constant maturity (fraction).",
    ),
    (
        "liqmon_options_dvol",
        "gauge",
        ("venue", "base"),
        "The venue's volatility index (such as DVOL) as published, in vol points (units: percent).",
    ),
    (
        "liqmon_options_put_call_oi_ratio",
        "gauge",
        ("venue", "base"),
        "Put open interest over call open interest, all expiries (fraction of the two base-unit sums).",
    ),
    (
        "liqmon_options_put_oi_top_base",
        "gauge",
        ("venue", "base", "rank"),
        "Put open interest in base units at the rank-th largest strike (1-10), summed over expiries.",
    ),
    (
        "liqmon_options_put_oi_top_strike_usd",
        "gauge",
        ("venue", "base", "rank"),
        "Strike in USD of the rank-th largest put open interest (1-10), summed over expiries.",
    ),
)


class MarketTally(Collector):
    """Counts, sums and latest values from events and frames; a registry collector.

    Gauges are kept only for tracked assets (an ``other`` gauge would mix
    assets); liquidations of untracked assets count under ``base="other"``.
    Open interest is summed over a venue's symbols of one asset (e.g. BTCUSDT
    and BTCUSD inverse), in USD only once every one of them has a price (a
    partial sum would read as a fall). Runs on the event loop's thread, like
    the in-loop metrics server that scrapes it.
    """

    def __init__(self, assets: Sequence[str]) -> None:
        self.assets = frozenset(assets)
        self.events: Counter[tuple[str, str]] = Counter()
        self.messages: dict[tuple[str, str], int] = {}
        self.last_message: dict[str, float] = {}
        self.liquidations: dict[tuple[str, str, str], int] = {}
        self.liquidated_usd: dict[tuple[str, str, str], float] = {}
        self.sampled: dict[str, bool] = {}
        self.funding: dict[tuple[str, str], tuple[float, float]] = {}
        self.mark_price: dict[tuple[str, str], float] = {}
        self.open_interest: dict[tuple[str, str], dict[str, tuple[float, float | None]]] = {}
        # Venues whose liquidation feed is sampled (events flagged ``sampled``): sums over them are lower bounds.
        self.sampled_venues: set[str] = set()
        self.options: dict[tuple[str, str], OptionsSummary] = {}

    def message(self, venue: str, channel: str, now: float) -> None:
        """A frame arrived at ``now`` (Unix seconds)."""
        key = (venue, channel)
        self.messages[key] = self.messages.get(key, 0) + 1
        self.last_message[venue] = now

    def add_messages(self, counts: Mapping[tuple[str, str], int], now: float) -> None:
        """Frames by (venue, channel) that all arrived at ``now`` (Unix seconds)."""
        messages, last = self.messages, self.last_message
        for key, count in counts.items():
            messages[key] = messages.get(key, 0) + count
            last[key[0]] = now

    def observe(self, events: Sequence[Event]) -> None:
        """Add normalized events (live collection and replay alike).

        The events are counted by (venue, kind) in one C call; the loop only keeps the gauges, routed by
        the kind tag (mypy narrows the union by it; an isinstance that does not match costs several times
        as much), the most frequent kinds first.
        """
        self.events.update(map(_VENUE_KIND, events))
        assets = self.assets
        funding, mark_price, open_interest = self.funding, self.mark_price, self.open_interest
        liquidations, liquidated_usd, sampled = self.liquidations, self.liquidated_usd, self.sampled
        for event in events:
            if event.kind == "funding":
                if event.base in assets:
                    pair = (event.venue, event.base)
                    funding[pair] = (event.rate, event.rate_8h)
                    if event.mark_price is not None:
                        mark_price[pair] = event.mark_price
            elif event.kind == "open_interest":
                if event.base in assets:
                    per_symbol = open_interest.get(pair := (event.venue, event.base))
                    if per_symbol is None:
                        per_symbol = open_interest[pair] = {}
                    per_symbol[event.symbol] = (event.oi_base, event.oi_usd)
            elif event.kind == "liquidation":
                side_key = (event.venue, event.base if event.base in assets else OTHER, event.side)
                liquidations[side_key] = liquidations.get(side_key, 0) + 1
                sampled[event.venue] = event.sampled
                if event.notional_usd is not None:
                    liquidated_usd[side_key] = liquidated_usd.get(side_key, 0.0) + event.notional_usd
                if event.sampled:
                    self.sampled_venues.add(event.venue)
            elif event.kind == "options_summary" and event.base in assets:
                held = self.options.get((event.venue, event.base))
                if held is None or event.ts_ms >= held.ts_ms:
                    self.options[(event.venue, event.base)] = event

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so the registry knows the names (and refuses duplicates)."""
        counters, gauges = self._families()
        return [*counters.values(), *gauges.values()]

    def collect(self) -> Iterable[Metric]:
        """The families with the current values."""
        counters, gauges = self._families()
        for name, counts in (
            ("liqmon_events_total", self.events),
            ("liqmon_feed_messages_total", self.messages),
            ("liqmon_liquidations_total", self.liquidations),
            ("liqmon_liquidated_notional_usd_total", self.liquidated_usd),
        ):
            for labels, value in sorted(counts.items()):
                counters[name].add_metric(list(labels), value)
        for venue, sampled in sorted(self.sampled.items()):
            gauges["liqmon_feed_liquidations_sampled"].add_metric([venue], 1.0 if sampled else 0.0)
        for venue, seen in sorted(self.last_message.items()):
            gauges["liqmon_feed_last_message_timestamp_seconds"].add_metric([venue], seen)
        for pair, (rate, rate_8h) in sorted(self.funding.items()):
            gauges["liqmon_funding_rate"].add_metric(list(pair), rate)
            gauges["liqmon_funding_rate_8h"].add_metric(list(pair), rate_8h)
        for pair, price in sorted(self.mark_price.items()):
            gauges["liqmon_mark_price_usd"].add_metric(list(pair), price)
        for pair, (oi_base, oi_usd) in sorted(self.open_interest_totals().items()):
            gauges["liqmon_open_interest_base"].add_metric(list(pair), oi_base)
            if oi_usd is not None:
                gauges["liqmon_open_interest_usd"].add_metric(list(pair), oi_usd)
        for pair, summary in sorted(self.options.items()):
            self._collect_options(gauges, [*pair], summary)
        return [*counters.values(), *gauges.values()]

    def open_interest_totals(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        """Open interest per (venue, base), summed over the symbols; USD None until every symbol has a price."""
        totals: dict[tuple[str, str], tuple[float, float | None]] = {}
        for pair, per_symbol in self.open_interest.items():
            usd = [value for _, value in per_symbol.values()]
            known = all(value is not None for value in usd)
            totals[pair] = (
                sum(oi for oi, _ in per_symbol.values()),
                sum(v for v in usd if v is not None) if known else None,
            )
        return totals

    @staticmethod
    def _collect_options(gauges: dict[str, GaugeMetricFamily], labels: list[str], summary: OptionsSummary) -> None:
        """The latest summary of a (venue, base): tenors (absent ones stay absent), DVOL, OI ratio, top puts."""
        for key in TENOR_KEYS:
            point = summary.tenors.get(key)
            if point is not None:
                tenor = [*labels, f"{key}d"]
                gauges["liqmon_options_atm_iv"].add_metric(tenor, point.atm_iv)
                gauges["liqmon_options_rr25"].add_metric(tenor, point.rr25)
                gauges["liqmon_options_bf25"].add_metric(tenor, point.bf25)
        if summary.dvol is not None:
            gauges["liqmon_options_dvol"].add_metric(labels, summary.dvol)
        if summary.put_call_oi_ratio is not None:
            gauges["liqmon_options_put_call_oi_ratio"].add_metric(labels, summary.put_call_oi_ratio)
        for rank, (strike, oi) in enumerate(summary.put_oi_top, 1):
            gauges["liqmon_options_put_oi_top_base"].add_metric([*labels, str(rank)], oi)
            gauges["liqmon_options_put_oi_top_strike_usd"].add_metric([*labels, str(rank)], strike)

    @staticmethod
    def _families() -> tuple[dict[str, CounterMetricFamily], dict[str, GaugeMetricFamily]]:
        counters: dict[str, CounterMetricFamily] = {}
        gauges: dict[str, GaugeMetricFamily] = {}
        for name, kind, labels, text in FAMILIES:
            if kind == "counter":
                counters[name] = CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))
            else:
                gauges[name] = GaugeMetricFamily(name, text, labels=list(labels))
        return counters, gauges
