"""Two real ``liqmon detect`` processes on a real Redis: the shard owner dies mid-cascade with entries in flight.

The owner is frozen (SIGSTOP), entries are delivered to it in the consumer
group (as its blocked read takes them), and it is killed (SIGKILL): those
entries stay pending on a dead consumer, read and never handled. The survivor
takes the shard over, rebuilds the state from the stream and claims the dead
owner's pending entries. Each liquidation must count exactly once, and every
raised alert must reach the alerts stream (the sink checked here) exactly
once: ``firing`` then ``resolved``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from monitor.bus.codec import encode
from monitor.bus.keys import EVENTS_GROUP, FIELD_DATA, FIELD_KIND, Keys
from monitor.events import Event
from tests.chaos.checker import check_alerts, check_events
from tests.integration.test_detect_failover import CONFIG, Detector, alerts, owner_caught_up, wait_alerts
from tests.support.services import RedisServer
from tests.unit.detectors.market import heartbeat, liq

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

KEY = Keys().events(0)
CASCADE = "liquidation_cascade"
CLAIMED = "bus_pending_claimed"


@pytest.fixture
def detectors() -> Iterator[list[Detector]]:
    started: list[Detector] = []
    yield started
    for detector in started:
        if detector.proc.poll() is None:
            detector.proc.send_signal(signal.SIGCONT)
        detector.stop()


def numbered(ts: int, n: int, usd: float) -> Event:
    """Long liquidation number ``n`` (its id says so)."""
    return liq(ts, "long", usd, ident=f"liq-{n}")


def publish(client: redis.Redis, events: list[Event], sent: list[str]) -> list[str]:
    """XADD the events to shard 0; returns their entry ids and notes their event ids in ``sent``."""
    with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(KEY, {FIELD_KIND: event.kind.encode(), FIELD_DATA: encode(event)})
        entry_ids = [i.decode() for i in pipe.execute()]
    sent += [e.id for e in events]
    return entry_ids


def wait_stopped(pid: int, timeout: float = 10.0) -> None:
    """Return once ``pid`` is in the stopped state (SIGSTOP is delivered asynchronously)."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.01)


def in_flight_on(client: redis.Redis, consumer: str, entry_ids: list[str]) -> list[str]:
    """Hand ``entry_ids`` to ``consumer`` as its read would (unless its own blocked read already took them).

    Returns the ids pending on ``consumer`` afterwards. The consumer's process is
    frozen, so whoever performed the read, the entries are delivered to it and
    will never be handled by it.
    """
    client.xreadgroup(EVENTS_GROUP, consumer, {KEY: ">"}, count=len(entry_ids))
    rows = client.xpending_range(KEY, EVENTS_GROUP, min="-", max="+", count=1000, consumername=consumer)
    ids = [row["message_id"] for row in rows]
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def group_done(client: redis.Redis) -> bool:
    (group,) = client.xinfo_groups(KEY)
    return bool(group["lag"] == 0 and group["pending"] == 0)


def raised(*detectors: Detector) -> list[str]:
    """Ids of the alerts the detectors say they published."""
    return [str(line["alert_id"]) for d in detectors for line in d.lines() if line.get("event") == "alert_raised"]


def start_pair(config: Path, tmp_path: Path, detectors: list[Detector]) -> tuple[Detector, Detector]:
    owner = Detector(config, "owner", tmp_path)
    detectors.append(owner)
    owner.wait_for("detector_shard_acquired")
    standby = Detector(config, "standby", tmp_path)
    detectors.append(standby)
    standby.wait_for("detector_runner_started")
    return owner, standby


def freeze_with_entries_in_flight(
    client: redis.Redis, owner: Detector, events: list[Event], sent: list[str]
) -> list[str]:
    """SIGSTOP the owner, publish ``events`` and leave them delivered to it; then SIGKILL it."""
    assert owner_caught_up(client)
    owner.proc.send_signal(signal.SIGSTOP)
    wait_stopped(owner.proc.pid)
    entry_ids = publish(client, events, sent)
    pending = in_flight_on(client, "owner", entry_ids)
    assert pending == entry_ids  # read by the owner, never to be handled by it
    owner.proc.send_signal(signal.SIGKILL)
    owner.proc.wait(timeout=10)
    return entry_ids


