"""FeedSink: duplicate removal, parse errors counted, issues turned into counters, market metrics."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from monitor.errors import ParseError, SubscriptionRejected
from monitor.events import Event, Funding, Liquidation
from monitor.metrics import Metrics
from monitor.venues.adapter import Connection, Keepalive, VenueAdapter
from monitor.venues.dedup import RecentIds
from monitor.venues.feed import FeedSink


class ListBus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def liquidation(n: int) -> Liquidation:
    return Liquidation(
        id=f"l{n}",
        venue="okx",
        symbol="BTC-USDT-SWAP",
        base="BTC",
        quote="USDT",
        contract="linear",
        ts_ms=n,
        recv_ms=n,
        side="long",
        price=100.0,
        qty_base=2.0,
        notional_usd=200.0,
    )


class TableAdapter(VenueAdapter):
    """Frames are keys of a table of outcomes."""

    name = "okx"
    ws_url = "ws://unused"
    rest_url = "http://unused"
    keepalive = Keepalive("client_ping", 1.0, "ping")

    def connections(self, symbols: Sequence[str], ws_url: str | None = None) -> list[Connection]:
        return []

    def read(self, frame: str | bytes, recv_ms: int) -> list[Event]:
        if frame == "bad":
            raise ParseError("bad frame", reason="json")
        if frame == "bug":
            raise KeyError("oops")
        if frame == "unknown":
            self._issue("unknown_contract", "no size")
            return []
        if frame == "refused":
            self._issue("subscription_rejected", "no such channel")
            return []
        if frame == "funding":
            return [
                Funding(
                    id="f1",
                    venue="okx",
                    symbol="BTC-USDT-SWAP",
                    base="BTC",
                    quote="USDT",
                    contract="linear",
                    ts_ms=1,
                    recv_ms=1,
                    rate=0.001,
                    interval_h=8.0,
                    rate_8h=0.001,
                    mark_price=101.0,
                )
            ]
        return [liquidation(int(frame))]


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_duplicates_are_dropped_and_counted(metrics: Metrics) -> None:
    bus = ListBus()
    sink = FeedSink("okx", bus, metrics)
    adapter = TableAdapter()
    for frame in ("1", "2", "1", "3", "2"):
        sink.frame(adapter, frame, 0)
    assert [e.id for e in bus.events] == ["l1", "l2", "l3"]
    assert value(metrics, "liqmon_feed_duplicates_dropped_total", venue="okx") == 2
    assert value(metrics, "liqmon_liquidations_total", venue="okx", base="BTC", side="long") == 3
    assert value(metrics, "liqmon_liquidated_notional_usd_total", venue="okx", base="BTC", side="long") == 600
    assert value(metrics, "liqmon_feed_messages_total", venue="okx", channel="liquidation") == 5


def test_bad_frames_and_parser_bugs_are_counted_not_raised(metrics: Metrics) -> None:
    sink = FeedSink("okx", ListBus(), metrics)
    adapter = TableAdapter()
    assert sink.frame(adapter, "bad", 0) == 0
    assert sink.frame(adapter, "bug", 0) == 0
    assert sink.frame(adapter, "unknown", 0) == 0
    assert value(metrics, "liqmon_feed_parse_errors_total", venue="okx", reason="json") == 1
    assert value(metrics, "liqmon_feed_parse_errors_total", venue="okx", reason="internal") == 1
    assert value(metrics, "liqmon_unknown_contract_total", venue="okx") == 1
    assert value(metrics, "liqmon_feed_messages_total", venue="okx", channel="control") == 3


def test_refused_subscription_raises_after_counting(metrics: Metrics) -> None:
    sink = FeedSink("okx", ListBus(), metrics)
    with pytest.raises(SubscriptionRejected, match="no such channel"):
        sink.frame(TableAdapter(), "refused", 0)
    assert value(metrics, "liqmon_feed_parse_errors_total", venue="okx", reason="subscription_rejected") == 1


def test_funding_sets_gauges_and_gap_is_published(metrics: Metrics) -> None:
    bus = ListBus()
    sink = FeedSink("okx", bus, metrics)
    sink.frame(TableAdapter(), "funding", 0)
    gap = sink.gap("closed", ("BTC",), 5)
    assert bus.events[-1] == gap
    assert value(metrics, "liqmon_funding_rate", venue="okx", base="BTC") == 0.001
    assert value(metrics, "liqmon_mark_price_usd", venue="okx", base="BTC") == 101.0
    assert value(metrics, "liqmon_feed_gaps_total", venue="okx") == 1


def test_recent_ids_are_bounded() -> None:
    ids = RecentIds(capacity=2)
    assert [ids.seen(k) for k in ("a", "b", "a", "c", "b", "a")] == [False, False, True, False, False, False]
    assert len(ids) == 2


def test_a_capture_on_a_full_disk_never_touches_the_feed(metrics: Metrics) -> None:
    """Every frame is still parsed and published after the capture's disk filled up."""
    from monitor.capture.format import CaptureWriter

    bus = ListBus()
    capture = CaptureWriter("/dev/full", metrics=metrics)
    sink = FeedSink("okx", bus, metrics, capture=capture)
    adapter = TableAdapter()
    for n in range(3000):
        assert sink.frame(adapter, str(n).ljust(200), n) == 1
    capture.close()
    assert [e.id for e in bus.events] == [f"l{n}" for n in range(3000)]
    assert capture.failure is not None
    assert metrics.registry.get_sample_value("liqmon_capture_write_errors_total") == 1
