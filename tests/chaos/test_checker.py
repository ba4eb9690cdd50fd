"""The checker finds loss, duplicates, reordering and per-sink alert delivery faults."""

from __future__ import annotations

import pytest

from tests.chaos.checker import check_alerts, check_events

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def test_a_clean_run_passes() -> None:
    report = check_events(["1", "2", "3"], ["1", "2"], [(0, "1"), (1, "2"), (0, "3")])
    report.assert_ok(duplicates_allowed=False)
    assert (report.sent, report.acknowledged, report.delivered) == (3, 2, 3)


def test_unacknowledged_events_may_be_lost_acknowledged_ones_may_not() -> None:
    check_events(["1", "2"], ["1"], [(0, "1")]).assert_ok(duplicates_allowed=False)
    report = check_events(["1", "2"], ["1", "2"], [(0, "1")])
    assert report.lost == ["2"]
    with pytest.raises(AssertionError, match="1 acknowledged events lost"):
        report.assert_ok(duplicates_allowed=True)


def test_duplicates_only_where_allowed_and_order_uses_first_delivery() -> None:
    # A redelivery of 1 after 2 is a duplicate, not an inversion.
    report = check_events(["1", "2"], ["1", "2"], [(0, "1"), (0, "2"), (0, "1")])
    assert report.duplicates == {"1": 2}
    assert report.out_of_order == {}
    report.assert_ok(duplicates_allowed=True)
    with pytest.raises(AssertionError, match="more than once"):
        report.assert_ok(duplicates_allowed=False)


def test_order_is_per_shard() -> None:
    # Interleaving across shards is fine; an inversion within shard 1 is not.
    report = check_events(["1", "2", "3", "4"], [], [(0, "2"), (1, "1"), (0, "4"), (1, "3")])
    assert report.out_of_order == {}
    report = check_events(["1", "2", "3"], [], [(1, "3"), (1, "1"), (0, "2")])
    assert report.out_of_order == {1: [("3", "1")]}
    with pytest.raises(AssertionError, match="shard 1"):
        report.assert_ok(duplicates_allowed=True)


def test_events_never_sent_are_reported() -> None:
    report = check_events(["1"], ["1"], [(0, "1"), (0, "9")])
    assert report.unexpected == ["9"]


def test_alerts_exactly_once_per_sink() -> None:
    check_alerts(["a", "b"], {"slack": ["a", "b"], "mqtt": ["b", "a"]}).assert_ok()
    report = check_alerts(["a", "b"], {"slack": ["a", "a", "b"], "mqtt": ["a"], "hook": ["a", "b", "z"]})
    assert report.repeated["slack"] == {"a": 2}
    assert report.missing["mqtt"] == ["b"]
    assert report.unexpected["hook"] == ["z"]
    with pytest.raises(AssertionError, match="sink mqtt: never delivered"):
        report.assert_ok()
