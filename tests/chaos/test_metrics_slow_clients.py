"""Slow clients flood the metrics port of a real ``liqmon`` process; health and readiness stay answerable.

Hundreds of sockets trickle a request head a byte at a time (slowloris),
reconnecting whenever the server drops them, while a probe asks ``/healthz``
and ``/readyz`` the way the Docker health check does (its own connection, a
4 s timeout). Every probe must answer 200.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.test_process_chaos import LIQMON, ROOT, liqmon_env
from tests.conftest import FIXTURES
from tests.support.services import HOST, free_port, wait_for_port

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SLOW_CLIENTS = 300
ATTACK_S = 3.0


class Slowloris:
    """Keeps ``count`` connections open, each sending one more header byte every so often."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self.dropped = 0  # connections the server closed on us (each is replaced at once)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Slowloris:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=1)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        except OSError:
            return None
        sock.setblocking(False)
        self.opened += 1
        return sock

    def _run(self) -> None:
        sockets: list[socket.socket | None] = [self._connect() for _ in range(self.count)]
        while not self._stop.wait(0.2):
            for i, sock in enumerate(sockets):
                if sock is not None:
                    try:
                        sock.send(b"a")
                        continue
                    except OSError:
                        sock.close()
                        self.dropped += 1
                sockets[i] = self._connect()
        for sock in sockets:
            if sock is not None:
                sock.close()


def probe(port: int, path: str) -> int:
    """Status of one GET, as the Docker health check makes it (its own connection, 4 s timeout)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=4) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def held_replay(tmp_path: Path) -> Iterator[int]:
    """A real ``liqmon replay --hold`` serving metrics on a free port; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [*LIQMON, "replay", str(FIXTURES / "replay" / "small.jsonl"), "--metrics-port", str(port), "--hold"],
        cwd=ROOT,
        env=liqmon_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield port
        assert proc.poll() is None, f"liqmon exited with {proc.returncode} under slow-client load"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_health_and_readiness_answer_200_under_slow_client_load(held_replay: int) -> None:
    port = held_replay
    statuses: dict[str, list[int]] = {"/healthz": [], "/readyz": []}
    with Slowloris(port, SLOW_CLIENTS) as attack:
        deadline = time.monotonic() + ATTACK_S
        while time.monotonic() < deadline:
            for path, seen in statuses.items():
                seen.append(probe(port, path))
    assert attack.opened >= SLOW_CLIENTS
    for path, seen in statuses.items():
        assert seen, path
        assert set(seen) == {200}, f"{path}: {len(seen)} probes, answers {sorted(set(seen))}, {seen.count(200)} ok"
    print(
        f"slow clients: {SLOW_CLIENTS} sockets ({attack.opened} opened, {attack.dropped} dropped by the server) "
        f"for {ATTACK_S:.0f} s; /healthz {len(statuses['/healthz'])}/{len(statuses['/healthz'])} 200, "
        f"/readyz {len(statuses['/readyz'])}/{len(statuses['/readyz'])} 200"
    )
