"""``liqmon record`` writes what the venues send (frames, instrument lists, gaps) as a replayable capture;
``liqmon collect`` refuses to run without Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.capture.format import CaptureRecord, read_capture
from monitor.cli import main
from monitor.sim.faults import Close
from monitor.sim.server import run_simulators
from monitor.sim.venue import SimOptions
from monitor.venues.okx import OkxAdapter
from monitor.venues.record import parse_duration, record
from tests.integration.venues.support import LIMIT_SCALE, fast_options, records, sample, settings_for
from tests.integration.venues.test_rest import OKX_INSTRUMENTS
from tests.support.services import free_port

pytestmark = pytest.mark.integration


async def test_record_writes_frames_instruments_and_gaps(tmp_path: Path) -> None:
    frames = [*sample("okx_open-interest.jsonl"), *sample("okx_funding-rate.jsonl")]
    recs = [CaptureRecord(recv_ms=0, venue="okx", meta="instruments", frame=OKX_INSTRUMENTS), *records("okx", frames)]
    out = tmp_path / "okx.jsonl.gz"
    async with run_simulators(
        recs, ["okx"], speed=None, options=SimOptions(limit_scale=LIMIT_SCALE, hold_timeout_s=5)
    ) as sims:
        sims["okx"].inject(Close(), at_frame=1)
        settings = settings_for(
            sims.settings_overrides(), tmp_path, **{"venues.okx.symbols": ["BTC-USDT-SWAP", "BTC-USD-SWAP"]}
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            record(settings, out, duration_s=30.0, venues=None, stop=stop, options=fast_options())
        )
        await sims.wait_served(10)
        await sims["okx"].wait_for(lambda s: s.stats.connections >= 4, 10)
        stop.set()
        lines = await task
    written = list(read_capture(out))
    assert len(written) == lines
    assert {r.venue for r in written} == {"okx"}
    metas = [r for r in written if r.meta == "instruments"]
    assert metas
    assert all((r.rest or "").startswith("/api/v5/public/instruments") for r in metas)
    assert any(r.gap for r in written)
    pushes = [r.frame for r in written if r.frame and r.meta is None and r.rest is None]
    assert set(frames) <= set(pushes)
    # The capture replays through the real parser.
    adapter = OkxAdapter()
    adapter.load_instruments(metas[0].rest or "", metas[0].frame or "")
    assert any(adapter.parse(f, 1) for f in pushes)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1.5s", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_collect_refuses_without_redis(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIQMON_CONFIG", raising=False)
    monkeypatch.delenv("LIQMON_BUS__REDIS_URL", raising=False)
    assert main(["collect"]) == 2
    assert "no Redis configured" in capsys.readouterr().err


def test_record_with_no_venue_reachable_says_so_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens on the configured endpoints: the run must not end as an empty success."""
    monkeypatch.delenv("LIQMON_CONFIG", raising=False)
    dead = f"127.0.0.1:{free_port()}"
    config = tmp_path / "liqmon.toml"
    config.write_text(
        f'[venues]\ncache_dir = "{tmp_path / "cache"}"\n'
        f'[venues.okx]\nsymbols = ["BTC-USDT-SWAP"]\nws_url = "ws://{dead}/ws"\nrest_url = "http://{dead}"\n'
    )
    out = tmp_path / "capture.jsonl"
    code = main(["record", "--config", str(config), "--out", str(out), "--duration", "1s", "--venues", "okx"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "liqmon record: no venue connected (okx); wrote 0 lines to" in err


@pytest.mark.parametrize("where", ["missing folder", "under a file"])
def test_record_into_a_missing_folder_is_one_line_and_exit_2(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIQMON_CONFIG", raising=False)
    (tmp_path / "file").write_text("x")
    out = tmp_path / ("nope" if where == "missing folder" else "file") / "capture.jsonl"
    assert main(["record", "--out", str(out), "--duration", "1s"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"liqmon record: --out {out}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "collect"])
def test_unwritable_capture_out_is_one_line_and_exit_2(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIQMON_CONFIG", raising=False)
    monkeypatch.setenv("LIQMON_BUS__REDIS_URL", "redis://127.0.0.1:1/0")  # collect refuses to start without one
    out = tmp_path / "nope" / "capture.jsonl"
    assert main([command, "--capture-out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"liqmon {command}: --capture-out {out}: the folder {out.parent} does not exist; create it first\n"
