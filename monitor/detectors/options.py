"""Options positioning detectors over ``options_summary``: ``skew_extreme`` and ``iv_term_inversion``.

The asset's reading is the mean over venues whose latest summary is fresher
than ``stale_s`` and carries the tenor (today Deribit alone). ``skew_extreme``
watches RR25 at one tenor, both signs (``negative``: puts dearer, a crash
hedge bid; ``positive``: calls dearer, a squeeze); ``iv_term_inversion``
watches front ATM IV minus back ATM IV (``positive``: the front is above).
A reading must stay beyond its level for ``confirm_s`` before an episode
fires; it then escalates as soon as the reading deepens past a higher level
(each announced once, like every episode), and resolves once the reading has stayed
below ``exit_ratio`` of the entry level (or been unknown) for ``hold_s``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from monitor.alert import Alert, Direction, Severity
from monitor.detectors.config import OptionsSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode, Transition, severity_for
from monitor.events import OptionsSummary

SKEW: Final = "skew_extreme"
TERM: Final = "iv_term_inversion"
_PTS: Final = 100.0  # fraction → vol points
_NEVER: Final = float("inf")


class _Watch:
    """One episode with its entry confirmation and the most extreme reading of the current episode."""

    __slots__ = ("beyond_since_ms", "episode", "extreme", "settled")

    def __init__(self, episode: Episode) -> None:
        self.episode = episode
        self.beyond_since_ms: int | None = None
        self.extreme = 0.0
        # True when stepping again with the same depth would change nothing at any later time: idle with
        # no confirmation running, or firing and not exiting (escalations happen at once).
        self.settled = False

    def snapshot(self) -> list[Any]:
        """Confirmation start, extreme reading and the episode's state."""
        return [self.beyond_since_ms, self.extreme, self.episode.snapshot()]

    def restore(self, state: list[Any]) -> None:
        """Take the state of :meth:`snapshot`."""
        beyond, extreme, episode = state
        self.beyond_since_ms = None if beyond is None else int(beyond)
        self.extreme = float(extreme)
        self.episode.restore(episode)

    def step(
        self, now_ms: int, depth: float | None, levels: tuple[float, float, float], cfg: OptionsSettings
    ) -> Transition | None:
        """Advance with ``depth`` (the reading signed so that beyond the level is positive; None: unknown)."""
        level: Severity | None = None if depth is None else severity_for(depth, *levels)
        if not self.episode.firing:
            if level is None:
                self.beyond_since_ms = None
                self.settled = True
                return None  # an idle episode stays idle without an entry level
            if self.beyond_since_ms is None:
                self.beyond_since_ms = now_ms
            if now_ms - self.beyond_since_ms < int(cfg.confirm_s * 1000):
                level = None
        exiting = depth is None or depth < levels[0] * cfg.exit_ratio
        transition = self.episode.step(now_ms, level, exiting)
        if transition == "fire":
            self.beyond_since_ms = None
            self.extreme = depth if depth is not None else 0.0
        elif depth is not None and self.episode.firing:
            self.extreme = max(self.extreme, depth)
        # A resolution (the caller resets the episode) or a confirmation still running depends on time.
        self.settled = transition != "resolve" and self.episode.firing and not exiting
        return transition


