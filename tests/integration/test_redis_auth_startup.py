"""The Redis roles against a password-protected redis-server: refused credentials end the start-up.

``collect``, ``detect`` and ``alert`` exit 2 at once with one line naming the
Redis URL (password masked) and the setting to fix, instead of retrying a
password that can never work. Redis being unreachable is different: it may come
up later, so a role started before it keeps retrying and gets on with its work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_detect_failover import Detector
from tests.support.services import HOST, RedisServer, free_port, running_redis

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pass"
ROLES = ("collect", "detect", "alert")

CONFIG = """
[log]
format = "json"

[metrics]
enabled = false

[bus]
redis_url = "{url}"
shard_count = 1
block_ms = 200

[detectors]
lease_ttl_s = 2.0
lease_renew_s = 0.5
block_ms = 200

[venues]
cache_dir = "{cache}"
bybit.enabled = false
okx.enabled = false
deribit.enabled = false
bitmex.enabled = false
hyperliquid.enabled = false
gate.enabled = false
bitget.enabled = false
binance.symbols = ["BTCUSDT"]
binance.ws_url = "ws://{host}:{closed}"
binance.rest_url = "http://{host}:{closed}"
"""


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis", password=PASSWORD) as server:
        yield server


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "liqmon.toml"
    config.write_text(CONFIG.format(url=url, cache=tmp_path / "cache", host=HOST, closed=free_port()), encoding="utf-8")
    return config


def liqmon(role: str, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``liqmon ROLE``; a role that never gives up is killed by the timeout and fails the test."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", role, "-c", str(config)],
        cwd=REPO,
        env={**environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("role", ROLES)
def test_missing_password_fails_the_start_up(role: str, protected: RedisServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, protected.url)
    done = liqmon(role, config)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert protected.url in message  # which Redis refused
    assert "LIQMON_BUS__REDIS_PASSWORD" in message  # and what to do about it


@pytest.mark.parametrize("role", ROLES)
def test_wrong_password_in_the_url_is_masked_in_the_message(role: str, protected: RedisServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"redis://:wrong-pass@{HOST}:{protected.port}/0")
    done = liqmon(role, config)
    assert done.returncode == 2, done.stderr
    assert f"redis://:********@{HOST}:{protected.port}/0" in done.stderr
    assert "wrong-pass" not in done.stderr + done.stdout


def test_wrong_password_from_the_environment(protected: RedisServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, protected.url)
    done = liqmon("detect", config, LIQMON_BUS__REDIS_PASSWORD="not-it")
    assert done.returncode == 2, done.stderr
    assert "bus.redis_password" in done.stderr
    assert "not-it" not in done.stderr + done.stdout


def test_redis_down_at_start_up_is_retried_until_it_comes(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "late", password=PASSWORD)
    config = write_config(tmp_path, server.url)
    detector = Detector(config, "late", tmp_path, env={"LIQMON_BUS__REDIS_PASSWORD": PASSWORD})
    try:
        detector.wait_for("bus_unreachable_at_start_up")
        server.start()
        detector.wait_for("detector_shard_acquired")
        detector.stop()
        assert detector.proc.returncode == 0
    finally:
        detector.stop()
        server.stop(kill=True)
