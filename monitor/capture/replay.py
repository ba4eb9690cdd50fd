"""Turning capture records into normalized events with the real venue parsers.

:class:`CaptureDecoder` is pure (no I/O, no clock): it keeps one adapter per
venue, feeds ``meta`` lines to ``load_instruments``, ``rest`` lines to
``parse_rest``, frames to ``parse`` and turns ``gap`` lines into
:class:`~monitor.events.Gap` markers. Frames that cannot be parsed are counted
per venue and reason and skipped, so one bad line never stops a replay (a
parser bug included: it is counted under the reason ``internal``).
``liqmon replay``, ``liqmon backtest`` and ``liqmon normalize`` all use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from monitor.capture.format import CaptureRecord
from monitor.errors import ParseError
from monitor.events import Event, Gap, stable_id
from monitor.logs import get_logger
from monitor.metrics import Metrics, default_metrics
from monitor.venues.adapter import VenueAdapter
from monitor.venues.registry import create_adapter

log = get_logger(__name__)


class CaptureDecoder:
    """Decodes capture records of any venue into events, counting what it cannot read."""

    def __init__(self, *, metrics: Metrics | None = None, strict: bool = False) -> None:
        self.metrics = metrics or default_metrics()
        self.strict = strict
        self.adapters: dict[str, VenueAdapter] = {}
        # Frames not normalized, per (venue, reason); ``issues`` is the part that still gave events
        # (an adapter's note about one field), ``unknown_venues`` the lines of venues we have no parser for.
        self.errors: Counter[tuple[str, str]] = Counter()
        self.issues: Counter[tuple[str, str]] = Counter()
        self.unknown_venues: Counter[str] = Counter()
        self.frames = 0
        self.gaps = 0

    def adapter(self, venue: str) -> VenueAdapter | None:
        """The adapter for ``venue`` (created on first use), None for an unknown venue."""
        adapter = self.adapters.get(venue)
        if adapter is None:
            try:
                adapter = create_adapter(venue)
            except ValueError:
                return None
            self.adapters[venue] = adapter
        return adapter

    def decode(self, record: CaptureRecord) -> list[Event]:
        """Events of one record; problems are counted (or raised when ``strict``)."""
        if record.gap is not None:
            gap_id = stable_id("gap", record.venue, record.recv_ms, record.gap)
            adapter = self.adapter(record.venue)
            if adapter is not None:
                adapter.reset()
            self.gaps += 1
            return [Gap(id=gap_id, venue=record.venue, reason=record.gap, ts_ms=record.recv_ms, recv_ms=record.recv_ms)]
        adapter = self.adapters.get(record.venue)
        if adapter is None and (adapter := self.adapter(record.venue)) is None:
            self.unknown_venues[record.venue] += 1
            self._fail(record, ParseError(f"unknown venue {record.venue!r}", reason="unknown_venue"))
            return []
        assert record.frame is not None  # parse_line guarantees a frame when there is no gap
        self.frames += 1
        try:
            if record.meta is not None:
                self._load_instruments(adapter, record)
                events: list[Event] = []
            elif record.rest is not None:
                events = adapter.parse_rest(record.rest, record.frame, record.recv_ms)
            else:
                events = adapter.parse(record.frame, record.recv_ms)
        except ParseError as exc:
            self._fail(record, exc)
            return []
        except Exception as exc:  # a parser bug: counted like a bad frame, so the rest of the capture still plays
            adapter.drain_issues()
            self._fail(record, ParseError(f"{type(exc).__name__}: {exc}", reason="internal"))
            return []
        if adapter.issues:  # rare: tested first, so a record without any costs no call
            for reason, message in adapter.drain_issues():
                self.issues[(record.venue, reason)] += 1
                self._note(record, reason, message)
        return events

    @staticmethod
    def _load_instruments(adapter: VenueAdapter, record: CaptureRecord) -> None:
        """Instrument lists are ``meta`` lines; the request path is in ``rest`` (or in ``meta`` itself)."""
        assert record.frame is not None
        assert record.meta is not None
        path = record.rest or (record.meta if record.meta.startswith("/") else None)
        if path is not None:
            adapter.load_instruments(path, record.frame)
            return
        # A bare {"meta": "instruments"} line: offer the body to each of the venue's instrument endpoints.
        for candidate in adapter.instrument_requests():
            try:
                if adapter.load_instruments(candidate.path, record.frame):
                    return
            except ParseError:
                continue
        raise ParseError("instrument list matches none of the venue's instrument endpoints", reason="meta")

    def _fail(self, record: CaptureRecord, exc: ParseError) -> None:
        if self.strict:
            raise ParseError(f"line {record.line_no} ({record.venue}): {exc}", reason=exc.reason) from exc
        self._note(record, exc.reason, str(exc), exc)

    def _note(self, record: CaptureRecord, reason: str, message: str, exc: ParseError | None = None) -> None:
        self.errors[(record.venue, reason)] += 1
        if reason == "unknown_contract":
            self.metrics.unknown_contract.labels(venue=record.venue).inc()
        else:
            self.metrics.frame_rejected(record.venue, exc or ParseError(message, reason=reason))
        if self.errors[(record.venue, reason)] <= 5:
            log.warning("frame_not_normalized", venue=record.venue, line=record.line_no, reason=reason, error=message)

    def decode_all(self, records: Iterable[CaptureRecord]) -> Iterator[tuple[CaptureRecord, list[Event]]]:
        """Each record with its events, in capture order."""
        for record in records:
            yield record, self.decode(record)

    def summary(self) -> str:
        """One line per (venue, reason) that was counted, for stderr."""
        return "\n".join(f"{venue}: {count} × {reason}" for (venue, reason), count in sorted(self.errors.items()))
