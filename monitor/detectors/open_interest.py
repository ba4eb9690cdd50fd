"""Open-interest detector: collapse (drop from the window high) and surge (rise from the window low).

Measured in base units, so a price fall alone changes nothing; an inverse
contract (USD face value per contract) in its USD face converted at a fixed
price, so that neither is a price move there (positions unchanged are more
coins after a fall). Each
(venue, symbol) source keeps its last value and its rolling high and low; the
asset (and each venue) is the sum over its *fresh* sources of the current
values, compared with the sum of the same sources' highs (lows). A source that
goes quiet for ``stale_s`` or whose venue disconnected (a ``Gap``) is left out
of both sides until it reports again, so a silent venue — Binance is polled
over REST, OKX pushes every few seconds, Bybit every 100 ms — never looks like
a collapse. The sums are exact (every part a whole number of 2⁻⁶⁴ base units),
so a report adjusts them in O(1) with no drift to repair, and a tick visits only
the sources due then (a high or low expiring, a source going stale); a group
that sat idle and whose sums did not move since is not evaluated again.

One bad print is not an event: a print of zero, or one more than
``glitch_jump_pct`` away from its source's last value, is held instead of
applied. A print back near the old value shows it was a glitch, which is
dropped; a new level still reported ``glitch_confirm_s`` after it first
appeared is real and applied. Held prints are counted (``held``: ``oi_zero``
or ``oi_jump``).
"""

from __future__ import annotations

from typing import Any

from monitor.alert import Alert
from monitor.detectors.config import OpenInterestSettings
from monitor.detectors.context import AssetContext
from monitor.detectors.episode import Episode, Transition, fmt_pct, severity_for
from monitor.detectors.hygiene import OUTCOMES, Outcome
from monitor.detectors.snapshots import opt_float
from monitor.detectors.windows import RollingRange
from monitor.events import OpenInterest

_NEVER = float("inf")
# Parts are summed as integers in units of 2⁻⁶⁴ base units: int(part × _SCALE) is exact for any part
# above 2⁻¹² (and a fixed truncation below), so sums in any order agree; a sum reads back as sum × _UNIT.
_SCALE = 2.0**64
_UNIT = 2.0**-64
COLLAPSE = "oi_collapse"
SURGE = "oi_surge"
EVAL_INTERVAL_MS = 1_000


class _Source:
    __slots__ = (
        "counted",
        "due_ms",
        "extremes",
        "face_price",
        "group",
        "part_high",
        "part_low",
        "pending",
        "pending_ts",
        "q_high",
        "q_low",
        "q_value",
        "symbol",
        "ts_ms",
        "usable",
        "value",
        "venue",
    )

    def __init__(self, venue: str, symbol: str, window_ms: int, bucket_ms: int, group: _Group) -> None:
        self.venue = venue
        self.symbol = symbol
        self.group = group  # its venue's sums
        self.value = 0.0
        self.q_value = 0  # value, high and low parts as exact integers (see _SCALE)
        self.q_high = 0
        self.q_low = 0
        self.ts_ms = -1
        self.usable = False
        self.counted = False
        self.extremes = RollingRange(window_ms, bucket_ms)  # its rolling high and low
        # The high and low it added to the sums while counted (value is the third part).
        self.part_high = 0.0
        self.part_low = 0.0
        # A held print (see the module docstring) and its time.
        self.pending: float | None = None
        self.pending_ts = 0
        # An inverse contract's fixed conversion price (see OpenInterestAsset._measure); 0 until known.
        self.face_price = 0.0
        # The earliest tick that can change it: a high or low expiring, or (counted) going stale.
        self.due_ms: float = _NEVER

    def snapshot(self) -> dict[str, Any]:
        """The source's state as plain JSON-ready values (its group is wiring, not state)."""
        highs, lows = self.extremes.snapshot()
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "value": self.value,
            "ts_ms": self.ts_ms,
            "usable": self.usable,
            "counted": self.counted,
            "high": highs,
            "low": lows,
            "parts": [self.part_high, self.part_low],
            "pending": [self.pending, self.pending_ts],
            "face_price": self.face_price,
        }

    def take_parts(self) -> None:
        """Fix the high and low it counts with now: the window's, or its own value before any."""
        extremes = self.extremes
        high = extremes.high() or self.value
        if high != self.part_high:  # mostly the same high as before: no conversion
            self.part_high, self.q_high = high, int(high * _SCALE)
        low = extremes.low() or self.value
        if low != self.part_low:
            self.part_low, self.q_low = low, int(low * _SCALE)

    def set_due(self, stale_ms: int) -> float:
        """Fix (and return) :attr:`due_ms` after the source was expired, counted or not, at some time."""
        due = self.extremes.next_expiry_ms()
        if self.counted:
            due = min(due, self.ts_ms + stale_ms + 1)  # stale from then on
        self.due_ms = due
        return due


