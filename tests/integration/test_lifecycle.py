"""Process lifecycle: SIGTERM/SIGINT drain and exit 0; a crashing task exits 1 with the error logged."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.app import Application
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from monitor.settings import load_settings
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"liqmon exited early with {proc.returncode}: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        if path.exists() and len(path.read_bytes().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    events_out = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "replay",
            str(FIXTURES / "replay" / "small.jsonl"),
            "--hold",
            "--metrics-port",
            "0",
            "--events-out",
            str(events_out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_lines(events_out, 7, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"shutdown_requested" in err
    assert b"shutdown_complete" in err
    assert len(events_out.read_bytes().splitlines()) == 7


class ExplodingBus(MemoryBus):
    """An in-memory bus whose background task fails, as a Redis client bug would."""

    async def run(self, stop: asyncio.Event) -> None:
        raise RuntimeError("bus worker failed")


async def test_a_crashing_task_stops_everything_and_exits_one() -> None:
    metrics = Metrics()
    settings = load_settings(environ={})
    app = Application(
        settings, roles={"detect", "alert"}, metrics=metrics, bus=ExplodingBus(metrics=metrics), serve_metrics=False
    )
    with capture_logs() as logs:
        code = await asyncio.wait_for(app.run(install_signals=False), 30)
    assert code == 1
    crashed = [entry for entry in logs if entry["event"] == "task_crashed"]
    assert crashed
    assert "bus worker failed" in crashed[0]["error"]


async def test_shutdown_is_bounded_by_the_deadline() -> None:
    """A stage that ignores its stop event is cancelled at app.shutdown_timeout_s and the exit is still 0."""
    metrics = Metrics()
    settings = load_settings(environ={"LIQMON_APP__SHUTDOWN_TIMEOUT_S": "0.5"})

    class StuckBus(MemoryBus):
        async def flush(self, timeout: float) -> bool:
            await asyncio.Event().wait()  # never returns: only the deadline ends this
            return True

    app = Application(settings, roles={"detect"}, metrics=metrics, bus=StuckBus(metrics=metrics), serve_metrics=False)
    app.request_stop()
    with capture_logs() as logs:
        code = await asyncio.wait_for(app.run(install_signals=False), 30)
    assert code == 0
    assert any(entry["event"] == "shutdown_deadline" for entry in logs)
