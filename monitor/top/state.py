"""What ``liqmon top`` shows, as plain values: the snapshot of a running deployment, and how it is built.

A :class:`Snapshot` is the same whichever way it was gathered: served as JSON
on ``/state`` by a daemon that runs the pipeline itself (``liqmon run``,
``liqmon demo``), or built by ``liqmon top`` from the Redis streams of a
scaled-out deployment. Counters in it are cumulative since ``since_ms``; the
view derives rates and windows by comparing snapshots (:mod:`monitor.top.trend`).

Everything here is pure: :func:`build_snapshot` reads a
:class:`~monitor.market_metrics.MarketTally` (the per-event figures the
metrics already keep) and an :class:`AlertBook` (the alerts seen).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from monitor.alert import Alert, severity_rank
from monitor.events import OptionsSummary
from monitor.market_metrics import MarketTally

SNAPSHOT_VERSION: Final = 1
RECENT_ALERTS: Final = 50
ALERT_LOG_SIZE: Final = 10_000


class FeedHealth(msgspec.Struct, frozen=True, kw_only=True):
    """What the collector knows about one venue's connections (absent when another process collects)."""

    connected: int
    reconnects: int
    parse_errors: int


class VenueState(msgspec.Struct, frozen=True, kw_only=True):
    """One venue: cumulative events by kind, time since its last message, feed health when known."""

    venue: str
    events: dict[str, int]
    age_s: float | None
    sampled: bool
    health: FeedHealth | None = None