class OptionsAsset:
    """Options state of one asset: the latest summary per venue and the skew and term episodes."""

    def __init__(self, ctx: AssetContext, settings: OptionsSettings) -> None:
        self.ctx = ctx
        self.cfg = settings
        self.latest: dict[str, tuple[int, OptionsSummary]] = {}
        hold, cool = int(settings.hold_s * 1000), int(settings.cooldown_s * 1000)
        base = ctx.base
        self.skew: dict[Direction, _Watch] = {
            "negative": _Watch(Episode(SKEW, base, None, "negative", hold, cool)),
            "positive": _Watch(Episode(SKEW, base, None, "positive", hold, cool)),
        }
        self.term = _Watch(Episode(TERM, base, None, "positive", hold, cool))
        self._stale_ms = int(settings.stale_s * 1000)
        # Until then, with no summary taken or dropped meanwhile, an evaluation would read what the last
        # one read with every watch idle: it changes nothing (0 while that is not so).
        self._quiet_until: float = 0.0
        # The readings the episodes step with (skew RR25, front and back ATM IV), valid from the first to
        # before the second time: they change only when a summary is taken, dropped or goes stale.
        self._readings: tuple[float | None, float | None, float | None] = (None, None, None)
        self._readings_valid: tuple[float, float] = (0, 0)

    def snapshot(self) -> dict[str, Any]:
        """The latest summary per venue and the watches, as plain JSON-ready values."""
        return {
            "latest": [[venue, ts_ms, msgspec.to_builtins(event)] for venue, (ts_ms, event) in self.latest.items()],
            "skew": {direction: watch.snapshot() for direction, watch in self.skew.items()},
            "term": self.term.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` (an invalid summary raises ``msgspec.ValidationError``)."""
        self.latest = {
            str(venue): (int(ts_ms), msgspec.convert(event, OptionsSummary)) for venue, ts_ms, event in state["latest"]
        }
        for direction, watch in self.skew.items():
            watch.restore(state["skew"][direction])
        self.term.restore(state["term"])

    def add(self, event: OptionsSummary, ts_ms: int, now_ms: int) -> list[Alert]:
        """Take one summary (an older one than the venue's latest is ignored) and evaluate."""
        held = self.latest.get(event.venue)
        if held is not None and ts_ms < held[0]:
            return []
        self.latest[event.venue] = (ts_ms, event)
        self._quiet_until = 0.0
        self._readings_valid = (0, 0)
        return self.evaluate(now_ms)

    def mark_gap(self, venue: str) -> None:
        """A disconnect: the venue's summary no longer counts until it sends a new one."""
        self.latest.pop(venue, None)
        self._quiet_until = 0.0
        self._readings_valid = (0, 0)

    def fresh(self, now_ms: int) -> list[OptionsSummary]:
        """The latest summary of each venue that is not stale at ``now_ms``."""
        return [summary for ts, summary in self.latest.values() if now_ms - ts <= self._stale_ms]

    def reading(self, now_ms: int, tenor_days: int, field: str) -> float | None:
        """Mean of ``field`` (``atm_iv``, ``rr25``, ``bf25``) at the tenor over fresh venues, in vol points."""
        key = str(tenor_days)
        values = [getattr(s.tenors[key], field) for s in self.fresh(now_ms) if key in s.tenors]
        return _PTS * sum(values) / len(values) if values else None

    def _watched(self, now_ms: int) -> tuple[float | None, float | None, float | None]:
        """The readings the episodes step with at ``now_ms``: RR25 at the skew tenor, front and back ATM IV.

        Kept until a summary is taken or dropped or the first fresh one goes stale: an evaluation every
        tick of a firing episode then reads them once per change, not once per tick.
        """
        since, until = self._readings_valid
        if since <= now_ms < until:
            return self._readings
        cfg = self.cfg
        self._readings = (
            self.reading(now_ms, cfg.skew_tenor_days, "rr25"),
            self.reading(now_ms, cfg.term_front_days, "atm_iv"),
            self.reading(now_ms, cfg.term_back_days, "atm_iv"),
        )
        stale = self._stale_ms
        fresh = [ts for ts, _ in self.latest.values() if now_ms - ts <= stale]
        self._readings_valid = (now_ms, min(fresh) + stale + 1 if fresh else _NEVER)
        return self._readings

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Step the skew and term episodes with the current readings."""
        if now_ms < self._quiet_until:
            return []
        cfg = self.cfg
        alerts: list[Alert] = []
        rr, front, back = self._watched(now_ms)
        skew_levels = (cfg.skew_vol_pts, cfg.skew_warning_vol_pts, cfg.skew_critical_vol_pts)
        for direction, watch in self.skew.items():
            depth = None if rr is None else (-rr if direction == "negative" else rr)
            transition = watch.step(now_ms, depth, skew_levels, cfg)
            if transition is not None:
                alerts.append(self._skew_alert(watch, transition, now_ms, rr))
        spread = None if front is None or back is None else front - back
        term_levels = (cfg.term_margin_vol_pts, cfg.term_warning_vol_pts, cfg.term_critical_vol_pts)
        transition = self.term.step(now_ms, spread, term_levels, cfg)
        if transition is not None:
            alerts.append(self._term_alert(transition, now_ms, front, back, spread))
        watches = (*self.skew.values(), self.term)
        if all(w.settled for w in watches):
            # The readings change only when a summary goes stale (or is taken or dropped).
            self._quiet_until = self._readings_valid[1]
        else:
            self._quiet_until = 0.0
        return alerts

    def _context(self, now_ms: int) -> dict[str, Any]:
        """Every tenor's ATM IV and RR25 (vol points), the skew tenor's RR25 per venue, DVOL, the put/call OI
        ratio and the top put strike."""
        values: dict[str, Any] = {}
        for days in (7, 30, 90):
            for field in ("atm_iv", "rr25"):
                reading = self.reading(now_ms, days, field)
                if reading is not None:
                    values[f"{field}_{days}d_vol_pts"] = round(reading, 2)
        fresh = self.fresh(now_ms)
        values["venues"] = len(fresh)
        skew = str(self.cfg.skew_tenor_days)
        values["rr25_by_venue_vol_pts"] = {
            s.venue: round(s.tenors[skew].rr25 * _PTS, 2)
            for s in sorted(fresh, key=lambda s: s.venue)
            if skew in s.tenors
        }
        dvols = [s.dvol for s in fresh if s.dvol is not None]
        if dvols:
            values["dvol"] = round(sum(dvols) / len(dvols), 2)
        ratios = [s.put_call_oi_ratio for s in fresh if s.put_call_oi_ratio is not None]
        if ratios:
            values["put_call_oi_ratio"] = round(sum(ratios) / len(ratios), 3)
        tops = [s.put_oi_top[0] for s in fresh if s.put_oi_top]
        if tops:
            strike, oi = max(tops, key=lambda row: row[1])
            values["top_put_strike"] = strike
            values["top_put_oi_base"] = oi
        return values

    def _skew_alert(self, watch: _Watch, transition: Transition, now_ms: int, rr: float | None) -> Alert:
        cfg, episode = self.cfg, watch.episode
        tenor = cfg.skew_tenor_days
        sign = -1.0 if episode.direction == "negative" else 1.0
        values = {
            "tenor_days": tenor,
            "rr25_vol_pts": None if rr is None else round(rr, 2),
            "level_vol_pts": sign * cfg.skew_vol_pts,
            "extreme_rr25_vol_pts": round(sign * watch.extreme, 2),
            **self._context(now_ms),
        }
        side = "puts over calls" if episode.direction == "negative" else "calls over puts"
        now = "unknown" if rr is None else f"{rr:+.1f}"
        if transition == "resolve":
            summary = f"{self.ctx.base} {tenor}d 25Δ skew back within ±{cfg.skew_vol_pts:g} vol points: now {now}"
        else:
            verb = "extreme" if transition == "fire" else f"extreme, escalated to {episode.severity}"
            summary = (
                f"{self.ctx.base} {tenor}d 25Δ risk reversal {verb}: {now} vol points ({side}), "
                f"beyond ±{cfg.skew_vol_pts:g}"
            )
        return episode.alert(transition, now_ms, summary, values)

    def _term_alert(
        self, transition: Transition, now_ms: int, front: float | None, back: float | None, spread: float | None
    ) -> Alert:
        cfg, episode = self.cfg, self.term.episode
        values = {
            "front_days": cfg.term_front_days,
            "back_days": cfg.term_back_days,
            "front_atm_iv_vol_pts": None if front is None else round(front, 2),
            "back_atm_iv_vol_pts": None if back is None else round(back, 2),
            "spread_vol_pts": None if spread is None else round(spread, 2),
            "margin_vol_pts": cfg.term_margin_vol_pts,
            "extreme_spread_vol_pts": round(self.term.extreme, 2),
            **self._context(now_ms),
        }
        tenors = f"{cfg.term_front_days}d over {cfg.term_back_days}d"
        if transition == "resolve":
            now = "unknown" if spread is None else f"{spread:+.1f}"
            summary = f"{self.ctx.base} IV term structure no longer inverted ({tenors} now {now} vol points)"
        else:
            verb = "inverted" if transition == "fire" else f"inverted, escalated to {episode.severity}"
            summary = (
                f"{self.ctx.base} IV term structure {verb}: {cfg.term_front_days}d ATM {front:.1f} "
                f"above {cfg.term_back_days}d ATM {back:.1f} by {spread:.1f} vol points"
            )
        return episode.alert(transition, now_ms, summary, values)

    def episodes(self) -> list[Episode]:
        """The three episode state machines."""
        return [self.skew["negative"].episode, self.skew["positive"].episode, self.term.episode]

    def states(self) -> list[tuple[str, str, int]]:
        """(kind, direction, gauge value) for the asset-wide episodes."""
        return [(episode.kind, episode.direction, episode.state_value()) for episode in self.episodes()]
