"""Liquidation cascade detector: one state machine per asset and liquidated side.

Long liquidations are a downside cascade (direction ``long``), short
liquidations a squeeze (direction ``short``); venues and quotes are summed.
The short window's USD notional is compared with an absolute floor and with a
baseline learned from the asset's own history: an EWMA of per-minute notional,
each finished minute clamped to a few times the current baseline and the whole
baseline frozen while an episode fires, so a cascade cannot teach the detector
that cascades are normal. Until ``warmup_min`` of history exist the floor is
raised instead (cold start). Liquidations without a USD notional are counted
but add nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from monitor.alert import Alert
from monitor.detectors.config import CascadeSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode, Transition, fmt_pct, fmt_usd, severity_for
from monitor.detectors.regime import classify
from monitor.detectors.windows import RollingSum
from monitor.events import Liquidation

KIND = "liquidation_cascade"
_MINUTE_MS = 60_000


class _EpisodeTotals:
    """What the resolved alert reports about the whole episode (the lead-in window included)."""

    __slots__ = (
        "count",
        "funding_turn",
        "min_oi_change",
        "peak_minute_usd",
        "peak_multiple",
        "price_start",
        "total_usd",
        "venues",
    )

    def __init__(self, window: RollingSum, venues: dict[str, RollingSum], minute: float, price: float | None) -> None:
        self.total_usd = window.total
        self.count = window.count
        self.venues = {v: w.total for v, w in venues.items() if w.count}
        self.peak_minute_usd = minute
        self.peak_multiple = 0.0
        self.price_start = price
        # Regime evidence gathered over the whole episode.
        self.min_oi_change: float | None = None
        self.funding_turn = False


class CascadeSide:
    """The cascade state machine of one asset and one liquidated position side."""

    def __init__(self, ctx: AssetContext, direction: Literal["long", "short"], settings: CascadeSettings) -> None:
        self.ctx = ctx
        self.direction = direction
        self.cfg = settings
        self.window_ms = int(settings.window_s * 1000)
        self.window = RollingSum(self.window_ms, int(settings.bucket_s * 1000))
        self.minute = RollingSum(_MINUTE_MS, 5_000)
        self.venues: dict[str, RollingSum] = {}
        self.episode = Episode(
            KIND, ctx.base, None, direction, int(settings.hold_s * 1000), int(settings.cooldown_s * 1000)
        )
        self.alpha = 1.0 - 0.5 ** (1.0 / settings.baseline_half_life_min)
        self.baseline_pm = 0.0
        self._minute_start: int | None = None
        self._minute_end = 0  # _roll has nothing to do before then
        self._minute_sum = 0.0
        # Thresholds frozen for the running episode: (effective floor, window baseline).
        self._frozen: tuple[float, float] | None = None
        self._totals: _EpisodeTotals | None = None
        # While idle below the entry condition, evaluating before this time changes nothing.
        self._quiet_until: float = 0

    # ------------------------------------------------------------------ input

    def add(self, liq: Liquidation, ts_ms: int, now_ms: int) -> list[Alert]:
        """Account one liquidation at ``ts_ms`` (clock ``now_ms``) and evaluate."""
        self._roll(now_ms)
        usd = liq.notional_usd or 0.0
        if not self.window.add(ts_ms, usd):
            return []
        self._minute_sum += usd
        self.minute.add(ts_ms, usd)
        venue = self.venues.get(liq.venue)
        if venue is None:
            venue = self.venues[liq.venue] = RollingSum(self.window_ms, self.window.bucket_ms)
        venue.add(ts_ms, usd)
        venue.expire(now_ms)  # else a venue's buckets pile up for as long as it liquidates between episodes
        totals = self._totals
        if totals is not None:
            totals.total_usd += usd
            totals.count += 1
            totals.venues[liq.venue] = totals.venues.get(liq.venue, 0.0) + usd
        self._quiet_until = 0
        return self.evaluate(now_ms)

    def _roll(self, now_ms: int) -> None:
        """Close finished minutes into the baseline (frozen while firing); O(1) for any gap."""
        minute = now_ms - now_ms % _MINUTE_MS
        if self._minute_start is None:
            self._minute_start = minute
            self._minute_end = minute + _MINUTE_MS
            return
        if minute <= self._minute_start:
            return
        if not self.episode.firing:
            skipped = (minute - self._minute_start) // _MINUTE_MS - 1
            cap = self.cfg.baseline_clamp * max(self.baseline_pm, self._floor_per_minute())
            self.baseline_pm += self.alpha * (min(self._minute_sum, cap) - self.baseline_pm)
            if skipped > 0:
                self.baseline_pm *= (1.0 - self.alpha) ** skipped
        self._minute_start = minute
        self._minute_end = minute + _MINUTE_MS
        self._minute_sum = 0.0

    def _floor_per_minute(self) -> float:
        return self.cfg.floor_usd / (self.cfg.window_s / 60.0) / self.cfg.info_multiple

    def warmed_up(self, now_ms: int) -> bool:
        """True once the asset has ``warmup_min`` of history."""
        return now_ms - self.ctx.first_ms >= self.cfg.warmup_min * _MINUTE_MS

    def thresholds(self, now_ms: int) -> tuple[float, float]:
        """(effective floor, window baseline); frozen while an episode fires."""
        if self._frozen is not None:
            return self._frozen
        cfg = self.cfg
        warmed = self.warmed_up(now_ms)
        floor = cfg.floor_usd * (1.0 if warmed else cfg.warmup_floor_factor)
        learned = self.baseline_pm * cfg.window_s / 60.0 if warmed else 0.0
        return floor, max(learned, floor / cfg.info_multiple)

    # ------------------------------------------------------------------ decision

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Decide at ``now_ms``: maybe fire, escalate or resolve."""
        if now_ms < self._quiet_until:
            return []
        self._quiet_until = 0
        if now_ms >= self._minute_end:
            self._roll(now_ms)
        window = self.window
        window.expire(now_ms)
        self.minute.expire(now_ms)
        cfg = self.cfg
        # Idle below the entry condition: no level, so the episode cannot move (and no totals exist).
        # Until a liquidation arrives, a minute closes or a bucket expires, evaluating again would
        # change nothing either (the floor can still drop once, at the end of the warm-up).
        idle = self.episode.started_ms is None
        if idle and window.count < cfg.min_count:
            self._quiet_until = self._next_change_ms()
            return []
        floor, reference = self._frozen or self.thresholds(now_ms)
        notional = window.total
        if idle and notional < floor:
            if self.warmed_up(now_ms):
                self._quiet_until = self._next_change_ms()
            return []
        multiple = notional / reference
        level = None
        if notional >= floor and window.count >= cfg.min_count:
            level = severity_for(multiple, cfg.info_multiple, cfg.warning_multiple, cfg.critical_multiple)
        exiting = notional < cfg.exit_ratio * reference * cfg.info_multiple
        totals = self._totals
        if totals is not None:
            totals.peak_minute_usd = max(totals.peak_minute_usd, self.minute.total)
            totals.peak_multiple = max(totals.peak_multiple, multiple)
            change = self.ctx.oi_change_pct
            if change is not None and (totals.min_oi_change is None or change < totals.min_oi_change):
                totals.min_oi_change = change
            totals.funding_turn = totals.funding_turn or self.ctx.funding_turn(self.direction, now_ms)
        transition = self.episode.step(now_ms, level, exiting)
        if transition is None:
            return []
        return [self._alert(transition, now_ms, floor, reference, multiple)]

    def _next_change_ms(self) -> float:
        """When the next minute closes or the next window bucket expires."""
        return min(self._minute_end, self.window.next_expiry_ms(), self.minute.next_expiry_ms())

    def _alert(self, transition: Transition, now_ms: int, floor: float, reference: float, multiple: float) -> Alert:
        if transition == "fire":
            self._frozen = (floor, reference)
            for window in self.venues.values():  # quiet venues' windows expire lazily: bring them to now
                window.expire(now_ms)
            start_price = self._price_at_window_start(now_ms)
            self._totals = _EpisodeTotals(self.window, self.venues, self.minute.total, start_price)
            self._totals.peak_multiple = multiple
        if transition == "resolve":
            values, summary = self._resolved_values(now_ms)
            self._frozen = None
            self._totals = None
        else:
            values, summary = self._firing_values(now_ms, floor, reference, multiple, transition)
        return self.episode.alert(transition, now_ms, summary, values)

    def _price_at_window_start(self, now_ms: int) -> float | None:
        return self.ctx.prices.at(now_ms - self.window_ms)

    def _label(self) -> str:
        return "long liquidation cascade" if self.direction == "long" else "short squeeze (short liquidations)"

    def _firing_values(
        self, now_ms: int, floor: float, reference: float, multiple: float, transition: Transition
    ) -> tuple[dict[str, Any], str]:
        ctx = self.ctx
        since = now_ms - self.window_ms
        regime = ctx.regime(self.direction, now_ms, since)
        for window in self.venues.values():
            window.expire(now_ms)
        venues = {v: round(w.total, 2) for v, w in sorted(self.venues.items()) if w.count}
        price_move = ctx.price_move_pct(since)
        values: dict[str, Any] = {
            "window_usd": round(self.window.total, 2),
            "window_count": self.window.count,
            "window_s": self.cfg.window_s,
            "multiple": round(multiple, 2),
            "baseline_usd": round(reference, 2),
            "floor_usd": floor,
            "warming_up": not self.warmed_up(now_ms),
            "minute_usd": round(self.minute.total, 2),
            "venues": venues,
            "price": ctx.prices.last,
            "price_move_pct": None if price_move is None else round(price_move, 3),
            "oi_change_pct": None if ctx.oi_change_pct is None else round(ctx.oi_change_pct, 3),
            "funding_rate_8h": ctx.funding_now,
            "regime": regime.label,
            "regime_note": regime.note,
        }
        verb = "" if transition == "fire" else f" escalated to {self.episode.severity}"
        summary = (
            f"{ctx.base} {self._label()}{verb}: {fmt_usd(self.window.total)} liquidated in "
            f"{self.cfg.window_s / 60:g} min ({multiple:.1f}× baseline, {self.window.count} liquidations, "
            f"{len(venues)} venue{'s' if len(venues) != 1 else ''}); price {fmt_pct(price_move)}; {regime.note}"
        )
        return values, summary

    def _resolved_values(self, now_ms: int) -> tuple[dict[str, Any], str]:
        totals = self._totals
        assert totals is not None  # only called for a firing episode
        ctx = self.ctx
        started = self.episode.started_ms if self.episode.started_ms is not None else now_ms
        end = ctx.prices.last
        change = None
        if totals.price_start and end:
            change = (end / totals.price_start - 1.0) * 100.0
        # Over the whole episode: the deepest OI drop seen and whether funding turned at any point.
        regime = classify(
            self.direction,
            oi_change_pct=totals.min_oi_change,
            funding_turn=totals.funding_turn,
            price_move_pct=change,
            settings=ctx.regime_settings,
        )
        duration = (now_ms - started) / 1000.0
        values: dict[str, Any] = {
            "duration_s": duration,
            "lead_in_s": self.cfg.window_s,
            "total_usd": round(totals.total_usd, 2),
            "count": totals.count,
            "peak_minute_usd": round(totals.peak_minute_usd, 2),
            "peak_multiple": round(totals.peak_multiple, 2),
            "peak_severity": self.episode.peak,
            "oi_change_pct": None if totals.min_oi_change is None else round(totals.min_oi_change, 3),
            "venues": {v: round(x, 2) for v, x in sorted(totals.venues.items())},
            "price_start": totals.price_start,
            "price_end": end,
            "price_change_pct": None if change is None else round(change, 3),
            "regime": regime.label,
            "regime_note": regime.note,
        }
        prices = ""
        if totals.price_start and end:
            prices = f", price {totals.price_start:,.6g} → {end:,.6g} ({fmt_pct(change)})"
        summary = (
            f"{ctx.base} {self._label()} resolved after {duration / 60:.0f} min: {fmt_usd(totals.total_usd)} "
            f"in {totals.count} liquidations, peak {fmt_usd(totals.peak_minute_usd)}/min{prices}"
        )
        return values, summary

    def window_usd(self, now_ms: int) -> float:
        """Liquidated USD in the window at ``now_ms`` (for the gauge)."""
        self.window.expire(now_ms)
        return self.window.total
