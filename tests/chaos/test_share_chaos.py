"""Three real ``liqmon detect`` processes sharing the shards: one is killed and another started mid-cascade.

The owner of the cascading asset's shard is killed with SIGKILL in the middle
of the cascade and a fourth process joins at the same time, so the shares move
while the episode is open. Throughout, the leases are sampled: no shard ever has
two holders in one sample (a lease names one holder by construction, so the
check is that every shard is owned again once the dead owner's lease has
lapsed within the lease time plus a renewal), and the episode is announced
once — one ``firing`` alert per severity it reaches and one ``resolved``, each
with a single id and in the alerts stream once (a new owner re-raising an alert
its predecessor published before dying is not appended again) — whoever
handles it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from monitor.bus.base import shard_of
from monitor.bus.codec import encode_batch
from monitor.bus.keys import FIELD_COUNT, FIELD_DATA, Keys
from monitor.detectors.runner import lease_name
from monitor.events import Event
from tests.integration.test_detect_failover import CONFIG, Detector, alerts, wait_alerts
from tests.support.services import RedisServer
from tests.unit.detectors.market import heartbeat, liq

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SHARDS = 4
LEASE_TTL_S = 2.0
RENEW_S = 0.5
BTC_SHARD = shard_of("BTC", SHARDS)


@pytest.fixture
def detectors() -> Iterator[list[Detector]]:
    started: list[Detector] = []
    yield started
    for detector in started:
        detector.stop()


def publish(client: redis.Redis, events: list[Event]) -> None:
    """One batched entry on BTC's shard, as a collector writes it."""
    client.xadd(Keys().events(BTC_SHARD), {FIELD_COUNT: len(events), FIELD_DATA: encode_batch(events)})


def holders(client: redis.Redis) -> list[str | None]:
    values = [client.get(Keys().lease(lease_name(s))) for s in range(SHARDS)]
    return [v.decode() if v else None for v in values]


class LeaseWatch:
    """Samples the shard leases in a thread; notes the longest time each shard went without a holder."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.longest_unowned = [0.0] * SHARDS
        self._free_since: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            now = time.monotonic()
            for shard, holder in enumerate(holders(self.client)):
                if holder is None:
                    since = self._free_since.setdefault(shard, now)
                    self.longest_unowned[shard] = max(self.longest_unowned[shard], now - since)
                else:
                    self._free_since.pop(shard, None)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


def test_a_member_killed_and_another_started_mid_cascade_announce_each_episode_once(
    redis_server: RedisServer, tmp_path: Path, detectors: list[Detector]
) -> None:
    config = tmp_path / "liqmon.toml"
    text = CONFIG.format(url=redis_server.url)
    text = text.replace("shard_count = 1", f"shard_count = {SHARDS}")
    text = text.replace("lease_ttl_s = 2.0", f"lease_ttl_s = {LEASE_TTL_S}").replace(
        "lease_renew_s = 0.5", f"lease_renew_s = {RENEW_S}"
    )
    config.write_text(text, encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000

    for name in ("d1", "d2", "d3"):
        detector = Detector(config, name, tmp_path)
        detectors.append(detector)
    by_name = {d.name: d for d in detectors}
    # Fair shares of 4 shards among 3: 2, 1, 1.
    wait_for(lambda: sorted(holders(client).count(n) for n in by_name) == [1, 1, 2], 30, "the shares settling")

    with LeaseWatch(client) as watch:
        publish(client, [heartbeat(t0)] + [liq(t0 + 1000 + i * 500, "long", 400e3) for i in range(3)])
        wait_alerts(client, lambda a: len(a) >= 1)
        owner = by_name[str(holders(client)[BTC_SHARD])]
        publish(client, [liq(t0 + 3000 + i * 500, "long", 300e3) for i in range(3)])
        owner.proc.send_signal(signal.SIGKILL)  # mid-cascade
        owner.proc.wait(timeout=10)
        newcomer = Detector(config, "d4", tmp_path)
        detectors.append(newcomer)
        live = [d.name for d in detectors if d is not owner]
        # The cascade fades while its shard changes hands: heartbeats carry event time past the hold.
        for s in range(6, 120, 10):
            publish(client, [heartbeat(t0 + (s + i) * 1000) for i in range(10)])
        wait_for(lambda: set(holders(client)) == set(live), 30, "the three live members owning every shard")
        wait_for(lambda: sorted(holders(client).count(n) for n in live) == [1, 1, 2], 30, "the shares settling again")
        final = wait_alerts(client, lambda a: any(x["status"] == "resolved" for x in a))

    cascade = [a for a in final if a["kind"] == "liquidation_cascade"]
    # One episode: one alert per severity it reached (an escalation is its own alert) and one resolved,
    # each with one id, each in the stream once: an owner killed between publishing an alert and
    # acknowledging its entry leaves the alert to be raised again by the next owner, and the bus
    # appends an alert id only once.
    assert cascade[0]["status"] == "firing"
    assert cascade[-1]["status"] == "resolved"
    assert len({a["started_ms"] for a in cascade}) == 1
    ids: dict[tuple[object, object], set[object]] = {}
    for alert in cascade:
        ids.setdefault((alert["status"], alert["severity"]), set()).add(alert["id"])
    assert all(len(same) == 1 for same in ids.values()), ids
    assert len(cascade) == len(ids), [a["id"] for a in cascade]
    assert [key for key in ids if key[0] == "resolved"] == [("resolved", cascade[-1]["severity"])]
    assert cascade[-1]["values"]["count"] == 6  # type: ignore[index]
    # Every alert a member said it raised is in the stream.
    said = {str(line["alert_id"]) for d in detectors for line in d.lines() if line.get("event") == "alert_raised"}
    assert said <= {str(a["id"]) for a in alerts(client)}
    # No shard waited for an owner longer than the dead owner's lease plus one renewal of the others
    # (and the scheduling slack of a loaded machine).
    assert max(watch.longest_unowned) <= LEASE_TTL_S + RENEW_S + 1.0, watch.longest_unowned
