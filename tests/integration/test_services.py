"""The test services themselves start on free ports and stop cleanly."""

from __future__ import annotations

import pytest

from tests.support.services import MosquittoServer, RedisServer, wait_for_port

pytestmark = pytest.mark.integration


def test_redis_server_answers_and_restarts_with_aof(redis_aof_server: RedisServer) -> None:
    assert redis_aof_server.port != 6379
    assert redis_aof_server.command("SET", "k", "v").startswith(b"+OK")
    redis_aof_server.restart(kill=True)
    assert redis_aof_server.command("GET", "k") == b"$1\r\nv\r\n"


def test_redis_without_persistence_loses_data_on_restart(redis_server: RedisServer) -> None:
    redis_server.command("SET", "k", "v")
    redis_server.restart()
    assert redis_server.command("GET", "k") == b"$-1\r\n"


def test_mosquitto_listens_on_its_own_port(mosquitto_server: MosquittoServer) -> None:
    assert mosquitto_server.port != 1883
    wait_for_port(mosquitto_server.port, timeout=1)
