"""Input hygiene: duplicate suppression, late events, implausible timestamps and implausible prints.

Redis delivers at least once and venues re-send frames across planned
reconnects, so the same event id can arrive twice; a bounded LRU of recent ids
drops the repeat. Events may also arrive slightly out of order (several venues,
several collectors); the windows accept timestamps up to ``tolerance_ms`` older
than the newest event time, and anything older is late: counted and dropped.
A liquidation of absurd size, or priced far from the asset's recent price, is
implausible: counted and ignored (open-interest prints are screened by the
open-interest detector, which needs the source's history to judge them).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, TypeAlias

from monitor.events import Event, Gap, Liquidation

Outcome: TypeAlias = Literal[
    "processed", "duplicate", "late", "implausible_notional", "implausible_price", "oi_zero", "oi_jump"
]
OUTCOMES: tuple[Outcome, ...] = (
    "processed",
    "duplicate",
    "late",
    "implausible_notional",
    "implausible_price",
    "oi_zero",
    "oi_jump",
)


class RecentIds:
    """A bounded set of recently seen keys with least-recently-seen eviction."""

    __slots__ = ("_seen", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def snapshot(self) -> list[str]:
        """The remembered keys, least recently seen first."""
        return list(self._seen)

    def restore(self, keys: list[str]) -> None:
        """Remember ``keys`` (least recently seen first), the newest ``capacity`` of them."""
        self._seen = OrderedDict.fromkeys(keys[-self.capacity :])

    def seen(self, key: str) -> bool:
        """True when ``key`` was seen before (and refresh it); otherwise remember it and return False."""
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return True
        seen[key] = None
        if len(seen) > self.capacity:
            seen.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._seen)


def event_key(event: Event) -> str:
    """The identity of an event for duplicate suppression: kind, venue and id in one string.

    One string per remembered id instead of a 3-tuple holding one: about a quarter less
    memory in a full LRU. Kinds and venue names are plain identifiers, so the separator
    cannot make two identities collide.
    """
    return f"{event.kind}\x1f{event.venue}\x1f{event.id}"


def effective_ts(event: Event, future_tolerance_ms: int) -> int:
    """The event time, or the receive time when the venue's clock claims a time too far ahead of it."""
    if event.ts_ms > event.recv_ms + future_tolerance_ms:
        return event.recv_ms
    return event.ts_ms


class Gatekeeper:
    """Decides whether an event is processed, a duplicate or late, and keeps the event-time clock."""

    __slots__ = ("_ids", "clock_ms", "future_tolerance_ms", "tolerance_ms")

    def __init__(self, *, capacity: int, tolerance_ms: int, future_tolerance_ms: int) -> None:
        self._ids = RecentIds(capacity)
        self.tolerance_ms = tolerance_ms
        self.future_tolerance_ms = future_tolerance_ms
        self.clock_ms = 0

    def snapshot(self) -> dict[str, Any]:
        """The clock and the remembered event keys."""
        return {"clock_ms": self.clock_ms, "ids": self._ids.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`."""
        self.clock_ms = int(state["clock_ms"])
        self._ids.restore([str(key) for key in state["ids"]])

    def admit(self, event: Event) -> tuple[Outcome, int]:
        """The outcome for ``event`` and its effective time; advances the clock for processed events."""
        if self._ids.seen(event_key(event)):
            return "duplicate", event.ts_ms
        ts = event.ts_ms
        if ts > event.recv_ms + self.future_tolerance_ms:  # effective_ts, inlined: this runs for every event
            ts = event.recv_ms
        clock = self.clock_ms
        if ts < clock - self.tolerance_ms and not isinstance(event, Gap):
            return "late", ts
        if ts > clock:
            self.clock_ms = ts
        return "processed", ts


def price_in_band(price: float, reference: float | None, max_deviation_pct: float) -> bool:
    """True when ``price`` is within [``1 - p``, ``1 / (1 - p)``] × ``reference`` (p = ``max_deviation_pct``).

    The band is as wide on the way up as on the way down in log terms; with no reference (None:
    nothing recent enough to judge by) every price is in it.
    """
    if reference is None or reference <= 0:
        return True
    low = 1.0 - min(max_deviation_pct, 99.0) / 100.0
    ratio = price / reference
    return low <= ratio <= 1.0 / low


def implausible_liquidation(
    liq: Liquidation, reference_price: float | None, *, max_usd: float, max_deviation_pct: float
) -> Outcome | None:
    """Why ``liq`` cannot be real (None when it can): too large, or priced outside the band around the market."""
    if liq.notional_usd is not None and liq.notional_usd > max_usd:
        return "implausible_notional"
    if not price_in_band(liq.price, reference_price, max_deviation_pct):
        return "implausible_price"
    return None
