"""Two real ``liqmon detect`` processes on a real Redis: kill -9 the shard owner mid-cascade.

The survivor takes the shard over within the lease time, rebuilds the state
from the stream's history without announcing anything, and the cascade's
``resolved`` alert arrives exactly once, with no second ``firing``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from monitor.bus.codec import encode
from monitor.bus.keys import FIELD_DATA, FIELD_KIND, Keys
from monitor.events import Event
from tests.support.services import RedisServer
from tests.unit.detectors.market import heartbeat, liq

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONFIG = """
[log]
format = "json"
level = "info"

[metrics]
enabled = false

[app]
shutdown_timeout_s = 5.0

[bus]
redis_url = "{url}"
shard_count = 1
block_ms = 200
claim_idle_ms = 1000

[detectors]
lease_ttl_s = 2.0
lease_renew_s = 0.5
block_ms = 200

[detectors.assets.BTC.cascade]
window_s = 60
bucket_s = 1
floor_usd = 1000000
min_count = 3
warmup_min = 0
hold_s = 10
cooldown_s = 600
"""


class Detector:
    """A ``liqmon detect`` child process whose JSON log lines are read from a file."""

    def __init__(self, config: Path, name: str, workdir: Path, *, env: dict[str, str] | None = None) -> None:
        self.log = workdir / f"{name}.log"
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "detect", "-c", str(config), "--consumer", name],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[dict[str, object]]:
        out = []
        for raw in self.log.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out

    def wait_for(self, event: str, timeout: float = 20.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if line.get("event") == event:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name} never logged {event!r}:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def detectors(tmp_path: Path) -> Iterator[list[Detector]]:
    started: list[Detector] = []
    yield started
    for detector in started:
        detector.stop()


def publish(client: redis.Redis, events: list[Event]) -> None:
    key = Keys().events(0)
    with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(key, {FIELD_KIND: event.kind.encode(), FIELD_DATA: encode(event)})
        pipe.execute()


def owner_caught_up(client: redis.Redis) -> bool:
    """Every event delivered to the group and acknowledged (the owner handled all of it)."""
    (group,) = client.xinfo_groups(Keys().events(0))
    return bool(group["lag"] == 0 and group["pending"] == 0)


def alerts(client: redis.Redis) -> list[dict[str, object]]:
    return [orjson.loads(fields[FIELD_DATA]) for _, fields in client.xrange(Keys().alerts)]


def wait_alerts(client: redis.Redis, predicate: object, timeout: float = 20.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = alerts(client)
        if predicate(got):  # type: ignore[operator]
            return got
        time.sleep(0.05)
    raise AssertionError(f"alerts stream never matched; it holds {alerts(client)}")


def test_owner_killed_mid_cascade_survivor_resolves_once(
    redis_server: RedisServer, tmp_path: Path, detectors: list[Detector]
) -> None:
    config = tmp_path / "liqmon.toml"
    config.write_text(CONFIG.format(url=redis_server.url), encoding="utf-8")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    t0 = int(time.time() * 1000) - 600_000  # event time: ten minutes ago, replayed faster than real time

    owner = Detector(config, "owner", tmp_path)
    detectors.append(owner)
    owner.wait_for("detector_shard_acquired")
    standby = Detector(config, "standby", tmp_path)
    detectors.append(standby)
    standby.wait_for("detector_runner_started")

    publish(client, [heartbeat(t0)] + [liq(t0 + 1000 + i * 500, "long", 400e3) for i in range(3)])
    first = wait_alerts(client, lambda a: len(a) >= 1)
    assert [(a["kind"], a["status"]) for a in first] == [("liquidation_cascade", "firing")]
    # More of the cascade, handled by the owner (no new alert: $1.8M is 9x, still info), then the owner dies.
    publish(client, [liq(t0 + 3000 + i * 500, "long", 200e3) for i in range(3)])
    deadline = time.monotonic() + 10
    while not owner_caught_up(client) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert owner_caught_up(client)
    owner.proc.send_signal(signal.SIGKILL)
    owner.proc.wait(timeout=10)

    # While nobody owns the shard the cascade fades: heartbeats carry event time past the exit hold.
    publish(client, [heartbeat(t0 + s * 1000) for s in range(6, 40)])
    acquired = standby.wait_for("detector_shard_acquired", timeout=10)
    assert acquired["firing"] == ["liquidation_cascade:BTC:long"]
    assert acquired["rebuilt_events"] == 7  # what the owner had handled, replayed silently
    publish(client, [heartbeat(t0 + s * 1000) for s in range(40, 120)])

    final = wait_alerts(client, lambda a: any(x["status"] == "resolved" for x in a))
    cascade = [a for a in final if a["kind"] == "liquidation_cascade"]
    assert [a["status"] for a in cascade] == ["firing", "resolved"]
    assert cascade[1]["started_ms"] == cascade[0]["started_ms"]
    assert cascade[1]["values"]["count"] == 6  # type: ignore[index]

    # Nothing else arrives once the survivor has seen everything.
    standby.stop()
    assert standby.proc.returncode == 0
    assert [a["status"] for a in alerts(client) if a["kind"] == "liquidation_cascade"] == ["firing", "resolved"]
