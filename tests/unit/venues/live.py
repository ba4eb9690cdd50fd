"""Checks shared by the venue tests: frames in the shapes the live venues send."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.adapter import VenueAdapter

RECV = 1_770_292_812_000
# What a live frame may end in besides events: the project's own parse errors, never anything else.
BOUNDED_REASONS = (None, "json", "schema", "value", "implausible", "unknown_channel", "unknown_symbol")


def check_live_frames(venue: VenueAdapter, frames: Iterable[str], recv_ms: int = RECV) -> None:
    """Every frame gives market events or a ParseError with a known reason; issues are plain reasons."""
    for frame in frames:
        reason = None
        events: list[object] = []
        try:
            events = list(venue.parse(frame, recv_ms))
        except ParseError as exc:
            reason = exc.reason
        assert reason in BOUNDED_REASONS, frame
        assert all(isinstance(e, (Funding, Liquidation, OpenInterest)) for e in events), frame
    assert all(isinstance(reason, str) for reason, _ in venue.drain_issues())
