"""Funding detector: sign flips (per asset, OI-weighted, and per venue) and extreme funding.

Rates are the venues' ``rate_8h`` (normalized to 8 hours). The asset rate is
the average over fresh (venue, symbol) sources weighted by their latest open
interest in USD; a source whose OI is unknown gets the mean known weight, and
with no weights at all every source counts equally. A flip needs the new sign
beyond a dead band around zero for ``confirm_s`` (a print back on the old side
cancels it; prints inside the band neither confirm nor cancel), so funding
hovering around zero does not flap. A flip episode resolves at the next flip or
after ``settle_s`` in the new sign. Extreme funding fires beyond an annualized
level and resolves below ``extreme_exit_ratio`` of it for ``hold_s``.
"""

from __future__ import annotations

from typing import Any, Literal

from monitor.alerts.model import Alert, Severity
from monitor.detectors.config import FundingSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode
from monitor.events import Funding

FLIP = "funding_flip"
EXTREME = "funding_extreme"
_ANNUAL = 3 * 365 * 100.0  # rate_8h fraction -> annualized percent
EVAL_INTERVAL_MS = 1_000


def fmt_rate(rate: float) -> str:
    """A rate per 8 h as a percentage with four decimals."""
    return f"{rate * 100:+.4f}% per 8 h"


class _Source:
    __slots__ = ("rate_8h", "symbol", "ts_ms", "usable", "venue")

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.rate_8h = 0.0
        self.ts_ms = 0
        self.usable = False


class FlipTracker:
    """Confirmed sign of one funding series and its flip episodes."""

    def __init__(self, base: str, venue: str | None, settings: FundingSettings) -> None:
        self.cfg = settings
        self.venue = venue
        self.sign = 0
        self._candidate = 0
        self._candidate_since = 0
        self._extreme = 0.0
        self.episodes = {
            "negative": Episode(FLIP, base, venue, "negative", 0, 0),
            "positive": Episode(FLIP, base, venue, "positive", 0, 0),
        }

    def observed(self, rate: float) -> int:
        """The sign of ``rate`` with the dead band: -1, 0 or 1."""
        band = self.cfg.dead_band_8h
        return 1 if rate > band else -1 if rate < -band else 0

    def update(self, now_ms: int, rate: float, describe: dict[str, Any], market_sign: int = 0) -> list[Alert]:
        """Feed the current rate; returns the resolved/firing alerts of a confirmed flip or a settle.

        A venue flip to the side the whole market is on (``market_sign``) is tracked but
        not announced: the asset-wide flip already says it.
        """
        observed = self.observed(rate)
        alerts: list[Alert] = []
        for direction, episode in self.episodes.items():
            if episode.firing:
                self._extreme = min(self._extreme, rate) if direction == "negative" else max(self._extreme, rate)
                started = episode.started_ms or now_ms
                if now_ms - started >= self.cfg.settle_s * 1000:
                    resolved = self._resolve(episode, now_ms, rate, "settled")
                    if not episode.silent:
                        alerts.append(resolved)
        if observed == 0:
            return alerts
        if observed == self.sign:
            self._candidate = 0
            return alerts
        if observed != self._candidate:
            self._candidate = observed
            self._candidate_since = now_ms
        if now_ms - self._candidate_since < self.cfg.confirm_s * 1000:
            return alerts
        previous, self.sign, self._candidate = self.sign, observed, 0
        if previous == 0:
            return alerts  # the first established sign is no flip
        new: Literal["negative", "positive"] = "negative" if observed < 0 else "positive"
        old = self.episodes["positive" if new == "negative" else "negative"]
        if old.firing:
            resolved = self._resolve(old, now_ms, rate, "flipped")
            if not old.silent:
                alerts.append(resolved)
        episode = self.episodes[new]
        severity: Severity = "info" if self.venue is not None or new == "positive" else "warning"
        if episode.step(now_ms, severity, False) == "fire":
            self._extreme = rate
            episode.silent = self.venue is not None and market_sign == observed
            if episode.silent:
                return alerts
            where = "" if self.venue is None else f" on {self.venue}"
            summary = (
                f"{episode.base} funding{where} flipped {new}: {fmt_rate(rate)} "
                f"({rate * _ANNUAL:+.1f}% annualized), held {self.cfg.confirm_s / 60:g} min"
            )
            values = {
                "rate_8h": rate,
                "annualized_pct": round(rate * _ANNUAL, 3),
                "confirm_s": self.cfg.confirm_s,
                "dead_band_8h": self.cfg.dead_band_8h,
                **describe,
            }
            alerts.append(episode.alert("fire", now_ms, summary, values))
        return alerts

    def _resolve(self, episode: Episode, now_ms: int, rate: float, reason: str) -> Alert:
        episode.step(now_ms, None, True)  # hold 0: resolves at once
        started = episode.started_ms or now_ms
        duration = (now_ms - started) / 1000.0
        where = "" if self.venue is None else f" on {self.venue}"
        what = "flipped back" if reason == "flipped" else f"stayed {episode.direction}"
        summary = (
            f"{episode.base} funding{where} {episode.direction} flip resolved ({what}) after "
            f"{duration / 3600:.1f} h: now {fmt_rate(rate)}"
        )
        values = {"duration_s": duration, "reason": reason, "rate_8h": rate, "extreme_rate_8h": self._extreme}
        return episode.alert("resolve", now_ms, summary, values)

    def state(self) -> tuple[str, int] | None:
        """(direction, gauge value) of the firing flip episode, if any."""
        for direction, episode in self.episodes.items():
            if episode.firing:
                return direction, episode.state_value()
        return None


