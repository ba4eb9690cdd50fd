"""SIGTERM to a real ``liqmon detect`` working through a large backlog on a real Redis.

The detector stops taking work at once: it finishes and acknowledges the batch
in hand, releases its lease and exits 0, leaving the rest of the backlog in the
stream for whoever runs next. No alert is published after ``shutdown_complete``
and every alert it published is in the alerts stream.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from monitor.bus.codec import encode
from monitor.bus.keys import EVENTS_GROUP, Keys
from monitor.events import Event
from tests.integration.test_detect_failover import Detector, alerts
from tests.support.services import RedisServer
from tests.unit.detectors.market import heartbeat, liq

pytestmark = pytest.mark.integration

KEY = Keys().events(0)
BACKLOG = 60_000

CONFIG = """
[log]
format = "json"
level = "info"

[metrics]
enabled = false

[app]
shutdown_timeout_s = 10.0

[bus]
redis_url = "{url}"
shard_count = 1

[detectors]
lease_ttl_s = 2.0
lease_renew_s = 0.5

[detectors.assets.BTC.cascade]
window_s = 2
fast_window_s = 1
bucket_s = 1
floor_usd = 1000000
min_count = 3
warmup_min = 0
hold_s = 1
cooldown_s = 0
"""


def backlog(count: int) -> Iterator[Event]:
    """A cascade that fires and resolves every 30 events: three liquidations, then 8 s of quiet."""
    t = int(time.time() * 1000) - 86_400_000
    n = 0
    while n < count:
        for k in range(3):
            yield liq(t + k, "long", 400e3)
        for k in range(27):
            yield heartbeat(t + 3 + 300 * k)
        n += 30
        t += 8200


# XADD many entries per round trip (a pipeline of single XADDs spends seconds packing arguments).
XADD_MANY = "for i = 1, #ARGV, 2 do redis.call('XADD', KEYS[1], '*', 'kind', ARGV[i], 'data', ARGV[i + 1]) end"


def fill(client: redis.Redis, events: Iterator[Event]) -> int:
    """Append the events to shard 0 in stream order; returns how many."""
    written = 0
    args: list[bytes] = []
    for event in events:
        args += (event.kind.encode(), encode(event))
        written += 1
        if len(args) >= 2000:
            client.eval(XADD_MANY, 1, KEY, *args)
            args = []
    if args:
        client.eval(XADD_MANY, 1, KEY, *args)
    return written


@pytest.fixture
def detector(redis_server: RedisServer, tmp_path: Path) -> Iterator[Detector]:
    config = tmp_path / "liqmon.toml"
    config.write_text(CONFIG.format(url=redis_server.url), encoding="utf-8")
    started = Detector(config, "draining", tmp_path)
    yield started
    started.stop()


def test_sigterm_with_a_backlog_stops_taking_work_and_publishes_nothing_after_shutdown(
    redis_server: RedisServer, detector: Detector
) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    assert fill(client, backlog(BACKLOG)) == BACKLOG
    detector.wait_for("alert_raised")  # working through the backlog
    detector.proc.send_signal(signal.SIGTERM)
    assert detector.proc.wait(timeout=30) == 0

    events = [str(line.get("event")) for line in detector.lines()]
    requested, stopped, complete = (
        events.index(name) for name in ("shutdown_requested", "detector_runner_stopped", "shutdown_complete")
    )
    assert requested < stopped < complete
    assert "shutdown_deadline" not in events
    raised_after = [i for i, name in enumerate(events) if name == "alert_raised" and i > complete]
    assert raised_after == []
    # Every alert it published was logged before it stopped, and nothing else reached the stream.
    assert len(alerts(client)) == events.count("alert_raised")

    (group,) = client.xinfo_groups(KEY)
    assert group["name"].decode() == EVENTS_GROUP
    assert group["pending"] == 0  # the batch in hand was finished and acknowledged
    assert group["lag"] > 0  # the rest of the backlog was left for the next run
    assert group["entries-read"] + group["lag"] == BACKLOG
