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

from monitor.alert import Alert, Severity
from monitor.detectors.config import CascadeSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode, Transition, fmt_pct, fmt_usd
from monitor.detectors.regime import classify
from monitor.detectors.snapshots import never_in, never_out, opt_float, opt_int
from monitor.detectors.windows import RollingSum
from monitor.events import Liquidation

KIND = "liquidation_cascade"
_MINUTE_MS = 60_000
_NEVER = float("inf")
_LEVELS: tuple[Severity | None, ...] = (None, "info", "warning", "critical")


def _at_least(usd: float, split: dict[str, Any]) -> str:
    """``$12.3M``, or ``≥ $12.3M`` when part of it comes from sampled feeds."""
    return f"≥ {fmt_usd(usd)}" if split["sampled_venues"] else fmt_usd(usd)


def _venue_name(venue: str) -> str:
    """A venue as written in a summary: ``Binance``, ``OKX``."""
    return venue.capitalize() if len(venue) > 3 else venue.upper()


def _sampled_note(split: dict[str, Any], of: str = "") -> str:
    """The sentence that says which figures are lower bounds (empty when none are); ``of`` names the total."""
    names = [_venue_name(v) for v in split["sampled_venues"]]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f" ({of}{fmt_usd(split['complete_usd'])} from complete feeds; {listed} figures are sampled lower bounds)"


class _EpisodeTotals:
    """What the resolved alert reports about the whole episode (the lead-in window included)."""

    __slots__ = (
        "count",
        "disconnected",
        "funding_turn",
        "min_oi_change",
        "peak_minute_usd",
        "peak_multiple",
        "price_start",
        "total_usd",
        "venues",
    )

    def __init__(  # noqa: PLR0917 - one value per field, as snapshot() gives them
        self,
        total_usd: float,
        count: int,
        venues: dict[str, float],
        peak_minute_usd: float,
        peak_multiple: float,
        price_start: float | None,
        min_oi_change: float | None,
        funding_turn: bool,
        disconnected: set[str],
    ) -> None:
        self.total_usd = total_usd
        self.count = count
        self.venues = venues
        self.peak_minute_usd = peak_minute_usd
        self.peak_multiple = peak_multiple
        self.price_start = price_start
        # Regime evidence gathered over the whole episode.
        self.min_oi_change = min_oi_change
        self.funding_turn = funding_turn
        # Venues that disconnected during the episode or its lead-in: their part is missing.
        self.disconnected = disconnected

    @classmethod
    def opened(
        cls, window: RollingSum, venues: dict[str, RollingSum], minute: float, price: float | None
    ) -> _EpisodeTotals:
        """The totals of an episode that starts now: the lead-in window's, with no evidence yet."""
        by_venue = {v: w.total for v, w in venues.items() if w.count}
        return cls(window.total, window.count, by_venue, minute, 0.0, price, None, False, set())

    def snapshot(self) -> dict[str, Any]:
        """The totals as plain JSON-ready values."""
        return {
            "total_usd": self.total_usd,
            "count": self.count,
            "venues": self.venues,
            "peak_minute_usd": self.peak_minute_usd,
            "peak_multiple": self.peak_multiple,
            "price_start": self.price_start,
            "min_oi_change": self.min_oi_change,
            "funding_turn": self.funding_turn,
            "disconnected": sorted(self.disconnected),
        }

    @classmethod
    def restored(cls, state: dict[str, Any]) -> _EpisodeTotals:
        """Totals from the state of :meth:`snapshot`."""
        return cls(
            float(state["total_usd"]),
            int(state["count"]),
            {str(v): float(usd) for v, usd in state["venues"].items()},
            float(state["peak_minute_usd"]),
            float(state["peak_multiple"]),
            opt_float(state["price_start"]),
            opt_float(state["min_oi_change"]),
            bool(state["funding_turn"]),
            {str(v) for v in state["disconnected"]},
        )


