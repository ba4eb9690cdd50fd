"""The episode state machine every detector shares: idle → firing (→ escalations) → resolved → cooldown.

An episode fires once (at the severity reached then), escalates once per
higher level it reaches (``warning``, then ``critical``; each announced once,
severity never goes down within an episode) and resolves once after its exit
condition has held for ``hold_ms`` (hysteresis: the exit condition is stricter
than the entry one). The highest severity reached is kept in ``peak``. A new episode cannot start within
``cooldown_ms`` of a resolution. Alert ids are stable per episode, status and
escalation step, so a rebuilt detector produces the same ids as the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from monitor.alert import SEVERITIES, Alert, Direction, Severity, alert_id, severity_rank

Transition: TypeAlias = Literal["fire", "escalate", "resolve"]

_RANK: dict[str, int] = {severity: severity_rank(severity) for severity in SEVERITIES}  # no tuple.index per step


@dataclass(slots=True)
class Episode:
    """One (kind, base, venue, direction) state machine."""

    kind: str
    base: str
    venue: str | None
    direction: Direction
    hold_ms: int
    cooldown_ms: int
    started_ms: int | None = None
    severity: Severity = "info"
    below_since_ms: int | None = None
    cooldown_until_ms: int = 0
    peak: Severity = "info"
    # A silent episode runs its state machine but its alerts are not announced (redundant ones).
    silent: bool = False

    @property
    def firing(self) -> bool:
        """True between the firing and the resolved alert."""
        return self.started_ms is not None

    def step(self, now_ms: int, level: Severity | None, exiting: bool, *, urgent: bool = False) -> Transition | None:
        """Advance with the current entry ``level`` (None = entry condition not met) and exit condition.

        ``urgent`` lets a new episode start within the cooldown (a burst far beyond the entry bar).
        """
        if self.started_ms is None:
            if level is not None and (urgent or now_ms >= self.cooldown_until_ms):
                self.started_ms = now_ms
                self.severity = self.peak = level
                self.below_since_ms = None
                self.silent = False
                return "fire"
            return None
        if level is not None and _RANK[level] > _RANK[self.severity]:
            self.severity = self.peak = level
            self.below_since_ms = None
            return "escalate"
        if not exiting:
            self.below_since_ms = None
            return None
        if self.below_since_ms is None:
            self.below_since_ms = now_ms
        if now_ms - self.below_since_ms >= self.hold_ms:
            return "resolve"
        return None

    def snapshot(self) -> list[Any]:
        """The machine's state (not its identity or timings): started, severity, below since, cooldown, peak, silent."""
        return [self.started_ms, self.severity, self.below_since_ms, self.cooldown_until_ms, self.peak, self.silent]

    def restore(self, state: list[Any]) -> None:
        """Take the state of :meth:`snapshot`; an unknown severity is refused with ``ValueError``."""
        started, severity, below, cooldown, peak, silent = state
        if severity not in _RANK or peak not in _RANK:
            raise ValueError(f"unknown severity in an episode checkpoint: {severity!r}/{peak!r}")
        self.started_ms = None if started is None else int(started)
        self.severity = severity
        self.below_since_ms = None if below is None else int(below)
        self.cooldown_until_ms = int(cooldown)
        self.peak = peak
        self.silent = bool(silent)

    def alert(self, transition: Transition, ts_ms: int, summary: str, values: dict[str, Any]) -> Alert:
        """The alert for ``transition`` (call right after :meth:`step` returned it).

        A resolution resets the machine and starts the cooldown.
        """
        started = self.started_ms if self.started_ms is not None else ts_ms
        if transition == "resolve":
            ident = alert_id(self.kind, self.base, self.venue, self.direction, started, "resolved")
            status: Literal["firing", "resolved"] = "resolved"
        else:
            ident = alert_id(self.kind, self.base, self.venue, self.direction, started, "firing", self.severity)
            status = "firing"
        result = Alert(
            id=ident,
            kind=self.kind,
            status=status,
            severity=self.severity,
            base=self.base,
            venue=self.venue,
            direction=self.direction,
            started_ms=started,
            ts_ms=ts_ms,
            summary=summary,
            values=values,
        )
        if transition == "resolve":
            self.started_ms = None
            self.below_since_ms = None
            self.cooldown_until_ms = ts_ms + self.cooldown_ms
            self.severity = self.peak = "info"
        return result

    def state_value(self) -> int:
        """0 idle, 1 info, 2 warning, 3 critical (the ``liqmon_detector_state`` gauge)."""
        return 0 if self.started_ms is None else severity_rank(self.peak) + 1


def severity_for(value: float, info: float, warning: float, critical: float) -> Severity | None:
    """The severity ``value`` reaches against rising thresholds; None below ``info``."""
    if value >= critical:
        return "critical"
    if value >= warning:
        return "warning"
    if value >= info:
        return "info"
    return None


def fmt_usd(value: float) -> str:
    """$1.2B, $52.3M, $812k, $950."""
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"${value / 1e9:.2f}B"
    if magnitude >= 1e6:
        return f"${value / 1e6:.1f}M"
    if magnitude >= 1e3:
        return f"${value / 1e3:.0f}k"
    return f"${value:.0f}"


def fmt_pct(value: float | None) -> str:
    """+1.23% / -4.50% / n/a."""
    return "n/a" if value is None else f"{value:+.2f}%"
