"""Feeds that never come up are alarms too: the ``feed_down`` alert, one episode per venue.

Pure: :meth:`FeedWatch.check` takes the wall-clock time and what each
configured venue looks like (connected, time of its last frame) and returns
alerts. A venue that delivered data is down when nothing has arrived from it
for longer than its liveness timeout (at least ``min_silence_s``); one that
never delivered anything is down ``min_silence_s`` after start-up, so a venue
that is configured but never connects raises the alarm as well as one that
goes quiet. The episode resolves as soon
as data flows again. The same state machine as the detectors' (fires once,
resolves once, stable ids), so the sinks treat it like any other alert:
``kind="feed_down"``, ``venue`` set, ``base="all"``, ``direction="down"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.alert import Alert
from monitor.detectors.episode import Episode

KIND: Final = "feed_down"
BASE: Final = "all"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One venue at one moment: an open connection, and the wall-clock time (ms) of its last frame."""

    connected: bool
    last_message_ms: int | None
    liveness_timeout_s: float


class FeedWatch:
    """``feed_down`` episodes for the configured venues of one process."""

    def __init__(self, start_ms: int, *, min_silence_s: float = 60.0) -> None:
        self.start_ms = start_ms
        self.min_silence_ms = int(min_silence_s * 1000)
        self.episodes: dict[str, Episode] = {}

    def check(self, now_ms: int, feeds: Mapping[str, FeedStatus]) -> list[Alert]:
        """Evaluate every venue at ``now_ms``; the alerts this causes."""
        alerts: list[Alert] = []
        for venue, status in sorted(feeds.items()):
            episode = self.episodes.get(venue)
            if episode is None:
                episode = self.episodes[venue] = Episode(KIND, BASE, venue, "down", hold_ms=0, cooldown_ms=0)
            since = status.last_message_ms if status.last_message_ms is not None else self.start_ms
            silent_ms = max(0, now_ms - since)
            # Never delivered: the minimum alone (no connection's liveness applies); else the longer one.
            limit_ms = self.min_silence_ms
            if status.last_message_ms is not None:
                limit_ms = max(limit_ms, int(status.liveness_timeout_s * 1000))
            down = silent_ms > limit_ms
            transition = episode.step(now_ms, "warning" if down else None, not down)
            if transition is None:
                continue
            values: dict[str, Any] = {
                "connected": status.connected,
                "never_connected": status.last_message_ms is None,
                "silent_s": round(silent_ms / 1000, 1),
                "liveness_timeout_s": status.liveness_timeout_s,
            }
            if transition == "resolve":
                started = episode.started_ms if episode.started_ms is not None else now_ms
                values["duration_s"] = (now_ms - started) / 1000
                summary = f"{venue} feed is back: data flowing again after {values['duration_s'] / 60:.0f} min down"
            elif status.last_message_ms is None:
                summary = (
                    f"{venue} feed down: configured but no data since start-up {silent_ms / 1000:.0f} s ago "
                    f"({'connected but silent' if status.connected else 'never connected'}); "
                    f"liquidations from {venue} are not being seen"
                )
            else:
                summary = (
                    f"{venue} feed down: no data for {silent_ms / 1000:.0f} s (liveness timeout "
                    f"{status.liveness_timeout_s:g} s, {'connection open' if status.connected else 'disconnected'}); "
                    f"liquidations from {venue} are being missed"
                )
            alerts.append(episode.alert(transition, now_ms, summary, values))
        return alerts


__all__ = ["BASE", "KIND", "FeedStatus", "FeedWatch"]
