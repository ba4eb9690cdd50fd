"""``liqmon top`` and ``liqmon alerts`` against running deployments, read off a real terminal (tmux).

* embedded: ``liqmon run`` against the venue simulators; ``top`` reads its ``/state``.
* scaled out: ``liqmon collect``, ``detect`` and ``alert`` on a real redis-server; ``top``
  reads the streams read-only (no consumer group of its own appears).
* ``liqmon demo`` at two terminal sizes: one title, one header, every venue, no log lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.commands.demo import timing_overrides
from monitor.venues.registry import VENUES
from tests.support.services import HOST, RedisServer, free_port, wait_for_port
from tests.support.sim_serve import env_name
from tests.support.terminal import terminal

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The venues whose frames carry their own event times (an accelerated playback keeps those times).
TIMED = ["binance", "bybit", "okx", "deribit", "gate", "bitget"]
SPEED = 1200.0
HOURS = 3.0


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    env["LIQMON_VENUES__CACHE_DIR"] = str(tmp_path / "cache")
    env["LIQMON_LOG__LEVEL"] = "warning"
    for key, value in timing_overrides(SPEED).items():
        env[env_name(key)] = str(value)
    return env


def term_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a command in the terminal gets (``env -i``): liqmon's settings plus the basics."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in env.items() if k.startswith("LIQMON_") or k in keep}


@contextmanager
def simulators(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The simulators in their own process; yields the LIQMON_* environment pointing at them."""
    command = [sys.executable, "-m", "tests.support.sim_serve", "--hours", str(HOURS), "--speed", str(SPEED)]
    with (
        (tmp_path / "sims.log").open("w") as log,
        subprocess.Popen(
            [*command, "--venues", *TIMED],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT,
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, (tmp_path / "sims.log").read_text()[-2000:]
            yield json.loads(line)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def liqmon(tmp_path: Path, name: str, args: list[str], env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A liqmon process (stopped with SIGTERM afterwards); its log in ``tmp_path/name.log``."""
    with (
        (tmp_path / f"{name}.log").open("w") as log,
        subprocess.Popen(
            [sys.executable, "-m", "monitor", *args], env=dict(env), stdout=log, stderr=log, cwd=ROOT
        ) as proc,
    ):
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def section(screen: list[str], title: str, end: str) -> list[str]:
    """The rows of the screen between the line ``title`` and the next line starting with ``end``."""
    start = next(i for i, row in enumerate(screen) if row.strip() == title)
    rows = []
    for row in screen[start + 1 :]:
        if row.startswith(end):
            break
        rows.append(row)
    return rows


def feed_rows(screen: list[str]) -> dict[str, list[str]]:
    """venue → the cells of its row in the feeds table."""
    if not any(row.strip() == "feeds" for row in screen):
        return {}
    rows = section(screen, "feeds", "assets")
    return {cells[0]: cells for row in rows[1:] if (cells := row.split()) and cells[0] in VENUES}


def alert_rows(screen: list[str]) -> list[str]:
    if not any(row.startswith("last alerts") for row in screen):
        return []
    rows = section(screen, "last alerts (newest first)", "log lines")
    return [r for r in rows if re.match(r"^\d\d \w{3} \d\d:\d\d:\d\d\s+(firing|resolved)", r)]


def flowing(screen: list[str], venues: list[str], *, connections: bool) -> bool:
    """Every venue ok with liquidations counted and a rate shown, and some alert listed."""
    rows = feed_rows(screen)
    for venue in venues:
        cells = rows.get(venue)
        if cells is None or cells[1] != "ok" or cells[4] in ("0", "…") or cells[3] == "…":
            return False
        if connections and cells[2] in ("0", "-"):
            return False
    return bool(alert_rows(screen))


def test_top_shows_an_embedded_liqmon_run_and_alerts_lists_what_fired(tmp_path: Path) -> None:
    port = free_port()
    with simulators(tmp_path) as sim_env:
        env = {**base_env(tmp_path), **sim_env, "LIQMON_METRICS__PORT": str(port), "LIQMON_ALERTS__CONSOLE": "false"}
        with liqmon(tmp_path, "run", ["run"], env):
            wait_for_port(port, timeout=30)
            # No --url: top finds the daemon from the same configuration (metrics.host/port).
            with terminal(
                tmp_path / "top", [sys.executable, "-m", "monitor", "top"], term_env(env), width=160, height=45
            ) as term:
                screen = term.wait_for(
                    lambda s: flowing(s, TIMED, connections=True), 90, "every feed flowing and an alert"
                )
                assert screen[0].startswith("liqmon top")
                assert "q or Ctrl-C: quit" in screen[0]
                assert sum("liqmon top" in row for row in screen) == 1
                shown = alert_rows(screen)
                term.keys("q")
                assert term.wait_exit(10) == 0
            listed = subprocess.run(
                [sys.executable, "-m", "monitor", "alerts", "--since", "1h", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                cwd=ROOT,
            )
    alerts = [json.loads(line) for line in listed.stdout.splitlines()]
    assert alerts, listed.stderr
    summaries = {a["summary"] for a in alerts}
    # Every alert the view listed is one the daemon reports as raised (lines are cut at the screen edge).
    for row in shown:
        text = row.split(None, 5)[5].rstrip("…")
        assert any(s.startswith(text) for s in summaries), (row, summaries)


def groups_and_consumers(redis: RedisServer, prefix: str, shards: int) -> set[tuple[str, str, str]]:
    """(stream, group, consumer) for every consumer of every liqmon stream."""
    import redis as redis_py

    client = redis_py.Redis(host=HOST, port=redis.port, decode_responses=True)
    found: set[tuple[str, str, str]] = set()
    for key in [f"{prefix}:events:{{{n}}}" for n in range(shards)] + [f"{prefix}:alerts"]:
        if not client.exists(key):
            continue
        for group in client.xinfo_groups(key):
            found.add((key, group["name"], ""))
            for consumer in client.xinfo_consumers(key, group["name"]):
                found.add((key, group["name"], consumer["name"]))
    client.close()
    return found


def test_top_reads_a_scaled_out_deployment_from_redis_without_joining_a_group(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with simulators(tmp_path) as sim_env:
        env = {**base_env(tmp_path), **sim_env, "LIQMON_BUS__REDIS_URL": redis_server.url}
        env["LIQMON_METRICS__ENABLED"] = "false"
        with (
            liqmon(tmp_path, "collect", ["collect"], {**env, "LIQMON_BUS__CONSUMER_NAME": "collector-1"}),
            liqmon(tmp_path, "detect", ["detect"], {**env, "LIQMON_BUS__CONSUMER_NAME": "detector-1"}),
            liqmon(
                tmp_path,
                "alert",
                ["alert"],
                {**env, "LIQMON_BUS__CONSUMER_NAME": "dispatcher-1", "LIQMON_ALERTS__CONSOLE": "true"},
            ),
        ):
            with terminal(
                tmp_path / "top", [sys.executable, "-m", "monitor", "top"], term_env(env), width=160, height=45
            ) as term:
                screen = term.wait_for(
                    lambda s: flowing(s, TIMED, connections=False), 120, "every feed flowing and an alert"
                )
                assert "read-only (no consumer group)" in "\n".join(screen)
                consumers = groups_and_consumers(redis_server, "liqmon", 8)
                term.keys("C-c")
                assert term.wait_exit(10) == 0
            listed = subprocess.run(
                [sys.executable, "-m", "monitor", "alerts", "--since", "1h"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                cwd=ROOT,
            )
    names = {consumer for _, _, consumer in consumers if consumer}
    assert names <= {"detector-1", "dispatcher-1"}, names
    assert {group for _, group, _ in consumers} <= {"detectors", "dispatch"}
    lines = [line for line in listed.stdout.splitlines() if line.strip()]
    assert lines
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(firing|resolved)", line) for line in lines)
    assert "alert(s) raised since " in listed.stderr
    shown = alert_rows(screen)
    for row in shown:
        text = row.split(None, 5)[5].rstrip("…")
        assert any(text in line for line in lines), (row, lines)


@pytest.mark.parametrize(("width", "height"), [(200, 50), (120, 40)])
def test_demo_draws_one_clean_screen_with_every_venue(tmp_path: Path, width: int, height: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}
    env["LIQMON_VENUES__CACHE_DIR"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "monitor", "demo", "--hours", "3", "--speed", "600", "--metrics-port", "0"]
    with terminal(tmp_path / "demo", command, term_env(env), width=width, height=height) as term:
        screens = [
            term.wait_for(
                lambda s: flowing(s, [*list(VENUES[:5]), "gate", "bitget"], connections=True), 60, "the demo flowing"
            )
        ]
        for _ in range(3):
            screens.append(term.wait_for(lambda s, last=screens[-1]: s != last and bool(feed_rows(s)), 10, "a redraw"))
        (tmp_path.parent / f"demo-{width}x{height}.txt").write_text("\n\n".join("\n".join(s) for s in screens))
        for screen in screens:
            assert len(screen) <= height
            assert screen[0].startswith("liqmon top")
            assert "q or Ctrl-C: quit" in screen[0]
            for marker in ("liqmon top", "feeds", "assets", "last alerts (newest first)"):
                assert sum(row.strip().startswith(marker) for row in screen) == 1, (marker, screen)
            assert set(feed_rows(screen)) == set(VENUES), screen
            # Binance and OKX publish at most one liquidation per symbol per interval; Bybit all of them.
            assert [feed_rows(screen)[v][-1] for v in ("binance", "okx", "bybit")] == ["sampled", "sampled", "complete"]
            assert not any(row.lstrip().startswith(("{", "RESOLVED", "WARNING", "CRITICAL", "INFO")) for row in screen)
            assert all(len(row) <= width for row in screen)
        term.keys("q")
        assert term.wait_exit(30) == 0
        after = term.history()
    assert "demo finished" in after
    assert "events the detectors dropped as late: 0" in after
    for venue in VENUES:
        assert f"  {venue}:" in after