class _Group:
    """An exact sum over sources (the whole asset, or one venue) and its two episodes."""

    def __init__(self, base: str, venue: str | None, settings: OpenInterestSettings, scale: float) -> None:
        self.venue = venue
        self.scale = scale
        self.q_current = 0
        self.q_high = 0
        self.q_low = 0
        self.sources = 0
        # True while its last evaluation found both episodes idle and far from their levels, and the
        # sums have not moved since: evaluating again would find the same.
        self.idle = False
        self.next_eval_ms = 0
        self.peak = {COLLAPSE: 0.0, SURGE: 0.0}
        self.collapse_levels = tuple(
            x * scale for x in (settings.collapse_pct, settings.collapse_warning_pct, settings.collapse_critical_pct)
        )
        self.surge_levels = tuple(
            x * scale for x in (settings.surge_pct, settings.surge_warning_pct, settings.surge_critical_pct)
        )
        # Below these moves an idle episode cannot fire: the exit levels (entry level × exit_ratio).
        self.collapse_exit = self.collapse_levels[0] * settings.exit_ratio
        self.surge_exit = self.surge_levels[0] * settings.exit_ratio
        hold, cool = int(settings.hold_s * 1000), int(settings.cooldown_s * 1000)
        self.collapse = Episode(COLLAPSE, base, venue, "down", hold, cool)
        self.surge = Episode(SURGE, base, venue, "up", hold, cool)

    @property
    def current(self) -> float:
        return self.q_current * _UNIT

    @property
    def high(self) -> float:
        return self.q_high * _UNIT

    @property
    def low(self) -> float:
        return self.q_low * _UNIT

    def snapshot(self) -> dict[str, Any]:
        """The group's episodes as plain JSON-ready values (the sums are rebuilt from the sources)."""
        return {
            "next_eval_ms": self.next_eval_ms,
            "peak": self.peak,
            "collapse": self.collapse.snapshot(),
            "surge": self.surge.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`."""
        self.next_eval_ms = int(state["next_eval_ms"])
        self.peak = {str(kind): float(value) for kind, value in state["peak"].items()}
        self.collapse.restore(state["collapse"])
        self.surge.restore(state["surge"])

    def enter(self, source: _Source) -> None:
        """Add a counted source's value, high and low."""
        self.q_current += source.q_value
        self.q_high += source.q_high
        self.q_low += source.q_low
        self.sources += 1
        self.idle = False

    def leave(self, source: _Source) -> None:
        """Take back what :meth:`enter` added for ``source`` (its parts are unchanged since)."""
        self.q_current -= source.q_value
        self.q_high -= source.q_high
        self.q_low -= source.q_low
        self.sources -= 1
        self.idle = False

    def shift(self, current: int, high: int, low: int, sources: int = 0) -> None:
        """Move the sums by a source's change of parts (and the count by ``sources``)."""
        self.q_current += current
        self.q_high += high
        self.q_low += low
        self.sources += sources
        self.idle = False

    def moves(self) -> tuple[float | None, float | None]:
        """(drop from the high, rise from the low) in percent; None where there is nothing to compare."""
        if self.sources == 0:
            return None, None
        current, high, low = self.q_current * _UNIT, self.q_high * _UNIT, self.q_low * _UNIT
        drop = rise = None
        if high > 0:
            drop = (high - current) / high * 100
            if not drop > 0.0:  # max(0.0, drop) without the call
                drop = 0.0
        if low > 0:
            rise = (current - low) / low * 100
            if not rise > 0.0:
                rise = 0.0
        return drop, rise


class OpenInterestAsset:
    """Open-interest state of one asset."""

    def __init__(self, ctx: AssetContext, settings: OpenInterestSettings) -> None:
        self.ctx = ctx
        self.cfg = settings
        self.window_ms = int(settings.window_s * 1000)
        self.bucket_ms = int(settings.bucket_s * 1000)
        self.stale_ms = int(settings.stale_s * 1000)
        self.sources: dict[tuple[str, str], _Source] = {}
        self.total = _Group(ctx.base, None, settings, 1.0)
        self.venues: dict[str, _Group] = {}
        self._venue_names: list[str] = []  # sorted
        # The earliest due_ms of the sources: ticks before it visit none.
        self._due_ms: float = _NEVER
        self._jump = settings.glitch_jump_pct / 100.0
        self._confirm_ms = int(settings.glitch_confirm_s * 1000)
        # Why the last report was held instead of applied (None when it was applied).
        self.held: Outcome | None = None

    def snapshot(self) -> dict[str, Any]:
        """The asset's OI state (groups, then sources in arrival order) as plain JSON-ready values."""
        return {
            "total": self.total.snapshot(),
            "venues": {venue: group.snapshot() for venue, group in self.venues.items()},
            "sources": [src.snapshot() for src in self.sources.values()],
            "held": self.held,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` into a fresh asset."""
        self.total.restore(state["total"])
        for venue, group_state in state["venues"].items():
            self._venue(str(venue)).restore(group_state)
        for item in state["sources"]:
            venue, symbol = str(item["venue"]), str(item["symbol"])
            group = self._venue(venue)
            src = self.sources[(venue, symbol)] = _Source(venue, symbol, self.window_ms, self.bucket_ms, group)
            src.value, src.ts_ms = float(item["value"]), int(item["ts_ms"])
            src.usable, src.counted = bool(item["usable"]), bool(item["counted"])
            src.extremes.restore(item["high"], item["low"])
            src.part_high, src.part_low = (float(part) for part in item["parts"])
            pending, pending_ts = item["pending"]
            src.pending, src.pending_ts = opt_float(pending), int(pending_ts)
            src.face_price = float(item["face_price"])
            src.q_value = int(src.value * _SCALE)
            src.q_high, src.q_low = int(src.part_high * _SCALE), int(src.part_low * _SCALE)
            if src.counted:
                self.total.enter(src)
                group.enter(src)
            self._due_ms = min(self._due_ms, src.set_due(self.stale_ms))
        held = state["held"]
        if held is not None and held not in OUTCOMES:
            raise ValueError(f"unknown outcome in an open-interest checkpoint: {held!r}")
        self.held = held

    def _venue(self, venue: str) -> _Group:
        group = self.venues.get(venue)
        if group is None:
            group = self.venues[venue] = _Group(self.ctx.base, venue, self.cfg, self.cfg.venue_factor)
            self._venue_names.append(venue)
            self._venue_names.sort()
        return group

    def add(self, event: OpenInterest, ts_ms: int, now_ms: int) -> list[Alert]:
        """Take one OI report and evaluate the asset and the report's venue."""
        key = (event.venue, event.symbol)
        source = self.sources.get(key)
        if source is None:
            group = self._venue(event.venue)
            source = self.sources[key] = _Source(event.venue, event.symbol, self.window_ms, self.bucket_ms, group)
        self.held = None
        if ts_ms < source.ts_ms:
            return []  # older than the value we hold
        value = self._measure(source, event)
        self.held = self._screen(source, value, ts_ms)
        if self.held is not None:
            return []
        if event.oi_usd is not None:
            self.ctx.set_oi_usd(key, event.oi_usd)
            if event.oi_base > 0:
                self.ctx.note_price(ts_ms, event.oi_usd / event.oi_base)  # a price off the market is left out
        total, venue = self.total, source.group
        was_counted, q_value, q_high, q_low = source.counted, source.q_value, source.q_high, source.q_low
        if value != source.value:
            source.q_value = int(value * _SCALE)
        source.value, source.ts_ms, source.usable = value, ts_ms, True
        extremes = source.extremes
        extremes.add(ts_ms, value)
        extremes.expire(now_ms)
        counted = source.counted = ts_ms >= now_ms - self.stale_ms
        if counted:
            source.take_parts()
        if counted and was_counted:  # the usual case: the groups take the difference, when there is one
            dv, dh, dl = source.q_value - q_value, source.q_high - q_high, source.q_low - q_low
            if dv or dh or dl:
                total.shift(dv, dh, dl)
                venue.shift(dv, dh, dl)
        elif counted:
            total.enter(source)
            venue.enter(source)
        elif was_counted:  # reported too late to count: out with the parts it had
            total.shift(-q_value, -q_high, -q_low, -1)
            venue.shift(-q_value, -q_high, -q_low, -1)
        # When a tick must visit it (set_due, inlined: this runs for every report).
        due = extremes.next_expiry_ms()
        if counted and ts_ms + self.stale_ms + 1 < due:
            due = float(ts_ms + self.stale_ms + 1)
        source.due_ms = due
        if due < self._due_ms:  # noqa: PLR1730 - per report: min() would be a call
            self._due_ms = due
        # Sums are updated per report (O(1)); decisions are taken at most once a second per group.
        alerts: list[Alert] = []
        if now_ms >= total.next_eval_ms:
            total.next_eval_ms = now_ms + EVAL_INTERVAL_MS
            if not total.idle:
                alerts = self._evaluate(total, now_ms)
        if self.cfg.per_venue and now_ms >= venue.next_eval_ms:
            venue.next_eval_ms = now_ms + EVAL_INTERVAL_MS
            if not venue.idle:
                alerts += self._evaluate(venue, now_ms)
        return alerts

    @staticmethod
    def _measure(source: _Source, event: OpenInterest) -> float:
        """The report in the source's unit: base units, or for an inverse contract its USD face at a fixed price.

        An inverse contract's positions are a USD face value; the same positions are
        more coins when the price falls. Dividing the face by the price of the source's
        first report keeps the unit coin-sized but moves it only when positions do.
        """
        if event.contract != "inverse" or not event.oi_usd or event.oi_base <= 0:
            return event.oi_base
        if source.face_price <= 0:
            source.face_price = event.oi_usd / event.oi_base
        return event.oi_usd / source.face_price

    def _screen(self, source: _Source, value: float, ts_ms: int) -> Outcome | None:
        """Hold a print of zero or one far from the source's last value until the level has lasted."""
        last = source.value
        zero = value <= 0
        if not zero and (last <= 0 or abs(value / last - 1.0) <= self._jump):
            source.pending = None  # near the last value: a held print, if any, was a glitch
            return None
        pending = source.pending
        same = pending is not None and (
            (zero and pending <= 0) or (not zero and pending > 0 and abs(value / pending - 1.0) <= self._jump)
        )
        if not same:
            source.pending, source.pending_ts = value, ts_ms
        elif ts_ms - source.pending_ts >= self._confirm_ms:
            source.pending = None  # the new level has lasted: the venue means it
            return None
        return "oi_zero" if zero else "oi_jump"

    def mark_gap(self, venue: str) -> None:
        """A disconnect: leave the venue's sources out of high and current until they report again."""
        for source in self.sources.values():
            if source.venue == venue:
                source.usable = False
                if source.counted:
                    source.counted = False
                    self.total.leave(source)
                    source.group.leave(source)

    def evaluate(self, now_ms: int) -> list[Alert]:
        """A tick: expire highs and lows and apply staleness where due, then evaluate every group."""
        if now_ms >= self._due_ms:
            self._visit(now_ms)
        alerts = self._evaluate(self.total, now_ms)
        if self.cfg.per_venue:
            venues = self.venues
            for name in self._venue_names:
                group = venues[name]
                if not group.idle:  # (_evaluate would return at once)
                    alerts += self._evaluate(group, now_ms)
        return alerts

    def _visit(self, now_ms: int) -> None:
        """Bring the sources due by ``now_ms`` up to date: expired highs and lows, staleness, their parts."""
        total, stale_ms = self.total, self.stale_ms
        due = _NEVER
        for source in self.sources.values():
            if now_ms >= source.due_ms:
                source.extremes.expire(now_ms)
                if source.counted:
                    total.leave(source)
                    source.group.leave(source)
                source.counted = source.usable and source.ts_ms >= now_ms - stale_ms
                if source.counted:
                    source.take_parts()
                    total.enter(source)
                    source.group.enter(source)
                source.set_due(stale_ms)
            due = min(due, source.due_ms)
        self._due_ms = due

    def _evaluate(self, group: _Group, now_ms: int) -> list[Alert]:
        if group.idle:
            return []  # idle and far from its levels when last evaluated, and the sums have not moved
        cfg = self.cfg
        drop, rise = group.moves()
        if group.venue is None:
            self.ctx.oi_change_pct = None if drop is None else -drop
        if (
            group.collapse.started_ms is None
            and group.surge.started_ms is None
            and (drop is None or drop < group.collapse_exit)
            and (rise is None or rise < group.surge_exit)
        ):
            group.idle = True
            return []  # both idle and nowhere near their levels: nothing can happen
        alerts: list[Alert] = []
        for episode, measured, levels in (
            (group.collapse, drop, group.collapse_levels),
            (group.surge, rise, group.surge_levels),
        ):
            if measured is None and not episode.firing:
                continue
            move = 0.0 if measured is None else measured  # nothing fresh left: let it resolve after the hold
            info, warning, critical = levels
            if move < info * cfg.exit_ratio and not episode.firing:
                continue  # idle and nowhere near: nothing can happen
            level = severity_for(move, info, warning, critical)
            if episode.firing:
                group.peak[episode.kind] = max(group.peak[episode.kind], move)
            transition = episode.step(now_ms, level, move < info * cfg.exit_ratio)
            if transition is None:
                continue
            if transition == "fire" and group.venue is not None:
                # One venue moving with the whole market is already in the asset-wide alert.
                episode.silent = (self.total.collapse if episode.kind == COLLAPSE else self.total.surge).firing
            alert = self._alert(group, episode, transition, move, now_ms)
            if not episode.silent:
                alerts.append(alert)
        return alerts

    def _alert(self, group: _Group, episode: Episode, transition: Transition, move: float, now_ms: int) -> Alert:
        ctx = self.ctx
        collapse = episode.kind == COLLAPSE
        reference = group.high if collapse else group.low
        where = "" if group.venue is None else f" on {group.venue}"
        what = "open interest collapse" if collapse else "open-interest surge (leverage build-up)"
        if transition == "fire":
            group.peak[episode.kind] = move
        peak = group.peak[episode.kind]
        values: dict[str, Any] = {
            "oi_base": round(group.current, 6),
            "reference_base": round(reference, 6),
            "move_pct": round(move, 3),
            "window_s": self.cfg.window_s,
            "sources": group.sources,
            "excluded": sorted(
                f"{s.venue}:{s.symbol}"
                for s in self.sources.values()
                if not s.counted and (group.venue is None or s.venue == group.venue)
            ),
            "price_move_pct": _round(ctx.price_move_pct(now_ms - self.window_ms)),
        }
        sign = "-" if collapse else "+"
        if transition == "resolve":
            started = episode.started_ms or now_ms
            values.update(duration_s=(now_ms - started) / 1000.0, peak_move_pct=round(peak, 3))
            summary = (
                f"{ctx.base} {what}{where} resolved after {(now_ms - started) / 60000:.0f} min "
                f"(peak {sign}{peak:.2f}% in base units)"
            )
        else:
            verb = "" if transition == "fire" else f" escalated to {episode.severity}"
            anchor = "high" if collapse else "low"
            summary = (
                f"{ctx.base} {what}{where}{verb}: {sign}{move:.2f}% in base units from the "
                f"{self.cfg.window_s / 60:g}-min {anchor} ({reference:,.6g} → {group.current:,.6g}); "
                f"price {fmt_pct(values['price_move_pct'])}"
            )
        return episode.alert(transition, now_ms, summary, values)

    def states(self) -> list[tuple[str, str, int]]:
        """(kind, direction, gauge value) of the asset-wide episodes."""
        return [(COLLAPSE, "down", self.total.collapse.state_value()), (SURGE, "up", self.total.surge.state_value())]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
