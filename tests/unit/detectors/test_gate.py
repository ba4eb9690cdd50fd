"""The event gate: duplicates within the capacity and the tolerance, compact snapshots, gap markers by count."""

from __future__ import annotations

import base64

import msgspec

from monitor.detectors.hygiene import GAP_KEYS, KEY_BYTES, Gatekeeper, event_key
from monitor.events import Gap
from tests.unit.detectors.market import T0, liq

TOLERANCE_MS = 10_000


def gate(capacity: int = 1_000) -> Gatekeeper:
    return Gatekeeper(capacity=capacity, tolerance_ms=TOLERANCE_MS, future_tolerance_ms=5_000)


def gap(ts: int, ident: str) -> Gap:
    return Gap(id=ident, venue="bybit", reason="disconnect", ts_ms=ts, recv_ms=ts)


def test_keys_are_eight_bytes_and_tell_kind_venue_and_id_apart() -> None:
    event = liq(T0, "long", 1e3, ident="7")
    assert len(event_key(event)) == KEY_BYTES
    assert event_key(event) == event_key(liq(T0 + 5, "short", 2e3, ident="7"))  # the id, not the content
    assert event_key(event) != event_key(liq(T0, "long", 1e3, ident="7", venue="okx"))
    assert event_key(event) != event_key(gap(T0, "7"))


def test_a_repeat_within_the_tolerance_is_a_duplicate_and_an_older_one_is_late() -> None:
    g = gate(capacity=100_000)
    first = liq(T0, "long", 1e3, ident="first")
    assert g.admit(first) == ("processed", T0)
    for s in range(1, 5):  # one event a second: everything stays within the capacity
        g.admit(liq(T0 + s * 1000, "long", 1e3))
    assert g.admit(first)[0] == "duplicate"
    for s in range(5, 40):
        g.admit(liq(T0 + s * 1000, "long", 1e3))
    # 39 s later the key may be forgotten, but the event is far beyond the tolerance: still dropped.
    assert g.admit(first)[0] == "late"


def test_at_a_slow_rate_only_the_last_tolerances_are_kept() -> None:
    g = gate(capacity=200_000)
    for s in range(3_600):  # an hour at one event a second
        g.admit(liq(T0 + s * 1000, "long", 1e3))
    # At most two generations of at most one tolerance (plus the event that closed one) each.
    assert len(g) <= 2 * (TOLERANCE_MS // 1000 + 1)
    recent = liq(T0 + 3_599_500, "long", 1e3, ident="recent")
    assert g.admit(recent)[0] == "processed"
    assert g.admit(recent)[0] == "duplicate"


def test_at_a_fast_rate_the_capacity_bounds_the_keys() -> None:
    g = gate(capacity=1_000)
    events = [liq(T0 + i, "long", 1e3) for i in range(5_000)]  # 5 s of event time: within the tolerance
    for event in events:
        g.admit(event)
    assert 500 <= len(g) <= 1_000
    assert all(g.admit(e)[0] == "duplicate" for e in events[-500:])  # the newest half at least is kept


def test_the_snapshot_packs_eight_bytes_a_key_and_restores_the_duplicates() -> None:
    g = gate()
    events = [liq(T0 + i * 10, "long", 1e3) for i in range(300)]
    for event in events:
        g.admit(event)
    g.admit(gap(T0 + 5, "gap-1"))
    state = msgspec.json.decode(msgspec.json.encode(g.snapshot()))  # through JSON, as in a checkpoint
    assert len(base64.b64decode(state["ids"])) == KEY_BYTES * 300
    assert len(base64.b64decode(state["gaps"])) == KEY_BYTES

    restored = gate()
    restored.restore(state)
    assert restored.clock_ms == g.clock_ms
    assert all(restored.admit(e)[0] == "duplicate" for e in events)
    assert restored.admit(gap(T0 + 5, "gap-1"))[0] == "duplicate"
    assert restored.admit(liq(T0 + 3_000, "long", 1e3))[0] == "processed"


def test_gap_markers_are_remembered_by_count_whatever_their_age() -> None:
    g = gate()
    old = gap(T0, "old gap")
    assert g.admit(old)[0] == "processed"
    for s in range(1, 120):
        g.admit(liq(T0 + s * 1000, "long", 1e3))
    assert g.admit(old)[0] == "duplicate"  # gaps skip the late rule, so their repeat must be known
    for i in range(GAP_KEYS):
        g.admit(gap(T0 + 120_000, f"gap {i}"))
    assert g.admit(old)[0] == "processed"  # beyond the newest GAP_KEYS: forgotten
