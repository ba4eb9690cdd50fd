"""What happens to one venue's frames once they arrive: parse, dedup, count, publish, capture.

:class:`FeedSink` is synchronous and shared by every connection (and the REST
poller) of a venue. It turns a frame into events with the adapter's pure
``parse``, drops events already seen (overlapping connections), updates the
feed-health and market metrics, hands the batch to the bus and appends the raw
text to the capture file. A frame that cannot be parsed is counted and logged
(rate-limited), never fatal; only :class:`~monitor.errors.SubscriptionRejected`
escapes, so the connection loop can back off slowly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from monitor.capture.format import CaptureWriter
from monitor.errors import ParseError, SubscriptionRejected
from monitor.events import Event, Gap, make_gap, stable_id
from monitor.logs import Throttle, get_logger
from monitor.metrics import Metrics
from monitor.venues.adapter import VenueAdapter
from monitor.venues.dedup import RecentIds

log = get_logger(__name__)

# Parser messages may quote frame values: a log line carries at most this much of one.
MESSAGE_CHARS = 300


class Publisher(Protocol):
    """The part of the bus the collector needs."""

    def publish(self, events: Sequence[Event]) -> None:
        """Queue events for publication; never blocks."""


def now_ms() -> int:
    """Wall-clock epoch milliseconds (receive time of a frame)."""
    return time.time_ns() // 1_000_000


class FeedSink:
    """Parses, dedups, counts, publishes and records the frames of one venue."""

    def __init__(
        self,
        venue: str,
        publisher: Publisher,
        metrics: Metrics,
        *,
        capture: CaptureWriter | None = None,
        dedup: RecentIds | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.venue = venue
        # Receive times: the wall clock, or the scenario's clock when a simulation plays faster than real time.
        self.now_ms = clock
        self.publisher = publisher
        self.metrics = metrics
        self.capture = capture
        self.dedup = dedup if dedup is not None else RecentIds()
        self.throttle = Throttle()

    # -- inputs --------------------------------------------------------------------------------
    def frame(self, adapter: VenueAdapter, frame: str | bytes, recv_ms: int) -> int:
        """Handle one websocket frame; returns how many events it carried (duplicates included).

        Raises SubscriptionRejected when the venue refused a subscription.
        """
        if self.capture is not None:
            self.capture.frame(self.venue, recv_ms, _text(frame))
        try:
            events = adapter.parse(frame, recv_ms)
        except SubscriptionRejected:
            self._issues(adapter)
            self.metrics.message_received(self.venue, "control")
            raise
        except ParseError as exc:
            self._parse_error(exc, frame)
            events = []
        except Exception as exc:  # a parser bug must not take the feed down
            self._parse_error(_internal(exc), frame, error=True)
            events = []
        rejected = self._issues(adapter)
        self.metrics.message_received(self.venue, events[0].kind if events else "control")
        self._publish(events)
        if rejected is not None:
            raise SubscriptionRejected(rejected)
        return len(events)

    def rest(self, adapter: VenueAdapter, path: str, body: str | bytes, recv_ms: int) -> list[Event]:
        """Handle one polled REST body."""
        if self.capture is not None:
            self.capture.frame(self.venue, recv_ms, _text(body), rest=path)
        try:
            events = adapter.parse_rest(path, body, recv_ms)
        except ParseError as exc:
            self._parse_error(exc, body, where=path)
            events = []
        except Exception as exc:
            self._parse_error(_internal(exc), body, where=path, error=True)
            events = []
        self._issues(adapter)
        return self._publish(events)

    def meta(self, path: str, body: str | bytes, recv_ms: int) -> None:
        """Record an instrument-list body (``meta: instruments``, with its path in ``rest``)."""
        if self.capture is not None:
            self.capture.frame(self.venue, recv_ms, _text(body), rest=path, meta="instruments")

    def gap(self, reason: str, bases: Sequence[str], recv_ms: int | None = None) -> Gap:
        """Publish and record a gap marker: data from this venue may be missing."""
        at = recv_ms if recv_ms is not None else self.now_ms()
        marker = make_gap(
            id=stable_id(self.venue, reason, at, *bases),
            venue=self.venue,
            reason=reason,
            ts_ms=at,
            recv_ms=at,
            bases=tuple(bases),
        )
        self.metrics.feed_gaps.labels(venue=self.venue).inc()
        self.metrics.observe_events([marker])
        if self.capture is not None:
            self.capture.gap(self.venue, at, reason)
        self.publisher.publish([marker])
        return marker

    # -- internals -----------------------------------------------------------------------------
    def _publish(self, events: list[Event]) -> list[Event]:
        if not events:
            return events
        kept, dropped = self.dedup.filter(events)
        if dropped:
            self.metrics.feed_duplicates.labels(venue=self.venue).inc(dropped)
        if kept:
            self.metrics.observe_events(kept)
            self.publisher.publish(kept)
        return kept

    def _issues(self, adapter: VenueAdapter) -> str | None:
        """Count and log the adapter's issues; returns the message of a subscription refusal, if any."""
        if not adapter.issues:  # the usual case: no drain (a call and a new list) per frame
            return None
        rejected = None
        for reason, message in adapter.drain_issues():
            if reason == "subscription_rejected":
                rejected = message
            if reason == "unknown_contract":
                self.metrics.unknown_contract.labels(venue=self.venue).inc()
            else:
                self.metrics.feed_parse_errors.labels(venue=self.venue, reason=reason).inc()
            held = self.throttle.allow(f"issue:{reason}")
            if held is not None:
                log.warning(
                    "venue_data_problem", venue=self.venue, reason=reason, detail=message, similar_suppressed=held
                )
        return rejected

    def _parse_error(self, exc: ParseError, frame: str | bytes, *, where: str = "", error: bool = False) -> None:
        reason = exc.reason
        message = (f"{where}: {exc}" if where else str(exc))[:MESSAGE_CHARS]
        self.metrics.frame_rejected(self.venue, exc)
        held = self.throttle.allow(f"parse:{reason}")
        if held is None:
            return
        excerpt = _text(frame)[:200]
        if error:
            log.error(
                "venue_parser_failed",
                venue=self.venue,
                reason=reason,
                error=message,
                frame=excerpt,
                similar_suppressed=held,
            )
        else:
            log.warning(
                "venue_frame_unreadable",
                venue=self.venue,
                reason=reason,
                error=message,
                frame=excerpt,
                similar_suppressed=held,
            )


def _internal(exc: Exception) -> ParseError:
    """A parser bug, counted like an unreadable frame under the reason ``internal``."""
    return ParseError(f"{type(exc).__name__}: {exc}", reason="internal")


def _text(frame: str | bytes) -> str:
    return frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
