"""The detection engine: every detector behind one ``feed(event) -> list[Alert]``.

This is the single entry point of the runner, ``liqmon replay`` and
``liqmon backtest``. It is pure: time comes only from the events (the newest
event time seen is the clock), so the same events always give the same alerts.
Every event is checked for duplicates and lateness, then routed to its asset's
detectors; whenever the clock crosses a ``tick_s`` step the assets that are due
are re-evaluated too, so episodes resolve and quiet venues go stale even when the
asset itself sends nothing. An asset is due at the earliest of its slow
re-evaluation (funding, open interest, options: every ``SLOW_TICK_MS``) and the
times before which its cascade sides cannot change; the engine keeps these
deadlines in a heap and visits only the assets whose deadline has passed, at the
same ticks and in the same order as visiting every asset would.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from monitor.alert import Alert
from monitor.detectors.cascade import KIND as CASCADE
from monitor.detectors.cascade import CascadeSide
from monitor.detectors.config import ClassSettings, DetectorSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode
from monitor.detectors.funding import FundingAsset
from monitor.detectors.hygiene import OUTCOMES, Gatekeeper, Outcome, implausible_liquidation
from monitor.detectors.open_interest import OpenInterestAsset
from monitor.detectors.options import OptionsAsset
from monitor.events import Event, Liquidation, canonical_base
from monitor.logs import get_logger

log = get_logger(__name__)
SLOW_TICK_MS = 5_000
_NEVER = float("inf")


class AssetDetectors:
    """All detector state of one asset."""

    __slots__ = (
        "_next_slow_ms",
        "ctx",
        "funding",
        "long",
        "oi",
        "options",
        "order",
        "scheduled_ms",
        "settings",
        "short",
    )

    def __init__(
        self, base: str, first_ms: int, settings: ClassSettings, detectors: DetectorSettings, order: int = 0
    ) -> None:
        self.settings = settings
        # Position among the engine's assets (assets due at one tick are evaluated in this order) and the
        # deadline the engine holds for the asset (infinity while it holds none).
        self.order = order
        self.scheduled_ms: float = _NEVER
        self.ctx = AssetContext(
            base, first_ms, detectors.regime, price_band_pct=settings.cascade.max_price_deviation_pct
        )
        self.long = CascadeSide(self.ctx, "long", settings.cascade)
        self.short = CascadeSide(self.ctx, "short", settings.cascade)
        self.funding = FundingAsset(self.ctx, settings.funding)
        self.oi = OpenInterestAsset(self.ctx, settings.open_interest)
        self.options = OptionsAsset(self.ctx, settings.options)
        self._next_slow_ms = 0

    def snapshot(self) -> dict[str, Any]:
        """Every detector's state of the asset as plain JSON-ready values."""
        return {
            "ctx": self.ctx.snapshot(),
            "long": self.long.snapshot(),
            "short": self.short.snapshot(),
            "funding": self.funding.snapshot(),
            "oi": self.oi.snapshot(),
            "options": self.options.snapshot(),
            "next_slow_ms": self._next_slow_ms,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` into freshly built detectors (the context first)."""
        self.ctx.restore(state["ctx"])
        self.long.restore(state["long"])
        self.short.restore(state["short"])
        self.funding.restore(state["funding"])
        self.oi.restore(state["oi"])
        self.options.restore(state["options"])
        self._next_slow_ms = int(state["next_slow_ms"])

    def due_ms(self) -> float:
        """The earliest event time at which :meth:`evaluate` can change anything."""
        return min(self._next_slow_ms, self.long.quiet_until, self.short.quiet_until)

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Re-evaluate the asset at ``now_ms``: cascades every tick, funding, OI and options every few seconds.

        Funding, open interest and options positioning move slowly (confirmation in minutes, staleness in tens of
        seconds), so their full re-evaluation (every venue) runs at most every ``SLOW_TICK_MS``.
        """
        if now_ms >= self._next_slow_ms:
            self._next_slow_ms = now_ms + SLOW_TICK_MS
            alerts = self.oi.evaluate(now_ms)
            alerts += self.funding.evaluate(now_ms)
            alerts += self.options.evaluate(now_ms)
            alerts += self.long.evaluate(now_ms)
        else:
            alerts = self.long.evaluate(now_ms)
        alerts += self.short.evaluate(now_ms)
        return alerts

    def episodes(self) -> Iterator[Episode]:
        """Every episode state machine of the asset."""
        yield self.long.episode
        yield self.short.episode
        yield from self.funding.extremes.values()
        yield from self.funding.flip.episodes.values()
        for tracker in self.funding.venue_flips.values():
            yield from tracker.episodes.values()
        for group in (self.oi.total, *self.oi.venues.values()):
            yield group.collapse
            yield group.surge
        yield from self.options.episodes()


@dataclass(frozen=True, slots=True)
class EpisodeView:
    """A firing episode, for terminal views and state metrics."""

    kind: str
    base: str
    venue: str | None
    direction: str
    severity: str
    started_ms: int


class DetectionEngine:
    """Liquidation cascades, funding flips, open-interest collapses and options positioning over a stream of events."""

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self._gate = Gatekeeper(
            capacity=settings.dedup_capacity,
            tolerance_ms=int(settings.reorder_tolerance_s * 1000),
            future_tolerance_ms=int(settings.future_tolerance_s * 1000),
        )
        self._assets: dict[str, AssetDetectors] = {}
        # The same detectors by the base as events spell it (``xbt``, ``XBT``, ``BTC``): no
        # canonical_base per event.
        self._by_spelling: dict[str, AssetDetectors] = {}
        self._tick_ms = max(1, int(settings.tick_s * 1000))
        self._next_tick_ms = 0
        # (deadline, sequence, asset): when each asset is next due. Entries whose deadline is no longer the
        # asset's ``scheduled_ms`` are stale and skipped; the sequence keeps entries of one asset apart.
        self._due: list[tuple[float, int, AssetDetectors]] = []
        self._sequence = itertools.count()
        self.counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        self.last_outcome: Outcome = "processed"

    def snapshot(self) -> dict[str, Any]:
        """The engine's whole detection state (clock, recent ids, every asset) as plain JSON-ready values.

        Outcome tallies (:attr:`counts`) are not state: they feed metrics and start at zero.
        """
        return {
            "event_gate": self._gate.snapshot(),
            "next_tick_ms": self._next_tick_ms,
            "assets": {name: asset.snapshot() for name, asset in self._assets.items()},
            "spellings": {spelling: asset.ctx.base for spelling, asset in self._by_spelling.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` into this fresh engine (built with the same settings).

        Malformed state raises ``KeyError``, ``TypeError`` or ``ValueError`` (``msgspec.ValidationError``
        is one); the engine is then unusable and a new one must be built.
        """
        if self._assets:
            raise ValueError("restore needs a fresh engine")
        self._gate.restore(state["event_gate"])
        self._next_tick_ms = int(state["next_tick_ms"])
        for key, asset_state in state["assets"].items():
            name = str(key)
            first_ms = int(asset_state["ctx"]["first_ms"])
            asset = self._assets[name] = AssetDetectors(
                name, first_ms, self.settings.for_asset(name), self.settings, len(self._assets)
            )
            asset.restore(asset_state)
            self._schedule(asset)
        self._by_spelling = {str(spelling): self._assets[str(name)] for spelling, name in state["spellings"].items()}

    @property
    def clock_ms(self) -> int:
        """The newest event time seen (epoch ms); 0 before any event."""
        return self._gate.clock_ms

    def feed(self, event: Event) -> list[Alert]:
        """Process one event; the alerts it causes, in order (empty for duplicates and late events)."""
        outcome, ts = self._gate.admit(event)
        self.counts[outcome] += 1
        self.last_outcome = outcome
        if outcome != "processed":
            return []
        now = self._gate.clock_ms
        alerts: list[Alert]  # every detector returns a new list: extended below, never shared
        # Routed by the kind tag (mypy narrows the union by it): isinstance on an event type that does not
        # match costs several times as much, and this runs for every event.
        if event.kind == "gap":
            alerts = []
            names = [canonical_base(b) for b in event.bases] if event.bases else list(self._assets)
            for name in names:
                asset = self._assets.get(name)
                if asset is not None:
                    asset.funding.mark_gap(event.venue)
                    asset.oi.mark_gap(event.venue)
                    asset.long.mark_gap(event.venue, ts)
                    asset.short.mark_gap(event.venue, ts)
                    asset.options.mark_gap(event.venue)
        else:
            asset = self._by_spelling.get(event.base) or self._asset(event.base, ts)
            if event.kind == "funding":
                alerts = asset.funding.add(event, ts, now)
            elif event.kind == "open_interest":
                alerts = asset.oi.add(event, ts, now)
                if asset.oi.held is not None:
                    self._ignore(asset.oi.held, event)
            elif event.kind == "liquidation":
                alerts = self._liquidation(asset, event, ts, now)
            else:  # options_summary: mypy checks the event union is exhausted
                alerts = asset.options.add(event, ts, now)
        if now >= self._next_tick_ms:
            self._next_tick_ms = now - now % self._tick_ms + self._tick_ms
            alerts += self.advance(now)
        return alerts

    def _liquidation(self, asset: AssetDetectors, event: Liquidation, ts: int, now: int) -> list[Alert]:
        """Screen a liquidation (implausible ones are ignored), note its price and feed its side."""
        ctx = asset.ctx
        reason = implausible_liquidation(
            event, ctx.reference_price(ts), max_usd=asset.settings.cascade.max_liquidation_usd, band=ctx.price_band
        )
        if reason is not None:
            self._ignore(reason, event)
            return []
        ctx.prices.add(ts, event.price)
        side = asset.long if event.side == "long" else asset.short
        alerts = side.add(event, ts, now)
        if side.quiet_until < asset.scheduled_ms:  # only a liquidation brings a deadline forward
            self._schedule(asset)
        return alerts

    def _ignore(self, reason: Outcome, event: Event) -> None:
        """Count an event the hygiene rules set aside (``processed`` becomes ``reason``)."""
        self.counts["processed"] -= 1
        self.counts[reason] += 1
        self.last_outcome = reason
        log.info("detector_event_ignored", reason=reason, venue=event.venue, id=event.id)

    def advance(self, now_ms: int) -> list[Alert]:
        """Re-evaluate at ``now_ms`` (never earlier than the clock) every asset that is due by then.

        The others would change nothing: this gives what evaluating every asset gives.
        """
        now = max(now_ms, self._gate.clock_ms)
        heap = self._due
        if not heap or heap[0][0] > now:
            return []
        due: list[AssetDetectors] = []
        while heap and heap[0][0] <= now:
            deadline, _, asset = heapq.heappop(heap)
            if deadline == asset.scheduled_ms:
                asset.scheduled_ms = _NEVER
                due.append(asset)
        if len(due) > 1:
            due.sort(key=_order)
        alerts: list[Alert] = []
        for asset in due:
            alerts += asset.evaluate(now)
            self._schedule(asset)
        return alerts

    def _schedule(self, asset: AssetDetectors) -> None:
        """Hold the asset's current deadline in the heap (when it is earlier than the one held)."""
        deadline = asset.due_ms()
        if deadline < asset.scheduled_ms:
            asset.scheduled_ms = deadline
            heapq.heappush(self._due, (deadline, next(self._sequence), asset))

    def _asset(self, base: str, ts_ms: int) -> AssetDetectors:
        name = canonical_base(base)
        asset = self._assets.get(name)
        if asset is None:
            asset = self._assets[name] = AssetDetectors(
                name, ts_ms, self.settings.for_asset(name), self.settings, len(self._assets)
            )
            self._schedule(asset)
        self._by_spelling[base] = asset
        return asset

    # ------------------------------------------------------------------ views

    @property
    def assets(self) -> tuple[str, ...]:
        """The assets tracked so far."""
        return tuple(self._assets)

    def detectors(self, base: str) -> AssetDetectors | None:
        """The detector state of ``base`` (None when it has not been seen)."""
        return self._assets.get(canonical_base(base))

    def firing(self) -> list[EpisodeView]:
        """Every episode firing right now."""
        out: list[EpisodeView] = []
        for asset in self._assets.values():
            for episode in asset.episodes():
                if episode.started_ms is not None:
                    out.append(
                        EpisodeView(
                            episode.kind,
                            episode.base,
                            episode.venue,
                            episode.direction,
                            episode.severity,
                            episode.started_ms,
                        )
                    )
        return out

    def states(self) -> Iterator[tuple[str, str, str, int]]:
        """(kind, base, direction, 0-3) of every asset-wide episode (the ``liqmon_detector_state`` gauge)."""
        for base, asset in self._assets.items():
            yield CASCADE, base, "long", asset.long.episode.state_value()
            yield CASCADE, base, "short", asset.short.episode.state_value()
            for kind, direction, value in (*asset.funding.states(), *asset.oi.states(), *asset.options.states()):
                yield kind, base, direction, value

    def cascade_window_usd(self, base: str, direction: str) -> float:
        """Liquidated USD in the cascade window of ``base``/``direction`` at the current clock."""
        asset = self.detectors(base)
        if asset is None:
            return 0.0
        side = asset.long if direction == "long" else asset.short
        return side.window_usd(self._gate.clock_ms)


def _order(asset: AssetDetectors) -> int:
    return asset.order


__all__ = ["AssetDetectors", "DetectionEngine", "EpisodeView"]
