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
    assert ("liquidation_cascade", "long") in firing
    assert ("funding_flip", "negative") in firing
    assert ("liquidation_cascade", "short") in firing
    assert any(a["status"] == "resolved" for a in alerts)
    assert "demo finished" in proc.stderr
    assert "liquidated: longs $" in proc.stderr
