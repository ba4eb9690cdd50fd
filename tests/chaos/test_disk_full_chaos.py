"""Disk full under ``liqmon run --capture-out``: the capture stops, the feeds never notice.

A real ``liqmon run`` process reads Binance and Bybit simulators playing a
steady stream of numbered liquidations and records every frame with
``--capture-out``. The process runs under a 64 KiB file-size limit
(``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored, so a write past it fails with
``EFBIG`` like one on a full 64 KiB tmpfs fails with ``ENOSPC``), which the
capture reaches within the first second or two. Before the fix the write error
escaped into the feed loop: every frame dropped the connection, with a gap
marker and a reconnect each time.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.capture.format import CaptureRecord, read_capture
from monitor.sim.server import run_simulators
from monitor.sim.venue import SimOptions
from tests.chaos.test_venue_chaos import T0, binance_liq, bybit_liq, instrument_records
from tests.support.services import HOST, free_port

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LIMIT = 64 * 1024
LIQUIDATIONS = 6000  # per venue, 4 ms apart: 24 s of stream at speed 1, far more than the test needs
AFTER_FAILURE = 1000  # frames the feeds must deliver after the capture stopped


def limited() -> None:
    """In the child before exec: file writes beyond LIMIT bytes fail with EFBIG instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def stream(venue: str) -> list[CaptureRecord]:
    make = binance_liq if venue == "binance" else bybit_liq
    return instrument_records(venue) + [
        CaptureRecord(recv_ms=T0 + 4 * n, venue=venue, frame=make(n)) for n in range(LIQUIDATIONS)
    ]


def config(path: Path, urls: dict[str, tuple[str, str]], port: int) -> None:
    lines = [
        '[log]\nlevel = "info"\nformat = "json"',
        f'[metrics]\nhost = "{HOST}"\nport = {port}',
        f'[venues]\ncache_dir = "{path.parent / "cache"}"',
    ]
    for venue in ("okx", "deribit", "bitmex", "hyperliquid", "gate", "bitget"):
        lines.append(f"[venues.{venue}]\nenabled = false")
    for venue, (ws, rest) in urls.items():
        lines.append(f'[venues.{venue}]\nsymbols = ["BTCUSDT"]\nws_url = "{ws}"\nrest_url = "{rest}"')
    path.write_text("\n".join(lines) + "\n")


def start(config_file: Path, capture: Path) -> subprocess.Popen[bytes]:
    """``liqmon run --capture-out`` under the file-size limit (Popen returns at once: nothing blocks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config_file), "--capture-out", str(capture)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=limited,  # noqa: PLW1509 - the limit must be set in the child before it execs
    )


class Lines:
    """Collects a pipe's lines in a thread (the child's stderr is a pipe: the file-size limit spares it)."""

    def __init__(self, pipe: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: object) -> None:
        for raw in pipe:  # type: ignore[attr-defined]
            self.lines.append(raw.decode(errors="replace"))

    def join(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)


async def scrape(client: httpx.AsyncClient, port: int) -> dict[str, float]:
    """Every sample of /metrics, keyed by name and labels."""
    body = (await client.get(f"http://{HOST}:{port}/metrics")).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    want = [f"{k}={v}" for k, v in labels.items()]
    return sum(v for k, v in samples.items() if k.split("{")[0] == name and all(w in k.split("{")[1] for w in want))


async def wait_for(what: str, check: Callable[[], object], proc: subprocess.Popen[bytes], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():  # type: ignore[misc]
        assert proc.poll() is None, f"liqmon run exited with {proc.returncode} while waiting for {what}"
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_disk_full_stops_the_capture_and_the_feeds_keep_running(tmp_path: Path) -> None:
    records = stream("binance") + stream("bybit")
    options = SimOptions(hold_timeout_s=30.0)
    async with run_simulators(records, ["binance", "bybit"], speed=1.0, options=options) as sims:
        port = free_port()
        urls = {v: (sims.ws_url(v), sims.rest_url(v)) for v in ("binance", "bybit")}
        config(tmp_path / "liqmon.toml", urls, port)
        capture = tmp_path / "capture.jsonl"
        proc = start(tmp_path / "liqmon.toml", capture)
        err = Lines(proc.stderr)
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
                samples: dict[str, float] = {}

                async def capture_failed() -> bool:
                    nonlocal samples
                    try:
                        samples = await scrape(client, port)
                    except httpx.HTTPError:
                        return False
                    return total(samples, "liqmon_capture_write_errors_total") >= 1

                await wait_for("the capture to hit the limit", capture_failed, proc, 60)
                at_failure = total(samples, "liqmon_feed_messages_total")
                assert total(samples, "liqmon_capture_writing") == 0

                async def kept_flowing() -> bool:
                    nonlocal samples
                    samples = await scrape(client, port)
                    return total(samples, "liqmon_feed_messages_total") >= at_failure + AFTER_FAILURE

                await wait_for(f"{AFTER_FAILURE} more frames after the failure", kept_flowing, proc, 60)
            # The feeds never noticed: both still connected, no reconnect, no gap, one failure counted.
            for venue in ("binance", "bybit"):
                assert total(samples, "liqmon_feed_connected", venue=venue) == 1, venue
                assert total(samples, "liqmon_liquidations_total", venue=venue) > 0, venue
            assert total(samples, "liqmon_feed_reconnects_total") == 0
            assert total(samples, "liqmon_feed_gaps_total") == 0
            assert total(samples, "liqmon_capture_write_errors_total") == 1
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 30)
            log = err.join()
            assert proc.stderr is not None
            proc.stderr.close()
    assert code == 0, log[-3000:]
    failures = [line for line in log.splitlines() if '"capture_write_failed"' in line]
    assert len(failures) == 1, log[-3000:]
    assert '"level":"error"' in failures[0]
    assert "File too large" in failures[0]
    assert "venue_disconnected" not in log
    # What was written before the failure is a readable capture, within the limit.
    assert capture.stat().st_size <= LIMIT
    written = list(read_capture(capture))
    assert len(written) > 100
    assert {r.venue for r in written} == {"binance", "bybit"}
