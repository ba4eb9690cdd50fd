"""Input hygiene: duplicate suppression, late events, implausible timestamps and implausible prints.

Redis delivers at least once and venues re-send frames across planned
reconnects, so the same event id can arrive twice; the gate remembers the
recent ones and drops the repeat. Events may also arrive slightly out of order
(several venues, several collectors); the windows accept timestamps up to
``tolerance_ms`` older than the newest event time, and anything older is late:
counted and dropped. A liquidation of absurd size, or priced far from the
asset's recent price, is implausible: counted and ignored (open-interest prints
are screened by the open-interest detector, which needs the source's history to
judge them).
"""

from __future__ import annotations

import base64
from typing import Any, Final, Literal, TypeAlias

from xxhash import xxh3_64_digest

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

# Gap markers skip the late rule, so their keys are kept by count, not by time: the newest this many.
GAP_KEYS: Final = 4096
KEY_BYTES: Final = 8


def event_key(event: Event) -> bytes:
    """The identity of an event for duplicate suppression: XXH3-64 of its kind, venue and id (8 bytes).

    Cheap to hash and compare, and stored as is in a checkpoint. Kinds and venue names are plain
    identifiers, so the separator cannot make two identities collide; two different events share a
    key with probability about n² / 2⁶⁵ (10⁻⁹ for the 200,000 keys of a full gate).
    """
    return xxh3_64_digest(f"{event.kind}\x1f{event.venue}\x1f{event.id}".encode())


def effective_ts(event: Event, future_tolerance_ms: int) -> int:
    """The event time, or the receive time when the venue's clock claims a time too far ahead of it."""
    if event.ts_ms > event.recv_ms + future_tolerance_ms:
        return event.recv_ms
    return event.ts_ms


def unpack_keys(text: Any) -> list[bytes]:
    """The keys of a snapshot's base64 field (``TypeError``/``ValueError`` for anything else)."""
    if not isinstance(text, str):
        raise TypeError(f"packed keys must be a string, got {type(text).__name__}")
    raw = base64.b64decode(text, validate=True)
    if len(raw) % KEY_BYTES:
        raise ValueError("packed keys are not a whole number of 8-byte keys")
    return [raw[i : i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)]


class Gatekeeper:
    """Decides whether an event is processed, a duplicate or late, and keeps the event-time clock.

    Keys of admitted events live in two generations: new keys go into the current one, which
    becomes the previous one (and the previous is forgotten) once it holds ``capacity // 2`` keys
    or has been current for more than ``tolerance_ms`` of event time. A forgotten key is therefore
    beyond the capacity or older than the tolerance, and a repeat of an event that old is late and
    dropped anyway. The gate holds at most ``capacity`` keys, and a checkpoint only those of the
    last tolerance or two, in arrival order. Gap markers skip the late rule; their keys are
    kept apart, the newest :data:`GAP_KEYS` of them.
    """

    __slots__ = (
        "_current",
        "_gaps",
        "_half",
        "_previous",
        "_started_ms",
        "clock_ms",
        "future_tolerance_ms",
        "tolerance_ms",
    )

    def __init__(self, *, capacity: int, tolerance_ms: int, future_tolerance_ms: int) -> None:
        self._half = max(1, capacity // 2)
        # A generation is a dict of keys: one operation adds a key, and its keys come in arrival order
        # (a snapshot joins them in one C call).
        self._current: dict[bytes, None] = {}
        self._previous: dict[bytes, None] = {}
        self._gaps: dict[bytes, None] = {}
        self._started_ms = 0  # the clock when the current generation began
        self.tolerance_ms = tolerance_ms
        self.future_tolerance_ms = future_tolerance_ms
        self.clock_ms = 0

    def __len__(self) -> int:
        """How many keys the gate remembers."""
        return len(self._current) + len(self._previous) + len(self._gaps)

    def snapshot(self) -> dict[str, Any]:
        """The clock and the remembered keys, base64 of 8 bytes a key."""
        ids = b"".join(self._previous) + b"".join(self._current)
        return {"clock_ms": self.clock_ms, "ids": _base64(ids), "gaps": _base64(b"".join(self._gaps))}

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`: its keys become the previous generation."""
        self.clock_ms = int(state["clock_ms"])
        self._previous = dict.fromkeys(unpack_keys(state["ids"]))
        self._current = {}
        self._started_ms = self.clock_ms
        self._gaps = dict.fromkeys(unpack_keys(state["gaps"])[-GAP_KEYS:])

    def admit(self, event: Event) -> tuple[Outcome, int]:
        """The outcome for ``event`` and its effective time; advances the clock for processed events."""
        key = event_key(event)
        if event.kind == "gap":  # not isinstance: several times slower on the other event types
            return self._admit_gap(key, event)
        current = self._current
        if key in current or key in self._previous:
            return "duplicate", event.ts_ms
        current[key] = None
        ts = event.ts_ms
        if ts > event.recv_ms + self.future_tolerance_ms:  # effective_ts, inlined: this runs for every event
            ts = event.recv_ms
        clock = self.clock_ms
        if ts < clock - self.tolerance_ms:
            return "late", ts
        if ts > clock:
            self.clock_ms = clock = ts
        if len(current) >= self._half or clock - self._started_ms > self.tolerance_ms:
            self._previous = current
            self._current = {}
            self._started_ms = clock
        return "processed", ts

    def _admit_gap(self, key: bytes, gap: Gap) -> tuple[Outcome, int]:
        gaps = self._gaps
        if key in gaps:
            return "duplicate", gap.ts_ms
        gaps[key] = None
        if len(gaps) > GAP_KEYS:
            del gaps[next(iter(gaps))]
        ts = effective_ts(gap, self.future_tolerance_ms)
        self.clock_ms = max(self.clock_ms, ts)
        return "processed", ts


def _base64(packed: bytes | bytearray) -> str:
    return base64.b64encode(packed).decode("ascii")


class PriceBand:
    """Prices within [``1 - p``, ``1 / (1 - p)``] × a reference price (p = ``max_deviation_pct``, at most 99).

    The band is as wide on the way up as on the way down in log terms; its bounds are fixed once, as
    every liquidation and open-interest print is judged against it.
    """

    __slots__ = ("high", "low")

    def __init__(self, max_deviation_pct: float) -> None:
        self.low = 1.0 - min(max_deviation_pct, 99.0) / 100.0
        self.high = 1.0 / self.low

    def admits(self, price: float, reference: float | None) -> bool:
        """True when ``price`` is in the band around ``reference``; with no reference (None: nothing recent
        enough to judge by) every price is."""
        if reference is None or reference <= 0:
            return True
        return self.low <= price / reference <= self.high


def implausible_liquidation(
    liq: Liquidation, reference_price: float | None, *, max_usd: float, band: PriceBand
) -> Outcome | None:
    """Why ``liq`` cannot be real (None when it can): too large, or priced outside the band around the market."""
    if liq.notional_usd is not None and liq.notional_usd > max_usd:
        return "implausible_notional"
    if not band.admits(liq.price, reference_price):
        return "implausible_price"
    return None