class FundingAsset:
    """Funding state of one asset: sources, the weighted rate, flip trackers and extreme episodes."""

    def __init__(self, ctx: AssetContext, settings: FundingSettings) -> None:
        self.ctx = ctx
        self.cfg = settings
        self.sources: dict[tuple[str, str], _Source] = {}
        self.flip = FlipTracker(ctx.base, None, settings)
        self.venue_flips: dict[str, FlipTracker] = {}
        hold, cool = int(settings.hold_s * 1000), int(settings.cooldown_s * 1000)
        self.extremes = {
            "positive": Episode(EXTREME, ctx.base, None, "positive", hold, cool),
            "negative": Episode(EXTREME, ctx.base, None, "negative", hold, cool),
        }
        self.rate: float | None = None
        self.weighting = "equal"
        self._next_eval_ms = 0

    def add(self, event: Funding, ts_ms: int, now_ms: int) -> list[Alert]:
        """Take one funding print and evaluate the asset and the print's venue."""
        key = (event.venue, event.symbol)
        source = self.sources.get(key)
        if source is None:
            source = self.sources[key] = _Source(event.venue, event.symbol)
        if ts_ms < source.ts_ms:
            return []  # an older print than the one we hold
        source.rate_8h, source.ts_ms, source.usable = event.rate_8h, ts_ms, True
        if event.mark_price is not None:
            self.ctx.prices.add(ts_ms, event.mark_price)
        if now_ms < self._next_eval_ms:
            return []  # venues print up to 10 times a second; deciding once a second is plenty
        return self.evaluate(now_ms)

    def mark_gap(self, venue: str) -> None:
        """A disconnect: leave the venue out until it prints again."""
        for source in self.sources.values():
            if source.venue == venue:
                source.usable = False

    def _weighted(self, now_ms: int, venue: str | None) -> tuple[float | None, str, dict[str, float]]:
        stale = now_ms - int(self.cfg.stale_s * 1000)
        fresh = [
            s for s in self.sources.values() if s.usable and s.ts_ms >= stale and (venue is None or s.venue == venue)
        ]
        if not fresh:
            return None, "none", {}
        weights = [self.ctx.oi_usd.get((s.venue, s.symbol)) for s in fresh]
        known = [w for w in weights if w]
        mode = "oi" if len(known) == len(fresh) else "mixed" if known else "equal"
        fill = sum(known) / len(known) if known else 1.0
        ws = [w if w else fill for w in weights]
        total = sum(ws)
        rate = sum(w * s.rate_8h for w, s in zip(ws, fresh, strict=True)) / total
        by_venue: dict[str, float] = {}
        for w, s in zip(ws, fresh, strict=True):
            by_venue[s.venue] = by_venue.get(s.venue, 0.0) + w
        return rate, mode, by_venue

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Recompute the asset rate and evaluate it and every venue."""
        self._next_eval_ms = now_ms + EVAL_INTERVAL_MS
        rate, mode, weights = self._weighted(now_ms, None)
        self.rate, self.weighting = rate, mode
        self.ctx.note_funding(now_ms, rate)
        alerts: list[Alert] = []
        if rate is not None:
            total = sum(weights.values()) or 1.0
            describe: dict[str, Any] = {
                "weighting": mode,
                "venues": len(weights),
                "weights": {v: round(w / total, 4) for v, w in sorted(weights.items())},
            }
            alerts += self.flip.update(now_ms, rate, describe)
            alerts += self._extreme(now_ms, rate, mode, len(weights))
        market = 0 if rate is None else self.flip.observed(rate)
        if self.cfg.per_venue:
            for name in sorted({s.venue for s in self.sources.values()}):
                venue_rate, venue_mode, _ = self._weighted(now_ms, name)
                if venue_rate is None:
                    continue
                tracker = self.venue_flips.get(name)
                if tracker is None:
                    tracker = self.venue_flips[name] = FlipTracker(self.ctx.base, name, self.cfg)
                alerts += tracker.update(now_ms, venue_rate, {"weighting": venue_mode}, market)
        return alerts

    def _extreme(self, now_ms: int, rate: float, mode: str, venues: int) -> list[Alert]:
        level_pct = self.cfg.extreme_annual_pct
        annual = rate * _ANNUAL
        alerts: list[Alert] = []
        for direction, episode in self.extremes.items():
            signed = annual if direction == "positive" else -annual
            level: Severity | None = (
                "critical" if signed >= 2 * level_pct else "warning" if signed >= level_pct else None
            )
            transition = episode.step(now_ms, level, signed < level_pct * self.cfg.extreme_exit_ratio)
            if transition is None:
                continue
            values = {
                "rate_8h": rate,
                "annualized_pct": round(annual, 3),
                "level_annual_pct": level_pct,
                "weighting": mode,
                "venues": venues,
            }
            if transition == "resolve":
                summary = f"{self.ctx.base} extreme {direction} funding resolved: now {fmt_rate(rate)}"
            else:
                verb = "extreme" if transition == "fire" else f"extreme, escalated to {episode.severity}"
                summary = (
                    f"{self.ctx.base} funding {verb}: {fmt_rate(rate)} ({annual:+.1f}% annualized), "
                    f"beyond the ±{level_pct:g}% level"
                )
            alerts.append(episode.alert(transition, now_ms, summary, values))
        return alerts

    def states(self) -> list[tuple[str, str, int]]:
        """(kind, direction, gauge value) for the asset-wide episodes."""
        out = [(EXTREME, d, e.state_value()) for d, e in self.extremes.items()]
        firing = self.flip.state()
        for direction in ("negative", "positive"):
            value = firing[1] if firing is not None and firing[0] == direction else 0
            out.append((FLIP, direction, value))
        return out