class LiquidationTotal(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Cumulative liquidations of one venue, asset and liquidated position side."""

    venue: str
    base: str
    side: str
    count: int
    usd: float


class FundingValue(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Latest funding of one venue and asset (fractions)."""

    venue: str
    base: str
    rate: float
    rate_8h: float


class OpenInterestValue(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Latest open interest of one venue and asset (summed over its symbols)."""

    venue: str
    base: str
    oi_base: float
    oi_usd: float | None


class PriceValue(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Latest mark price of one venue and asset."""

    venue: str
    base: str
    price: float


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The state of a deployment at ``ts_ms`` (wall clock); counters count from ``since_ms``."""

    source: str
    label: str
    ts_ms: int
    since_ms: int
    market_ms: int | None
    venues: list[VenueState]
    liquidations: list[LiquidationTotal]
    funding: list[FundingValue]
    open_interest: list[OpenInterestValue]
    prices: list[PriceValue]
    active: list[Alert]
    recent: list[Alert]
    notes: list[str] = msgspec.field(default_factory=list)
    # The latest options summary per venue and asset (DESIGN §3 ``options_summary``).
    options: list[OptionsSummary] = msgspec.field(default_factory=list)
    version: int = SNAPSHOT_VERSION


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Snapshot)
_ALERTS_DECODER: Final = msgspec.json.Decoder(list[Alert])


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """The snapshot as JSON (the body of ``/state``)."""
    return _ENCODER.encode(snapshot)


def decode_snapshot(data: bytes) -> Snapshot:
    """A snapshot from ``/state``; ValueError says what is wrong with it."""
    try:
        return _DECODER.decode(data)
    except msgspec.MsgspecError as exc:
        raise ValueError(f"not a liqmon state snapshot: {exc}") from None


def encode_alerts(alerts: Sequence[Alert]) -> bytes:
    """Alerts as a JSON array (the body of ``/alerts``)."""
    return _ENCODER.encode(alerts)


def decode_alerts(data: bytes) -> list[Alert]:
    """Alerts from ``/alerts``; ValueError says what is wrong."""
    try:
        return _ALERTS_DECODER.decode(data)
    except msgspec.MsgspecError as exc:
        raise ValueError(f"not a list of liqmon alerts: {exc}") from None


class AlertBook:
    """The alerts seen: the open episodes (fired, not resolved yet) and a bounded log, oldest first.

    The log keeps when each alert was raised (wall clock: the alert tap's time,
    or the alerts stream's entry id), which is what ``liqmon alerts --since``
    selects on; an alert's own ``ts_ms`` is market time (a replay's is in the past).
    """

    def __init__(self, log_size: int = ALERT_LOG_SIZE) -> None:
        self.log: deque[tuple[int, Alert]] = deque(maxlen=log_size)
        self._open: dict[tuple[str, str, str | None, str], Alert] = {}

    def add(self, alert: Alert, raised_ms: int) -> None:
        """Note one alert raised at wall time ``raised_ms`` (an alert tap, or an entry of the alerts stream)."""
        self.log.append((raised_ms, alert))
        key = (alert.kind, alert.base, alert.venue, alert.direction)
        if alert.status == "firing":
            self._open[key] = alert
        else:
            self._open.pop(key, None)

    def active(self) -> list[Alert]:
        """Open episodes, most severe first, then the oldest first."""
        return sorted(self._open.values(), key=lambda a: (-severity_rank(a.severity), a.started_ms, a.base, a.kind))

    def recent(self, count: int = RECENT_ALERTS) -> list[Alert]:
        """The last ``count`` alerts, newest first."""
        return [self.log[i][1] for i in range(len(self.log) - 1, max(-1, len(self.log) - 1 - count), -1)]

    def since(self, since_ms: int) -> list[Alert]:
        """Alerts raised at or after wall time ``since_ms``, oldest first."""
        return [alert for raised, alert in self.log if raised >= since_ms]


def build_snapshot(
    *,
    source: str,
    label: str,
    now_ms: int,
    since_ms: int,
    venues: Sequence[str],
    tally: MarketTally,
    last_seen_ms: Mapping[str, float],
    book: AlertBook,
    market_ms: int | None = None,
    health: Mapping[str, FeedHealth] | None = None,
    notes: Sequence[str] = (),
) -> Snapshot:
    """The snapshot of a deployment from its market tally, its alerts and (when known) its feeds' health.

    ``venues`` are the venues to list (the enabled ones), ``last_seen_ms`` the
    wall time of each venue's last message.
    """
    sampled = tally.sampled_venues
    events: dict[str, dict[str, int]] = {v: {} for v in venues}
    for (venue, kind), count in tally.events.items():
        events.setdefault(venue, {})[kind] = count
    rows = [
        VenueState(
            venue=venue,
            events=dict(sorted(kinds.items())),
            age_s=None if venue not in last_seen_ms else max(0.0, (now_ms - last_seen_ms[venue]) / 1000),
            sampled=venue in sampled,
            health=(health or {}).get(venue),
        )
        for venue, kinds in events.items()
    ]
    liquidations = [
        LiquidationTotal(
            venue=venue, base=base, side=side, count=count, usd=tally.liquidated_usd.get((venue, base, side), 0.0)
        )
        for (venue, base, side), count in sorted(tally.liquidations.items())
    ]
    funding = [
        FundingValue(venue=venue, base=base, rate=rate, rate_8h=rate_8h)
        for (venue, base), (rate, rate_8h) in sorted(tally.funding.items())
    ]
    open_interest = [
        OpenInterestValue(venue=venue, base=base, oi_base=oi_base, oi_usd=oi_usd)
        for (venue, base), (oi_base, oi_usd) in sorted(tally.open_interest_totals().items())
    ]
    prices = [PriceValue(venue=v, base=b, price=p) for (v, b), p in sorted(tally.mark_price.items())]
    return Snapshot(
        source=source,
        label=label,
        ts_ms=now_ms,
        since_ms=since_ms,
        market_ms=market_ms,
        venues=rows,
        liquidations=liquidations,
        funding=funding,
        open_interest=open_interest,
        prices=prices,
        active=book.active(),
        recent=book.recent(),
        notes=list(notes),
        options=[summary for _, summary in sorted(tally.options.items())],
    )