def wait_caught_up(client: redis.Redis, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not owner_caught_up(client):
        assert time.monotonic() < deadline, "the owner did not catch up"
        time.sleep(0.02)


def stream_ids(client: redis.Redis) -> list[tuple[int, str]]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(KEY)  # type: ignore[assignment]
    return [(0, orjson.loads(fields[FIELD_DATA])["id"]) for _, fields in entries]


def test_owner_killed_mid_cascade_with_entries_in_flight_resolves_exactly_once(
    redis_server: RedisServer, tmp_path: Path, detectors: list[Detector]
) -> None:
    config = tmp_path / "liqmon.toml"
    config.write_text(CONFIG.format(url=redis_server.url), encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000  # event time ten minutes ago, replayed faster than real time
    sent: list[str] = []
    owner, standby = start_pair(config, tmp_path, detectors)

    # Liquidations 0-2 start the cascade (the owner announces it), 3-4 feed it.
    publish(client, [heartbeat(t0)] + [numbered(t0 + 1000 + n * 500, n, 400e3) for n in range(3)], sent)
    first = wait_alerts(client, lambda a: len(a) >= 1)
    assert [(a["kind"], a["status"]) for a in first] == [(CASCADE, "firing")]
    publish(client, [numbered(t0 + 2500 + n * 500, n, 100e3) for n in range(3, 5)], sent)
    wait_caught_up(client)

    # 5-7 are delivered to the owner, which dies before handling them.
    in_flight = [numbered(t0 + 2500 + n * 500, n, 100e3) for n in range(5, 8)]
    freeze_with_entries_in_flight(client, owner, in_flight, sent)
    killed_at = time.monotonic()
    # 8-9 arrive while nobody owns the shard; then event time moves on, past the exit hold.
    publish(client, [numbered(t0 + 2500 + n * 500, n, 100e3) for n in range(8, 10)], sent)
    publish(client, [heartbeat(t0 + s * 1000) for s in range(8, 40)], sent)
    acquired = standby.wait_for("detector_shard_acquired", timeout=15)
    takeover_s = time.monotonic() - killed_at
    assert acquired["firing"] == [f"{CASCADE}:BTC:long"]  # the rebuilt state knows the announced episode
    publish(client, [heartbeat(t0 + s * 1000) for s in range(40, 120)], sent)

    final = wait_alerts(client, lambda a: any(x["status"] == "resolved" for x in a))
    deadline = time.monotonic() + 15
    while not group_done(client):  # every entry handled and acknowledged, the claimed ones too
        assert time.monotonic() < deadline, client.xinfo_groups(KEY)
        time.sleep(0.02)
    standby.stop()
    assert standby.proc.returncode == 0
    claimed = sum(int(str(line["count"])) for line in standby.lines() if line.get("event") == CLAIMED)

    in_stream = alerts(client)
    cascade = [a for a in in_stream if a["kind"] == CASCADE]
    assert [a["status"] for a in cascade] == ["firing", "resolved"], cascade
    assert cascade[1]["started_ms"] == cascade[0]["started_ms"]
    # Every liquidation counted once, whether the owner, the rebuild or the survivor handled it.
    values = cascade[1]["values"]
    assert isinstance(values, dict)
    assert values["count"] == 10, values
    assert values["total_usd"] == pytest.approx(3 * 400e3 + 7 * 100e3)  # $1.9M: 9.5x, info throughout
    check_alerts(raised(owner, standby), {"alerts stream": [str(a["id"]) for a in in_stream]}).assert_ok()
    assert len(final) == len(in_stream) == 2
    report = check_events(sent, sent, stream_ids(client))
    report.assert_ok(duplicates_allowed=False)
    print(
        f"detector kill -9 mid-cascade: {len(sent)} events, 3 in flight on the dead owner, "
        f"takeover after {takeover_s:.1f} s (lease 2 s), rebuilt {acquired['rebuilt_events']}, "
        f"claimed from the dead owner {claimed}, alerts in stream {[a['status'] for a in cascade]}"
    )


def test_owner_killed_with_the_cascade_trigger_in_flight_still_announces_it(
    redis_server: RedisServer, tmp_path: Path, detectors: list[Detector]
) -> None:
    config = tmp_path / "liqmon.toml"
    config.write_text(CONFIG.format(url=redis_server.url), encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000
    sent: list[str] = []
    owner, standby = start_pair(config, tmp_path, detectors)

    publish(client, [heartbeat(t0)] + [numbered(t0 + 1000 + n * 500, n, 400e3) for n in range(2)], sent)
    wait_caught_up(client)
    # The third liquidation (min_count = 3) fires the cascade; it is read by the owner, which dies with it.
    freeze_with_entries_in_flight(client, owner, [numbered(t0 + 2000, 2, 400e3)], sent)
    publish(client, [heartbeat(t0 + s * 1000) for s in range(3, 40)], sent)
    standby.wait_for("detector_shard_acquired", timeout=15)
    publish(client, [heartbeat(t0 + s * 1000) for s in range(40, 120)], sent)
    wait_alerts(client, lambda a: any(x["status"] == "resolved" for x in a))
    standby.stop()

    statuses = [a["status"] for a in alerts(client) if a["kind"] == CASCADE]
    assert statuses == ["firing", "resolved"]
