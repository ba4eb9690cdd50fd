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

The weights are kept up to date as prints and OI changes arrive: each venue
holds the sums over its fresh sources, recomputed over its few symbols when one
of them changes, and the asset's sums are the venues' added up, so a decision
costs O(venues) however often venues print. A source going stale (noticed when
the stale horizon passes the oldest counted print) makes every venue recount.

A venue that leaves (a disconnect, or no print for ``stale_s``) leaves the
average at once, but not the vote on a flip: for ``carry_s`` the asset-wide
flip also needs the rate with the venues that left still in at their last rate
and weight to show the new sign, so the market's sign never flips only because
a large venue's weight vanished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from monitor.alert import Alert, Severity
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


_NEVER = 1 << 62  # later than any event time


def band_sign(rate: float, band: float) -> int:
    """The sign of ``rate`` with a dead band of ``band`` around zero: -1, 0 or 1."""
    return 1 if rate > band else -1 if rate < -band else 0


class _Source:
    """The latest print of one (venue, symbol) and whether it counts (usable and fresh)."""

    __slots__ = ("counted", "rate_8h", "symbol", "ts_ms", "usable", "venue", "weight")

    def __init__(self, venue: str, symbol: str, weight: float) -> None:
        self.venue = venue
        self.symbol = symbol
        self.rate_8h = 0.0
        self.ts_ms = 0
        self.usable = False
        # Latest OI in USD of the same (venue, symbol); 0.0 while unknown.
        self.weight = weight
        self.counted = False


class WeightedSums:
    """The sums behind an OI-weighted rate over a set of counted sources.

    A source with a known weight ``w`` adds ``w`` and ``w × rate``; one without adds its
    rate to ``plain`` and counts with the mean known weight (``fill``), or 1 when no
    weight is known at all.
    """

    __slots__ = ("count", "known", "plain", "weight", "weighted")

    def __init__(self) -> None:
        self.count = 0
        self.known = 0
        self.weight = 0.0
        self.weighted = 0.0
        self.plain = 0.0

    def fill(self) -> float:
        """The weight of a source without a known one: the mean known weight, else 1."""
        return self.weight / self.known if self.known else 1.0

    def rate(self, fill: float) -> float:
        """The weighted rate with ``fill`` as the weight of sources without one (count must be > 0)."""
        return (self.weighted + fill * self.plain) / (self.weight + (self.count - self.known) * fill)

    def mode(self) -> str:
        """``oi`` (every weight known), ``mixed``, ``equal`` (none known) or ``none`` (no source)."""
        if not self.count:
            return "none"
        return "oi" if self.known == self.count else "mixed" if self.known else "equal"


class _Venue(WeightedSums):
    """One venue's sources and their sums, recomputed whenever one of them changes.

    A venue has a handful of symbols per asset, so recomputing is cheap, and nothing is
    ever subtracted: the sums carry no drift and no cancellation when a large source leaves.
    """

    __slots__ = ("band", "current", "sign", "sources")

    def __init__(self, band: float) -> None:
        super().__init__()
        self.sources: list[_Source] = []
        self.band = band
        # The venue's rate (0.0 without a counted source) and its sign beyond the dead band, fixed
        # whenever the sums change: a tick compares the sign with its flip tracker's last vote.
        self.current = 0.0
        self.sign = 0

    def describe(self) -> dict[str, Any]:
        """The extra values of a venue flip alert (asked for only when one fires)."""
        return {"weighting": self.mode()}

    def refresh(self) -> None:
        count = known = 0
        weight = weighted = plain = 0.0
        for source in self.sources:
            if source.counted:
                count += 1
                w = source.weight
                if w:
                    known += 1
                    weight += w
                    weighted += w * source.rate_8h
                else:
                    plain += source.rate_8h
        self.count, self.known, self.weight, self.weighted, self.plain = count, known, weight, weighted, plain
        self.note_rate()

    def note_rate(self) -> None:
        """Fix :attr:`current` and :attr:`sign` from the sums."""
        self.current = self.rate(self.fill()) if self.count else 0.0
        self.sign = band_sign(self.current, self.band)


