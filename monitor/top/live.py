"""The state a daemon serves about itself on ``/state`` and ``/alerts`` (``liqmon run``, ``liqmon demo``).

:class:`LiveState` reads what the process already keeps, so watching costs the
pipeline nothing per event: the market tally and feed counters of its
:class:`~monitor.metrics.Metrics`, plus an :class:`AlertBook` fed by the
application's alert tap (alerts are few).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence

from monitor.alert import Alert
from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.top.state import AlertBook, FeedHealth, Snapshot, build_snapshot, encode_alerts, encode_snapshot
from monitor.venues.registry import VENUES


def wall_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def enabled_venues(settings: Settings) -> list[str]:
    """The venues the configuration enables, in the canonical order."""
    return [v for v in VENUES if getattr(settings.venues, v).enabled]


def _per_venue(samples: Sequence[tuple[dict[str, str], float]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for labels, value in samples:
        venue = labels.get("venue", "")
        out[venue] = out.get(venue, 0) + int(value)
    return out


def feed_health(metrics: Metrics, venues: Sequence[str]) -> dict[str, FeedHealth]:
    """Connections, reconnects and parse errors per venue, from the collector's metrics."""
    found: dict[str, dict[str, int]] = {}
    for name, metric in (
        ("connected", metrics.feed_connected),
        ("reconnects", metrics.feed_reconnects),
        ("parse_errors", metrics.feed_parse_errors),
    ):
        samples = [
            (sample.labels, sample.value)
            for family in metric.collect()
            for sample in family.samples
            if not sample.name.endswith("_created")
        ]
        found[name] = _per_venue(samples)
    return {
        v: FeedHealth(
            connected=found["connected"].get(v, 0),
            reconnects=found["reconnects"].get(v, 0),
            parse_errors=found["parse_errors"].get(v, 0),
        )
        for v in venues
    }


class LiveState:
    """Snapshots of this process: its market tally, feed health (when it collects) and the alerts it raised."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        collects: bool,
        label: str | None = None,
        source: str = "embedded",
        market_clock: Callable[[], int] | None = None,
    ) -> None:
        self.metrics = metrics
        self.venues = enabled_venues(settings)
        self.collects = collects
        self.label = label or f"liqmon on {socket.gethostname()} (pid {os.getpid()})"
        self.source = source
        self.market_clock = market_clock
        self.book = AlertBook()
        self.started_ms = wall_ms()
        self.notes: list[str] = []

    def on_alert(self, alert: Alert) -> None:
        """Alert tap."""
        self.book.add(alert, wall_ms())

    def snapshot(self) -> Snapshot:
        """The state now."""
        tally = self.metrics.market
        return build_snapshot(
            source=self.source,
            label=self.label,
            now_ms=wall_ms(),
            since_ms=self.started_ms,
            venues=self.venues if self.collects else [],
            tally=tally,
            last_seen_ms={v: seen * 1000 for v, seen in tally.last_message.items()},
            book=self.book,
            market_ms=self.market_clock() if self.market_clock is not None else None,
            health=feed_health(self.metrics, self.venues) if self.collects else None,
            notes=self.notes,
        )

    def state_json(self) -> bytes:
        """The body of ``/state``."""
        return encode_snapshot(self.snapshot())

    def alerts_json(self, since_ms: int) -> bytes:
        """The body of ``/alerts``: alerts at or after ``since_ms``, oldest first."""
        return encode_alerts(self.book.since(since_ms))
