"""Shared fixtures: fresh metrics per test, real redis-server and mosquitto on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics, set_default_metrics
from tests.support.services import MosquittoServer, RedisServer, running_mosquitto, running_redis

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Real venue payloads (from the venues' docs and public recordings), kept with the tests so the suite
# runs from any checkout.
SAMPLES = FIXTURES / "samples"


@pytest.fixture(autouse=True)
def metrics() -> Metrics:
    """A fresh metric catalogue, also installed as the process default for this test."""
    fresh = Metrics(CollectorRegistry())
    set_default_metrics(fresh)
    return fresh


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server without persistence."""
    with running_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def redis_aof_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server with AOF on (survives kill -9 + restart)."""
    with running_redis(tmp_path / "redis-aof", appendonly=True) as server:
        yield server


@pytest.fixture
def mosquitto_server(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A throwaway mosquitto broker."""
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server
