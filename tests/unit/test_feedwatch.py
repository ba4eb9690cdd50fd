"""feed_down: a configured venue that never delivers, or goes silent, is an alarm until data flows."""

from __future__ import annotations

import pytest

from monitor.feedwatch import FeedStatus, FeedWatch

START = 1_770_249_600_000
S = 1000


def status(last_s: float | None, *, connected: bool = True, liveness_s: float = 90.0) -> FeedStatus:
    return FeedStatus(
        connected=connected,
        last_message_ms=None if last_s is None else START + int(last_s * S),
        liveness_timeout_s=liveness_s,
    )


CASES = [
    pytest.param(
        # Never connected: nothing for 60 s after start-up fires; the first frame resolves.
        [(30, status(None, connected=False)), (61, status(None, connected=False)), (90, status(89))],
        [(61, "firing", "warning"), (90, "resolved", "warning")],
        id="never-connected",
    ),
    pytest.param(
        # Data, then silence beyond the 90 s liveness timeout (longer than the 60 s minimum).
        [(10, status(9)), (80, status(9)), (100, status(9)), (120, status(119))],
        [(100, "firing", "warning"), (120, "resolved", "warning")],
        id="silent-beyond-liveness",
    ),
    pytest.param(
        # A short liveness timeout does not make the alarm hair-trigger: at least 60 s.
        [(10, status(9, liveness_s=20)), (40, status(9, liveness_s=20)), (70, status(9, liveness_s=20))],
        [(70, "firing", "warning")],
        id="at-least-the-minimum",
    ),
    pytest.param(
        [(10, status(9)), (50, status(49)), (300, status(299))],
        [],
        id="flowing-feed-is-quiet",
    ),
]


@pytest.mark.parametrize(("checks", "expected"), CASES)
def test_feed_down_table(checks: list[tuple[float, FeedStatus]], expected: list[tuple[float, str, str]]) -> None:
    watch = FeedWatch(START, min_silence_s=60.0)
    out = []
    for at_s, feed in checks:
        for alert in watch.check(START + int(at_s * S), {"okx": feed}):
            assert (alert.kind, alert.venue, alert.base, alert.direction) == ("feed_down", "okx", "all", "down")
            out.append(((alert.ts_ms - START) / S, alert.status, alert.severity))
    assert out == expected


def test_each_episode_fires_once_and_has_stable_distinct_ids() -> None:
    watch = FeedWatch(START, min_silence_s=60.0)
    fired = watch.check(START + 61 * S, {"gate": status(None, connected=False)})
    assert watch.check(START + 65 * S, {"gate": status(None, connected=False)}) == []  # announced once
    assert "never connected" in fired[0].summary
    assert fired[0].values["never_connected"] is True
    resolved = watch.check(START + 70 * S, {"gate": status(69)})
    again = FeedWatch(START, min_silence_s=60.0).check(START + 61 * S, {"gate": status(None, connected=False)})
    assert again[0].id == fired[0].id  # rebuilt, same id
    assert resolved[0].id != fired[0].id
    assert resolved[0].started_ms == fired[0].started_ms
