"""The alert shape every detector emits and every sink consumes (DESIGN §7), and its JSON codec.

Part of the core model next to :mod:`monitor.events`: the bus carries alerts
and the sinks deliver them, and neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import orjson

from monitor.errors import InvalidEvent
from monitor.events import stable_id

Status: TypeAlias = Literal["firing", "resolved"]
Severity: TypeAlias = Literal["info", "warning", "critical"]
Direction: TypeAlias = Literal["long", "short", "negative", "positive", "down", "up"]

STATUSES: Final = frozenset(("firing", "resolved"))
SEVERITIES: Final = ("info", "warning", "critical")
DIRECTIONS: Final = frozenset(("long", "short", "negative", "positive", "down", "up"))


EpisodeKey: TypeAlias = tuple[str, str, str, str]


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    return SEVERITIES.index(severity)


def alert_id(kind: str, base: str, venue: str | None, direction: str, started_ms: int, *tail: object) -> str:
    """A stable id per episode and status (and escalation step), so sinks can dedup."""
    return stable_id(kind, base, venue or "*", direction, started_ms, *tail)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: ``firing`` once per episode (plus one escalation), ``resolved`` once."""

    id: str
    kind: str
    status: Status
    severity: Severity
    base: str
    venue: str | None
    direction: Direction
    started_ms: int
    ts_ms: int
    summary: str
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not self.kind or not self.base:
            raise InvalidEvent("alert needs an id, a kind and a base")
        if self.status not in STATUSES:
            raise InvalidEvent(f"alert status must be firing or resolved, got {self.status!r}")
        if self.severity not in SEVERITIES:
            raise InvalidEvent(f"alert severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.direction not in DIRECTIONS:
            raise InvalidEvent(f"alert direction must be one of {sorted(DIRECTIONS)}, got {self.direction!r}")
        for name in ("started_ms", "ts_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidEvent(f"alert {name} must be epoch milliseconds, got {value!r}")


def episode_key(alert: Alert) -> EpisodeKey:
    """What stays the same across one episode's firing, escalation and resolved alerts."""
    return (alert.kind, alert.base, alert.venue or "", alert.direction)


def encode_alert(alert: Alert) -> bytes:
    """The alert as compact JSON bytes (DESIGN §7 field names)."""
    return orjson.dumps(alert)


def decode_alert(data: bytes | str) -> Alert:
    """Parse and validate one encoded alert."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"alert is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("an alert must be a JSON object")
    try:
        return Alert(**obj)
    except TypeError as exc:
        raise InvalidEvent(f"alert has missing or unexpected fields: {exc}") from None