class CascadeSide:
    """The cascade state machine of one asset and one liquidated position side."""

    def __init__(self, ctx: AssetContext, direction: Literal["long", "short"], settings: CascadeSettings) -> None:
        self.ctx = ctx
        self.direction = direction
        self.cfg = settings
        self.window_ms = int(settings.window_s * 1000)
        bucket_ms = int(settings.bucket_s * 1000)
        # Each window also sums its liquidations capped at single_share × its floor: the floor tests.
        self.window = RollingSum(self.window_ms, bucket_ms, cap=settings.single_share * settings.floor_usd)
        self.fast_ms = int(settings.fast_window_s * 1000)
        fast_bucket_ms = max(1, min(bucket_ms, self.fast_ms // 12))
        self.fast = RollingSum(self.fast_ms, fast_bucket_ms, cap=settings.single_share * settings.fast_floor_usd)
        self.minute = RollingSum(_MINUTE_MS, 5_000)
        self.venues: dict[str, RollingSum] = {}
        # Venues whose liquidation feed is sampled (their sums are lower bounds), as the events say.
        self.sampled_venues: set[str] = set()
        self.episode = Episode(
            KIND, ctx.base, None, direction, int(settings.hold_s * 1000), int(settings.cooldown_s * 1000)
        )
        self.alpha = 1.0 - 0.5 ** (1.0 / settings.baseline_half_life_min)
        self.baseline_pm = 0.0
        self._minute_start: int | None = None
        self._minute_end = 0  # _roll has nothing to do before then
        self._minute_sum = 0.0
        # The wave: from the first firing until wave_gap_s after the last resolution.
        self.wave_started_ms: int | None = None
        self.wave_usd = 0.0
        self._wave_until: float = _NEVER
        self._wave_gap_ms = int(settings.wave_gap_s * 1000)
        self._totals: _EpisodeTotals | None = None
        # While idle below the entry condition, evaluating before this time changes nothing.
        self._quiet_until: float = 0.0
        # The latest disconnect (gap marker) per venue, for the episode report.
        self._gaps: dict[str, int] = {}

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        """The side's state (windows, baseline, wave, episode) as plain JSON-ready values."""
        return {
            "window": self.window.snapshot(),
            "fast": self.fast.snapshot(),
            "minute": self.minute.snapshot(),
            "venues": {venue: window.snapshot() for venue, window in self.venues.items()},
            "sampled_venues": sorted(self.sampled_venues),
            "episode": self.episode.snapshot(),
            "baseline_pm": self.baseline_pm,
            "minute_start": self._minute_start,
            "minute_end": self._minute_end,
            "minute_sum": self._minute_sum,
            "wave_started_ms": self.wave_started_ms,
            "wave_usd": self.wave_usd,
            "wave_until": never_out(self._wave_until),
            "totals": None if self._totals is None else self._totals.snapshot(),
            "quiet_until": never_out(self._quiet_until),
            "gaps": self._gaps,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` (of a side configured alike)."""
        self.window.restore(state["window"])
        self.fast.restore(state["fast"])
        self.minute.restore(state["minute"])
        self.venues = {}
        for venue, window_state in state["venues"].items():
            window = self.venues[str(venue)] = RollingSum(self.window_ms, self.window.bucket_ms)
            window.restore(window_state)
        self.sampled_venues = {str(v) for v in state["sampled_venues"]}
        self.episode.restore(state["episode"])
        self.baseline_pm = float(state["baseline_pm"])
        self._minute_start = opt_int(state["minute_start"])
        self._minute_end = int(state["minute_end"])
        self._minute_sum = float(state["minute_sum"])
        self.wave_started_ms = opt_int(state["wave_started_ms"])
        self.wave_usd = float(state["wave_usd"])
        self._wave_until = never_in(state["wave_until"])
        totals = state["totals"]
        self._totals = None if totals is None else _EpisodeTotals.restored(totals)
        self._quiet_until = never_in(state["quiet_until"])
        self._gaps = {str(v): int(ts) for v, ts in state["gaps"].items()}

    # ------------------------------------------------------------------ input

    def add(self, liq: Liquidation, ts_ms: int, now_ms: int) -> list[Alert]:
        """Account one liquidation at ``ts_ms`` (clock ``now_ms``) and evaluate."""
        self._roll(now_ms)
        usd = liq.notional_usd or 0.0
        if not self.window.add(ts_ms, usd):
            return []
        self.fast.add(ts_ms, usd)
        self._minute_sum += usd
        self.minute.add(ts_ms, usd)
        venue = self.venues.get(liq.venue)
        if venue is None:
            venue = self.venues[liq.venue] = RollingSum(self.window_ms, self.window.bucket_ms)
        venue.add(ts_ms, usd)
        venue.expire(now_ms)  # else a venue's buckets pile up for as long as it liquidates between episodes
        if self.in_wave(now_ms):
            self.wave_usd += usd
        if liq.sampled and liq.venue not in self.sampled_venues:
            self.sampled_venues.add(liq.venue)
        totals = self._totals
        if totals is not None:
            totals.total_usd += usd
            totals.count += 1
            totals.venues[liq.venue] = totals.venues.get(liq.venue, 0.0) + usd
        self._quiet_until = 0.0
        return self.evaluate(now_ms)

    def mark_gap(self, venue: str, ts_ms: int) -> None:
        """A disconnect of ``venue``: the liquidations it had in the meantime are missing from the sums."""
        self._gaps[venue] = ts_ms
        if self._totals is not None:
            self._totals.disconnected.add(venue)

    def in_wave(self, now_ms: int) -> bool:
        """True during a wave (and ends one whose gap has passed)."""
        if self.wave_started_ms is None:
            return False
        if self.episode.firing or now_ms < self._wave_until:
            return True
        self.wave_started_ms = None
        self.wave_usd = 0.0
        return False

    def _roll(self, now_ms: int) -> None:
        """Close finished minutes into the baseline (frozen during a wave); O(1) for any gap."""
        minute = now_ms - now_ms % _MINUTE_MS
        if self._minute_start is None:
            self._minute_start = minute
            self._minute_end = minute + _MINUTE_MS
            return
        if minute <= self._minute_start:
            return
        if not self.in_wave(now_ms):
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
        """(effective floor, window baseline); the baseline learns nothing during a wave."""
        cfg = self.cfg
        warmed = self.warmed_up(now_ms)
        floor = cfg.floor_usd * (1.0 if warmed else cfg.warmup_floor_factor)
        learned = self.baseline_pm * cfg.window_s / 60.0 if warmed else 0.0
        return floor, max(learned, floor / cfg.info_multiple)

    # ------------------------------------------------------------------ decision

    def _levels(self, now_ms: int, floor: float, reference: float) -> tuple[Severity | None, str, bool]:
        """The entry level (None = entry condition not met), what set it, and whether it is urgent.

        Entry: the main window meets the floor (each liquidation capped), ``min_count`` and
        ``info_multiple`` × baseline, or the fast window meets its own floor, count and multiple.
        The level is the highest of the baseline multiple, the absolute window ladders and,
        once entered, the wave's cumulative notional. Urgent (a new episode may start within the
        cooldown): the fast path's entry holds, or the windows alone reach ``warning``.
        """
        cfg = self.cfg
        window, fast = self.window, self.fast
        notional = window.total
        rank = 0  # 0 = entry not met, then info, warning, critical (integers: this runs per liquidation)
        reason = ""
        urgent = False
        if window.count >= cfg.min_count and window.capped >= floor:
            multiple = notional / reference
            if multiple >= cfg.info_multiple:
                rank = 3 if multiple >= cfg.critical_multiple else 2 if multiple >= cfg.warning_multiple else 1
                reason = "multiple"
            ladder = 3 if notional >= cfg.critical_usd else 2 if notional >= cfg.warning_usd else 0
            if ladder > rank:
                rank, reason = ladder, "window_usd"
        fast_total = fast.total
        if (
            fast.count >= cfg.fast_min_count
            and fast.capped >= floor / cfg.floor_usd * cfg.fast_floor_usd  # raised during the warm-up alike
            and fast_total >= cfg.info_multiple * reference * cfg.fast_window_s / cfg.window_s
        ):
            urgent = True
            level = 3 if fast_total >= cfg.fast_critical_usd else 2 if fast_total >= cfg.fast_warning_usd else 1
            if level > rank:
                rank, reason = level, "fast_usd"
        urgent = urgent or rank >= 2
        if rank and self.in_wave(now_ms):
            wave = self.wave_usd
            level = 3 if wave >= cfg.wave_critical_usd else 2 if wave >= cfg.wave_warning_usd else 0
            if level > rank:
                rank, reason = level, "wave_usd"
        return _LEVELS[rank], reason, urgent

    @property
    def quiet_until(self) -> float:
        """Before this event time :meth:`evaluate` changes nothing and returns no alert (0: evaluate every tick)."""
        return self._quiet_until

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Decide at ``now_ms``: maybe fire, escalate or resolve."""
        if now_ms < self._quiet_until:
            return []
        self._quiet_until = 0.0
        if now_ms >= self._minute_end:
            self._roll(now_ms)
        window = self.window
        window.expire(now_ms)
        self.fast.expire(now_ms)
        self.minute.expire(now_ms)
        cfg = self.cfg
        # Idle below every entry condition: no level, so the episode cannot move (and no totals exist).
        # Until a liquidation arrives, a minute closes or a bucket expires, evaluating again would
        # change nothing either (the floor can still drop once, at the end of the warm-up).
        idle = self.episode.started_ms is None
        if idle and window.count < min(cfg.min_count, cfg.fast_min_count):
            self._quiet_until = self._next_change_ms()
            return []
        floor, reference = self.thresholds(now_ms)
        if idle and self.window.capped < floor and self.fast.capped < floor / cfg.floor_usd * cfg.fast_floor_usd:
            if self.warmed_up(now_ms):
                self._quiet_until = self._next_change_ms()
            return []
        notional = window.total
        multiple = notional / reference
        level, reason, urgent = self._levels(now_ms, floor, reference)
        exiting = (
            notional < cfg.exit_ratio * reference * cfg.info_multiple
            and self.fast.total < cfg.exit_ratio * cfg.fast_floor_usd
        )
        totals = self._totals
        if totals is not None:
            totals.peak_minute_usd = max(totals.peak_minute_usd, self.minute.total)
            totals.peak_multiple = max(totals.peak_multiple, multiple)
            change = self.ctx.oi_change_pct
            if change is not None and (totals.min_oi_change is None or change < totals.min_oi_change):
                totals.min_oi_change = change
            totals.funding_turn = totals.funding_turn or self.ctx.funding_turn(self.direction, now_ms)
        transition = self.episode.step(now_ms, level, exiting, urgent=urgent)
        if transition is None:
            return []
        return [self._alert(transition, now_ms, floor, reference, multiple, reason=reason)]

    def _next_change_ms(self) -> float:
        """When the next minute closes or the next window bucket expires."""
        return min(
            self._minute_end,
            self.window.next_expiry_ms(),
            self.fast.next_expiry_ms(),
            self.minute.next_expiry_ms(),
        )

    def _alert(
        self, transition: Transition, now_ms: int, floor: float, reference: float, multiple: float, *, reason: str
    ) -> Alert:
        if transition == "fire":
            if not self.in_wave(now_ms):
                self.wave_started_ms = now_ms - self.window_ms
                self.wave_usd = self.window.total
            self._wave_until = _NEVER
            for window in self.venues.values():  # quiet venues' windows expire lazily: bring them to now
                window.expire(now_ms)
            start_price = self._price_at_window_start(now_ms)
            self._totals = _EpisodeTotals.opened(self.window, self.venues, self.minute.total, start_price)
            self._totals.peak_multiple = multiple
            lead_in = now_ms - self.window_ms
            self._totals.disconnected.update(v for v, at in self._gaps.items() if at >= lead_in)
        if transition == "resolve":
            values, summary = self._resolved_values(now_ms)
            self._totals = None
            self._wave_until = float(now_ms + self._wave_gap_ms)
        else:
            values, summary = self._firing_values(
                now_ms, floor, reference, multiple, transition=transition, reason=reason
            )
        return self.episode.alert(transition, now_ms, summary, values)

    def _price_at_window_start(self, now_ms: int) -> float | None:
        return self.ctx.prices.at(now_ms - self.window_ms)

    def _label(self) -> str:
        return "long liquidation cascade" if self.direction == "long" else "short squeeze (short liquidations)"

    def _split(self, venues: dict[str, float]) -> dict[str, Any]:
        """Complete and sampled parts of a venue breakdown, and the venues whose figures are lower bounds."""
        sampled = sorted(v for v in venues if v in self.sampled_venues)
        sampled_usd = sum(venues[v] for v in sampled)
        return {
            "complete_usd": round(sum(venues.values()) - sampled_usd, 2),
            "sampled_usd": round(sampled_usd, 2),
            "sampled_venues": sampled,
        }

    def _firing_values(
        self, now_ms: int, floor: float, reference: float, multiple: float, *, transition: Transition, reason: str
    ) -> tuple[dict[str, Any], str]:
        ctx = self.ctx
        since = now_ms - self.window_ms
        regime = ctx.regime(self.direction, now_ms, since)
        for window in self.venues.values():
            window.expire(now_ms)
        venues = {v: round(w.total, 2) for v, w in sorted(self.venues.items()) if w.count}
        price_move = ctx.price_move_pct(since)
        split = self._split(venues)
        values: dict[str, Any] = {
            "window_usd": round(self.window.total, 2),
            "window_count": self.window.count,
            "window_s": self.cfg.window_s,
            "fast_usd": round(self.fast.total, 2),
            "fast_count": self.fast.count,
            "fast_window_s": self.cfg.fast_window_s,
            "multiple": round(multiple, 2),
            "baseline_usd": round(reference, 2),
            "floor_usd": floor,
            "severity_reason": reason,
            "wave_usd": round(self.wave_usd, 2),
            "wave_started_ms": self.wave_started_ms,
            "warming_up": not self.warmed_up(now_ms),
            "minute_usd": round(self.minute.total, 2),
            "venues": venues,
            **split,
            "price": ctx.prices.last,
            "price_move_pct": None if price_move is None else round(price_move, 3),
            "oi_change_pct": None if ctx.oi_change_pct is None else round(ctx.oi_change_pct, 3),
            "funding_rate_8h": ctx.funding_now,
            "regime": regime.label,
            "regime_note": regime.note,
        }
        verb = "" if transition == "fire" else f" escalated to {self.episode.severity}"
        if reason == "fast_usd":
            amount = (
                f"{_at_least(self.fast.total, split)} liquidated in {self.cfg.fast_window_s:g} s "
                f"({fmt_usd(self.window.total)} in {self.cfg.window_s / 60:g} min"
            )
        else:
            amount = f"{_at_least(self.window.total, split)} liquidated in {self.cfg.window_s / 60:g} min ("
        # The split is of the main window: say so when the lead figure is the fast window's.
        of_window = f"of the {self.cfg.window_s / 60:g} min: " if reason == "fast_usd" else ""
        if reason == "wave_usd" or self.wave_usd > self.window.total * 1.5:
            wave = f"; {fmt_usd(self.wave_usd)} in the wave so far"
        else:
            wave = ""
        summary = (
            f"{ctx.base} {self._label()}{verb}: {amount}{', ' if reason == 'fast_usd' else ''}"
            f"{multiple:.1f}× baseline, {self.window.count} liquidations, "
            f"{len(venues)} venue{'s' if len(venues) != 1 else ''}){wave}; price {fmt_pct(price_move)}; "
            f"{regime.note}{_sampled_note(split, of_window)}"
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
        split = self._split(totals.venues)
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
            **split,
            "wave_usd": round(self.wave_usd, 2),
            "wave_started_ms": self.wave_started_ms,
            "price_start": totals.price_start,
            "price_end": end,
            "price_change_pct": None if change is None else round(change, 3),
            "regime": regime.label,
            "regime_note": regime.note,
            "disconnected_venues": sorted(totals.disconnected),
        }
        missing = ""
        if totals.disconnected:
            names = ", ".join(_venue_name(v) for v in sorted(totals.disconnected))
            its = "its" if len(totals.disconnected) == 1 else "their"
            missing = f"; {names} disconnected for part of the episode ({its} liquidations then are missing)"
        prices = ""
        if totals.price_start and end:
            prices = f", price {totals.price_start:,.6g} → {end:,.6g} ({fmt_pct(change)})"
        summary = (
            f"{ctx.base} {self._label()} resolved after {duration / 60:.0f} min (peak {self.episode.peak}): "
            f"{_at_least(totals.total_usd, split)} in {totals.count} liquidations, "
            f"peak {fmt_usd(totals.peak_minute_usd)}/min{prices}{_sampled_note(split)}{missing}"
        )
        return values, summary

    def window_usd(self, now_ms: int) -> float:
        """Liquidated USD in the window at ``now_ms`` (for the gauge)."""
        self.window.expire(now_ms)
        return self.window.total
