"""Shared fixtures: fresh metrics per test, real redis-server and mosquitto on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics, set_default_metrics
from tests.support.services import MosquittoServer, RedisServer, running_mosquitto, running_redis

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Real venue payloads (from the venues' docs and public recordings), kept with the tests so the suite
# runs from any checkout.
SAMPLES = FIXTURES / "samples"


def stale_compiled_modules(root: Path) -> list[str]:
    """Sources edited after ``make`` compiled them: Python would still import the old compiled module."""
    stale = []
    for built in sorted((root / "monitor").glob("*/*.so")):
        source = built.with_name(built.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            stale.append(str(source.relative_to(root)))
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test a stale build (see setup.py: ``make`` compiles the detector modules in place)."""
    stale = stale_compiled_modules(ROOT)
    if stale:
        pytest.exit(f"{', '.join(stale)} changed after it was compiled: run `make` to compile it again", returncode=2)


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