class FlipTracker:
    """Confirmed sign of one funding series and its flip episodes."""

    def __init__(self, base: str, venue: str | None, settings: FundingSettings) -> None:
        self.cfg = settings
        self.venue = venue
        self._band = settings.dead_band_8h
        self._confirm_ms = settings.confirm_s * 1000
        self._settle_ms = settings.settle_s * 1000
        self.sign = 0
        self._candidate = 0
        self._candidate_since = 0
        self._extreme = 0.0
        self.episodes = {
            "negative": Episode(FLIP, base, venue, "negative", 0, 0),
            "positive": Episode(FLIP, base, venue, "positive", 0, 0),
        }
        self._pair = (self.episodes["negative"], self.episodes["positive"])  # no dict walk while neither fires
        # True when the last update left nothing that time alone could change (no episode, and no
        # candidate a print on the same side could confirm): another update whose rate is on the same
        # side of the dead band (``voted``, the sign that update voted) changes nothing.
        self.settled = False
        self.voted = 0

    def snapshot(self) -> dict[str, Any]:
        """The tracker's state as plain JSON-ready values."""
        return {
            "sign": self.sign,
            "candidate": self._candidate,
            "candidate_since": self._candidate_since,
            "extreme": self._extreme,
            "episodes": {direction: episode.snapshot() for direction, episode in self.episodes.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`."""
        self.sign = int(state["sign"])
        self._candidate = int(state["candidate"])
        self._candidate_since = int(state["candidate_since"])
        self._extreme = float(state["extreme"])
        for direction, episode in self.episodes.items():
            episode.restore(state["episodes"][direction])

    def observed(self, rate: float) -> int:
        """The sign of ``rate`` with the dead band: -1, 0 or 1."""
        return band_sign(rate, self._band)

    def update(
        self,
        now_ms: int,
        rate: float,
        describe: Callable[[], dict[str, Any]],
        market_sign: int = 0,
        agree: float | None = None,
    ) -> list[Alert]:
        """Feed the current rate; returns the resolved/firing alerts of a confirmed flip or a settle.

        ``describe`` gives the extra alert values; it is only called when a flip fires. A venue
        flip to the side the whole market is on (``market_sign``) is tracked but not announced:
        the asset-wide flip already says it. A sign that ``agree`` (the rate with the venues that
        left still in) does not share counts as inside the dead band: it neither confirms nor cancels.
        """
        observed = self.observed(rate)
        if agree is not None and self.observed(agree) != observed:
            observed = 0
        if self.settled and observed == self.voted:
            return []
        self.voted = observed
        alerts: list[Alert] = []
        negative, positive = self._pair
        idle = negative.started_ms is None and positive.started_ms is None
        if not idle:
            self._settle(now_ms, rate, alerts)
        self.settled = False
        if observed == 0:
            self.settled = idle
            return alerts
        if observed == self.sign:
            self._candidate = 0
            self.settled = idle
            return alerts
        if observed != self._candidate:
            self._candidate = observed
            self._candidate_since = now_ms
        if now_ms - self._candidate_since < self._confirm_ms:
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
                **describe(),
            }
            alerts.append(episode.alert("fire", now_ms, summary, values))
        return alerts

    def _settle(self, now_ms: int, rate: float, alerts: list[Alert]) -> None:
        """Track the extreme rate of a firing flip and resolve it once it has lasted ``settle_s``."""
        for direction, episode in self.episodes.items():
            if episode.started_ms is not None:
                self._extreme = min(self._extreme, rate) if direction == "negative" else max(self._extreme, rate)
                started = episode.started_ms or now_ms
                if now_ms - started >= self._settle_ms:
                    resolved = self._resolve(episode, now_ms, rate, "settled")
                    if not episode.silent:
                        alerts.append(resolved)

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
        # The event time of the last evaluation while nothing has changed since (None after any change):
        # evaluating again at that time would change nothing and raise nothing.
        self._evaluated_ms: int | None = None
        self._stale_ms = int(settings.stale_s * 1000)
        self._carry_ms = int(settings.carry_s * 1000)
        # Sums per venue over the counted sources: usable ones that printed at or after ``_horizon``.
        self._venues: dict[str, _Venue] = {}
        self._venue_names: list[str] = []  # sorted
        # Venues whose sums no longer match their sources: recomputed when next read (prints and
        # weights change many times between two evaluations).
        self._stale_sums: set[str] = set()
        self._horizon = -_NEVER
        self._oldest = _NEVER  # at most the oldest print among the counted sources
        ctx.oi_usd_listener = self.reweight

    def snapshot(self) -> dict[str, Any]:
        """The asset's funding state (sources, venue sums, trackers, episodes) as plain JSON-ready values."""
        self._refresh_stale()
        return {
            "sources": [
                [src.venue, src.symbol, src.rate_8h, src.ts_ms, src.usable, src.weight, src.counted]
                for src in self.sources.values()
            ],
            "sums": {
                venue: [sums.count, sums.known, sums.weight, sums.weighted, sums.plain]
                for venue, sums in self._venues.items()
            },
            "flip": self.flip.snapshot(),
            "venue_flips": {venue: tracker.snapshot() for venue, tracker in self.venue_flips.items()},
            "extremes": {direction: episode.snapshot() for direction, episode in self.extremes.items()},
            "rate": self.rate,
            "weighting": self.weighting,
            "next_eval_ms": self._next_eval_ms,
            "horizon": self._horizon,
            "oldest": self._oldest,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` into a fresh asset (restore its context first: weights come from it)."""
        for venue, symbol, rate_8h, ts_ms, usable, weight, counted in state["sources"]:
            source = self.sources[(str(venue), str(symbol))] = self._new_source(str(venue), str(symbol))
            source.rate_8h, source.ts_ms, source.usable = float(rate_8h), int(ts_ms), bool(usable)
            source.weight, source.counted = float(weight), bool(counted)
        for venue, (count, known, weight, weighted, plain) in state["sums"].items():
            sums = self._venues[str(venue)]
            sums.count, sums.known, sums.weight = int(count), int(known), float(weight)
            sums.weighted, sums.plain = float(weighted), float(plain)
            sums.note_rate()
        self.flip.restore(state["flip"])
        for venue, tracker_state in state["venue_flips"].items():
            tracker = self.venue_flips[str(venue)] = FlipTracker(self.ctx.base, str(venue), self.cfg)
            tracker.restore(tracker_state)
        for direction, episode in self.extremes.items():
            episode.restore(state["extremes"][direction])
        rate = state["rate"]
        self.rate = None if rate is None else float(rate)
        self.weighting = str(state["weighting"])
        self._next_eval_ms = int(state["next_eval_ms"])
        self._horizon = int(state["horizon"])
        self._oldest = int(state["oldest"])

    def add(self, event: Funding, ts_ms: int, now_ms: int) -> list[Alert]:
        """Take one funding print and evaluate the asset and the print's venue."""
        self._evaluated_ms = None
        key = (event.venue, event.symbol)
        source = self.sources.get(key)
        if source is None:
            source = self.sources[key] = self._new_source(event.venue, event.symbol)
        if ts_ms < source.ts_ms:
            return []  # an older print than the one we hold
        source.rate_8h, source.ts_ms, source.usable = event.rate_8h, ts_ms, True
        source.counted = ts_ms >= self._horizon
        if source.counted and ts_ms < self._oldest:
            self._oldest = ts_ms
        self._stale_sums.add(source.venue)
        if event.mark_price is not None:
            self.ctx.prices.add(ts_ms, event.mark_price)
        if now_ms < self._next_eval_ms:
            return []  # venues print up to 10 times a second; deciding once a second is plenty
        return self.evaluate(now_ms)

    def reweight(self, key: tuple[str, str], oi_usd: float) -> None:
        """The latest OI in USD of ``key`` changed: give its funding source the new weight."""
        source = self.sources.get(key)
        if source is not None and source.weight != oi_usd:
            self._evaluated_ms = None
            source.weight = oi_usd
            if source.counted:
                self._stale_sums.add(source.venue)

    def mark_gap(self, venue: str) -> None:
        """A disconnect: leave the venue out until it prints again."""
        self._evaluated_ms = None
        sums = self._venues.get(venue)
        if sums is not None:
            for source in sums.sources:
                source.usable = source.counted = False
            sums.refresh()

    def weighted(self, now_ms: int, venue: str | None = None) -> tuple[float | None, str, dict[str, float]]:
        """(rate, weighting mode, weight per venue) over the fresh sources, of one venue or all."""
        self._evaluated_ms = None
        self._sync(now_ms)
        sums = self._total() if venue is None else self._venues.get(venue)
        if sums is None or not sums.count:
            return None, "none", {}
        fill = sums.fill()
        if venue is not None:
            return sums.rate(fill), sums.mode(), {venue: sums.weight + (sums.count - sums.known) * fill}
        return sums.rate(fill), sums.mode(), self._venue_weights(fill)

    def evaluate(self, now_ms: int) -> list[Alert]:
        """Bring the sums to ``now_ms`` and evaluate the asset rate and every venue's.

        Again at the same event time with nothing changed in between (a print's evaluation, then the
        engine's tick on the same event) it would change nothing and raise nothing, so it returns at once.
        """
        self._next_eval_ms = now_ms + EVAL_INTERVAL_MS
        if now_ms == self._evaluated_ms:
            return []
        self._evaluated_ms = now_ms
        self._sync(now_ms)
        total = self._total()
        alerts: list[Alert] = []
        market = 0
        if total.count:
            fill = total.fill()
            rate = total.rate(fill)
            mode = total.mode()
            self.rate, self.weighting = rate, mode
            self.ctx.note_funding(now_ms, rate)

            def describe() -> dict[str, Any]:
                weights = self._venue_weights(fill)
                whole = sum(weights.values()) or 1.0
                return {
                    "weighting": mode,
                    "venues": len(weights),
                    "weights": {v: round(w / whole, 4) for v, w in sorted(weights.items())},
                }

            alerts += self.flip.update(now_ms, rate, describe, agree=self._carried_rate(now_ms, total.count))
            alerts += self._extreme(now_ms, rate, mode)
            market = self.flip.observed(rate)
        else:
            self.rate, self.weighting = None, "none"
            self.ctx.note_funding(now_ms, None)
        if self.cfg.per_venue:
            for name in self._venue_names:
                sums = self._venues[name]
                if not sums.count:
                    continue
                tracker = self.venue_flips.get(name)
                if tracker is None:
                    tracker = self.venue_flips[name] = FlipTracker(self.ctx.base, name, self.cfg)
                elif tracker.settled and sums.sign == tracker.voted:
                    continue  # its update would see the sign it last voted, which left nothing to change
                alerts += tracker.update(now_ms, sums.current, sums.describe, market)
        return alerts

    # ------------------------------------------------------------------ sums

    def _new_source(self, venue: str, symbol: str) -> _Source:
        source = _Source(venue, symbol, self.ctx.oi_usd.get((venue, symbol)) or 0.0)
        sums = self._venues.get(venue)
        if sums is None:
            sums = self._venues[venue] = _Venue(self.cfg.dead_band_8h)
            self._venue_names.append(venue)
            self._venue_names.sort()
        sums.sources.append(source)
        return source

    def _sync(self, now_ms: int) -> None:
        """Make the counted sources exactly the fresh ones at ``now_ms`` (and every venue's sums theirs)."""
        self._refresh_stale()
        horizon = now_ms - self._stale_ms
        if self._horizon <= horizon <= self._oldest:
            self._horizon = horizon  # every counted source is still fresh, no other one became so
            return
        # A source went stale (or time went back): recount every venue.
        self._horizon = horizon
        self._oldest = _NEVER
        for sums in self._venues.values():
            for source in sums.sources:
                source.counted = source.usable and source.ts_ms >= horizon
                if source.counted:
                    self._oldest = min(self._oldest, source.ts_ms)
            sums.refresh()

    def _refresh_stale(self) -> None:
        if self._stale_sums:
            for venue in self._stale_sums:
                self._venues[venue].refresh()
            self._stale_sums.clear()

    def _carried_rate(self, now_ms: int, counted: int) -> float | None:
        """The rate with sources that left in the last ``carry_s`` back in at their last print; None if none left."""
        if counted == len(self.sources):
            return None  # nobody left: the rate itself
        horizon = now_ms - self._carry_ms
        carried = [source for source in self.sources.values() if source.counted or source.ts_ms >= horizon]
        if len(carried) == counted:
            return None  # those that left did so before the horizon
        sums = WeightedSums()
        for source in carried:
            sums.count += 1
            if source.weight:
                sums.known += 1
                sums.weight += source.weight
                sums.weighted += source.weight * source.rate_8h
            else:
                sums.plain += source.rate_8h
        return sums.rate(sums.fill())

    def _total(self) -> WeightedSums:
        """The asset's sums: the venues' added up."""
        total = WeightedSums()
        for sums in self._venues.values():
            if sums.count:
                total.count += sums.count
                total.known += sums.known
                total.weight += sums.weight
                total.weighted += sums.weighted
                total.plain += sums.plain
        return total

    def _venue_weights(self, fill: float) -> dict[str, float]:
        """Total weight per venue with a fresh source, ``fill`` standing in for unknown weights."""
        return {
            name: sums.weight + (sums.count - sums.known) * fill for name, sums in self._venues.items() if sums.count
        }

    def _fresh_venues(self) -> int:
        return sum(1 for sums in self._venues.values() if sums.count)

    def _extreme(self, now_ms: int, rate: float, mode: str) -> list[Alert]:
        level_pct = self.cfg.extreme_annual_pct
        annual = rate * _ANNUAL
        positive, negative = self.extremes["positive"], self.extremes["negative"]
        if -level_pct < annual < level_pct and positive.started_ms is None and negative.started_ms is None:
            return []  # both idle and neither level reached: no step can change anything
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
                "venues": self._fresh_venues(),
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
