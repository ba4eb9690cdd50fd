"""Rates and recent windows, from successive snapshots (pure).

Snapshots carry cumulative counters; like Prometheus' ``rate()``, the view
compares the newest with an older one: events per second per venue over the
last few seconds, and liquidations per asset over the last minute. Until the
view has watched that long, the window is as long as it has watched, and says so.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from monitor.top.state import Snapshot

RATE_WINDOW_S: Final = 10.0
LIQUIDATION_WINDOW_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Recent:
    """What changed lately: events/s per venue; liquidated USD and count per (base, side) over ``window_s``."""

    rates: dict[str, float] = field(default_factory=dict)
    liquidations: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    window_s: float = 0.0


def _events(snapshot: Snapshot) -> dict[str, int]:
    return {v.venue: sum(v.events.values()) for v in snapshot.venues}


def _liquidations(snapshot: Snapshot) -> dict[tuple[str, str], tuple[float, int]]:
    out: dict[tuple[str, str], tuple[float, int]] = {}
    for row in snapshot.liquidations:
        usd, count = out.get((row.base, row.side), (0.0, 0))
        out[(row.base, row.side)] = (usd + row.usd, count + row.count)
    return out


def _older(history: deque[Snapshot], newest: Snapshot, span_s: float) -> Snapshot | None:
    """The newest kept snapshot at least ``span_s`` older than ``newest`` (else the oldest one), same source run."""
    chosen: Snapshot | None = None
    for snap in history:
        if snap is newest or snap.since_ms != newest.since_ms or snap.ts_ms >= newest.ts_ms:
            continue
        if chosen is None or newest.ts_ms - snap.ts_ms >= span_s * 1000:
            chosen = snap
    return chosen


class Trend:
    """The snapshots of the last minute or so, and what changed over them."""

    def __init__(self, keep_s: float = LIQUIDATION_WINDOW_S + RATE_WINDOW_S) -> None:
        self._keep_ms = keep_s * 1000
        self._history: deque[Snapshot] = deque()

    def add(self, snapshot: Snapshot) -> Recent:
        """Keep ``snapshot`` and return what changed up to it."""
        history = self._history
        if history and (history[-1].since_ms != snapshot.since_ms or history[-1].ts_ms > snapshot.ts_ms):
            history.clear()  # the source restarted (its counters began again) or the clock went back
        history.append(snapshot)
        while len(history) > 2 and snapshot.ts_ms - history[1].ts_ms >= self._keep_ms:
            history.popleft()
        return self.recent()

    def recent(self) -> Recent:
        """Rates over the last :data:`RATE_WINDOW_S` and liquidations over the last :data:`LIQUIDATION_WINDOW_S`."""
        if not self._history:
            return Recent()
        newest = self._history[-1]
        rates: dict[str, float] = {}
        base = _older(self._history, newest, RATE_WINDOW_S)
        if base is not None:
            span = (newest.ts_ms - base.ts_ms) / 1000
            before = _events(base)
            rates = {v: max(0.0, n - before.get(v, 0)) / span for v, n in _events(newest).items()}
        liq_base = _older(self._history, newest, LIQUIDATION_WINDOW_S)
        if liq_base is None:
            return Recent(rates=rates)
        before_liq = _liquidations(liq_base)
        window = {
            key: (max(0.0, usd - before_liq.get(key, (0.0, 0))[0]), max(0, n - before_liq.get(key, (0.0, 0))[1]))
            for key, (usd, n) in _liquidations(newest).items()
        }
        return Recent(rates=rates, liquidations=window, window_s=(newest.ts_ms - liq_base.ts_ms) / 1000)
