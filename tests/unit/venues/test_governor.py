"""The governor's sliding windows, and stamping of request times."""

from __future__ import annotations

import time

import orjson

from monitor.venues.governor import Window
from monitor.venues.registry import create_adapter
from monitor.venues.spec import Rate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_window_allows_count_actions_per_interval_then_says_how_long_to_wait() -> None:
    clock = Clock()
    window = Window(Rate(3, 1.0), clock)
    for _ in range(3):
        assert window.wait_s() == 0.0
        window.take()
    assert window.wait_s() == 1.0
    clock.now += 0.4
    assert abs(window.wait_s() - 0.6) < 1e-9
    clock.now += 0.6
    assert window.wait_s() == 0.0


def test_a_finished_slot_counts_from_when_the_action_ended() -> None:
    clock = Clock()
    window = Window(Rate(1, 1.0), clock)
    slot = window.take()
    clock.now += 0.5  # a slow handshake: the venue may have counted it any time until now
    window.finish(slot)
    assert window.wait_s() == 1.0


def test_request_times_are_stamped_when_sent() -> None:
    adapter = create_adapter("gate")
    [conn, *_] = adapter.connections(["BTC_USDT"])
    planned = conn.subscribe[0]
    sent = orjson.loads(adapter.outgoing(planned))
    assert abs(sent["time"] - time.time()) < 5
    assert orjson.loads(adapter.ping_payload())["channel"] == "futures.ping"
    assert abs(orjson.loads(adapter.ping_payload())["time"] - time.time()) < 5
