"""``liqmon demo`` end to end: simulators, websockets, the whole pipeline, the console sink (non-TTY)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.integration
def test_demo_plays_the_crash_and_the_console_sink_reports_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    env["LIQMON_VENUES__CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--scenario",
            "feb-2026-crash",
            "--hours",
            "6",
            "--speed",
            "1200",
            "--metrics-port",
            "0",
            "--no-tui",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    firing = {(a["kind"], a["direction"]) for a in alerts if a["status"] == "firing" and a["venue"] is None}
    # On a failure, what did fire (venue alerts included) and the run's own summary say why.
    seen = sorted({(a["kind"], a["direction"], a["venue"]) for a in alerts if a["status"] == "firing"}, key=str)
    why = f"fired: {seen}\nstderr: {proc.stderr[-3000:]}"
    assert ("liquidation_cascade", "long") in firing, why
    assert ("funding_flip", "negative") in firing, why
    assert ("liquidation_cascade", "short") in firing, why
    assert any(a["status"] == "resolved" for a in alerts)
    assert "demo finished" in proc.stderr
    assert "liquidated: longs $" in proc.stderr


def test_demo_never_writes_the_real_instrument_cache(tmp_path: Path) -> None:
    """The simulators' one-instrument lists must not replace the cache a later real run trusts."""
    home = tmp_path / "home"
    real_cache = home / ".cache" / "liqmon"
    real_cache.mkdir(parents=True)
    cached = real_cache / "instruments-okx.json"
    cached.write_text('{"venue": "okx", "instruments": []}')
    before = cached.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    env["HOME"] = str(home)  # the default venues.cache_dir is ~/.cache/liqmon
    capture = Path(__file__).resolve().parents[1] / "fixtures" / "replay" / "small.jsonl"
    demo = ["demo", "--capture", str(capture), "--venues", "okx", "--metrics-port", "0", "--no-tui", "--duration", "20"]
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", *demo],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "demo finished" in proc.stderr
    assert sorted(p.name for p in real_cache.iterdir()) == ["instruments-okx.json"]
    assert cached.read_bytes() == before
