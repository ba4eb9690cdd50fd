"""Bad files given to the offline commands: one line on stderr naming the file and the reason, never a traceback.

Inputs (``replay``, ``normalize``, ``backtest``): a missing file, binary garbage, a frame nested 1,000 deep,
a gzip file. Outputs: a path inside a missing folder, a path under a regular file, a directory where a file is
expected. Exit code 2 for all of them (bad usage), as documented in ``monitor/cli.py``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest

from monitor.app import CaptureSource
from monitor.cli import main
from tests.conftest import FIXTURES, SAMPLES

CAPTURE = FIXTURES / "replay" / "small.jsonl"
FORCE_ORDER = (SAMPLES / "binance_forceOrder.jsonl").read_text().splitlines()[0]
DEEP = '{"e":' * 1000 + "1" + "}" * 1000  # about 6 KB of JSON nested 1,000 deep


def one_line(err: str) -> str:
    """stderr must be exactly one line without a traceback; returns it."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# Random bytes, and bytes whose first line is short and valid text with every later line binary (no NUL
# until far in): the file is judged by its first kilobytes, not by its first line.
GARBAGE = {
    "random": lambda: os.urandom(4096) + b"\x00\xff\xfe\n" + os.urandom(4096),
    "text first line": lambda: b"A\n" + bytes(range(1, 256)) * 16 + b"\x00",
}


@pytest.fixture(params=sorted(GARBAGE))
def garbage(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(GARBAGE[request.param]())
    return path


def bad_outputs(tmp_path: Path) -> dict[str, Path]:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    return {"missing folder": tmp_path / "nope" / "out.jsonl", "under a file": blocker / "out.jsonl", "folder": folder}


# -- replay ---------------------------------------------------------------------------------------


def test_replay_of_binary_garbage_is_one_clear_line(garbage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(garbage), "--no-detect"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(garbage) in line
    assert "not a liqmon capture" in line
    assert "binary data" in line


def test_replay_goes_on_past_a_frame_nested_1000_deep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = orjson.dumps({"recv_ms": 1_700_000_000_000, "venue": "binance", "frame": DEEP}).decode()
    capture = tmp_path / "deep.jsonl"
    lines = CAPTURE.read_text().splitlines()
    capture.write_text("\n".join([lines[0], deep, *lines[1:]]) + "\n")
    events_out = tmp_path / "events.jsonl"
    assert main(["replay", str(capture), "--no-detect", "--metrics-port", "0", "--events-out", str(events_out)]) == 0
    err = capsys.readouterr().err
    assert "binance: 1 × too_deep" in err
    expected = tmp_path / "expected.jsonl"
    assert main(["replay", str(CAPTURE), "--no-detect", "--metrics-port", "0", "--events-out", str(expected)]) == 0
    assert events_out.read_bytes() == expected.read_bytes()
    assert events_out.read_bytes().count(b"\n") == 7


def test_replay_no_detect_on_the_embedded_bus_runs_past_the_backlog_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No detector reads the in-process bus: the events go to --events-out and the replay does not wait for it."""
    once = tmp_path / "once.jsonl"
    assert main(["replay", str(CAPTURE), "--no-detect", "--events-out", str(once)]) == 0
    per_copy = once.read_bytes().count(b"\n")
    capture = tmp_path / "long.jsonl"
    capture.write_text(CAPTURE.read_text() * 4000)
    events_out = tmp_path / "events.jsonl"
    capsys.readouterr()
    assert main(["replay", str(capture), "--no-detect", "--events-out", str(events_out)]) == 0
    written = events_out.read_bytes().count(b"\n")
    assert written == 4000 * per_copy > CaptureSource.BACKLOG_LIMIT
    assert f"frames, {written} events" in capsys.readouterr().err


def test_replay_of_a_truncated_gzip_capture_ends_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = gzip.compress((CAPTURE.read_text() * 200).encode())
    capture = tmp_path / "cut.jsonl.gz"
    capture.write_bytes(body[: len(body) // 2])
    assert main(["replay", str(capture), "--no-detect", "--metrics-port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"liqmon replay: capture {capture} is truncated or corrupt" in err


def corrupt_gzip(tmp_path: Path, at: float) -> Path:
    """A gzip capture (≈70 KB) with a valid header whose compressed data is scrambled from ``at`` (a fraction) on."""
    body = bytearray(gzip.compress((CAPTURE.read_text() * 2000).encode()))
    start = max(10, int(len(body) * at))  # the 10-byte header stays valid
    for i in range(start, min(start + 64, len(body))):
        body[i] ^= 0x5A
    capture = tmp_path / "corrupt.jsonl.gz"
    capture.write_bytes(bytes(body))
    return capture


def test_replay_of_a_gzip_capture_corrupt_from_its_start_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = corrupt_gzip(tmp_path, 0.0)
    assert main(["replay", str(capture), "--no-detect", "--metrics-port", "0"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"liqmon replay: cannot read capture {capture}: corrupt gzip data: ")


def test_replay_of_a_gzip_capture_corrupt_in_its_middle_ends_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = corrupt_gzip(tmp_path, 0.5)
    assert main(["replay", str(capture), "--no-detect", "--metrics-port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"liqmon replay: capture {capture} is truncated or corrupt" in err


@pytest.mark.parametrize("option", ["--events-out", "--alerts-out"])
@pytest.mark.parametrize("case", ["missing folder", "under a file", "folder"])
def test_replay_unwritable_outputs(tmp_path: Path, option: str, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad_outputs(tmp_path)[case]
    assert main(["replay", str(CAPTURE), option, str(path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"liqmon replay: {option} {path}: ")
    reason = {"missing folder": "does not exist", "under a file": "is not a folder", "folder": "is a directory"}
    assert reason[case] in line


# -- normalize ------------------------------------------------------------------------------------


def test_normalize_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.txt"
    assert main(["normalize", "--venue", "binance", str(missing)]) == 2
    assert one_line(capsys.readouterr().err) == f"liqmon normalize: cannot read {missing}: No such file or directory"


def test_normalize_binary_garbage(garbage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["normalize", "--venue", "binance", str(garbage)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_line(captured.err)
    assert line.startswith(f"liqmon normalize: {garbage} is binary data")


def test_normalize_of_a_corrupt_gzip_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = corrupt_gzip(tmp_path, 0.0)
    assert main(["normalize", "--venue", "okx", str(capture)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"liqmon normalize: cannot read {capture}: corrupt gzip data: ")


def test_normalize_reads_gzip_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames.txt.gz"
    frames.write_bytes(gzip.compress((FORCE_ORDER + "\n").encode()))
    assert main(["normalize", "--venue", "binance", "--recv-ms", "5", str(frames)]) == 0
    events = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["symbol"], e["recv_ms"]) for e in events] == [("liquidation", "BTCUSDT", 5)]


def test_normalize_reads_a_gzip_capture_as_a_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture's records of --venue are decoded with their own instrument lists and receive times."""
    capture = tmp_path / "small.jsonl.gz"
    capture.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    assert main(["normalize", "--venue", "okx", str(capture)]) == 0
    events = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = tmp_path / "expected.jsonl"
    assert main(["replay", str(CAPTURE), "--no-detect", "--metrics-port", "0", "--events-out", str(expected)]) == 0
    okx = [e for e in (orjson.loads(x) for x in expected.read_bytes().splitlines()) if e["venue"] == "okx"]
    assert okx
    assert events == okx


def test_normalize_goes_on_past_a_frame_nested_1000_deep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames.txt"
    frames.write_text(f"{DEEP}\n{FORCE_ORDER}\n")
    assert main(["normalize", "--venue", "binance", str(frames)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert len(captured.out.splitlines()) == 1
    assert "2 frames, 1 events, 1 not normalized" in captured.err
    assert "binance: 1 × too_deep" in captured.err


# -- backtest and scenario outputs ----------------------------------------------------------------


def test_backtest_unwritable_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    report = blocker / "report"
    assert main(["backtest", str(CAPTURE), "--report", str(report)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"liqmon backtest: --report {report}: cannot write there: ")


def test_backtest_of_binary_garbage(garbage: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(garbage), "--report", str(tmp_path / "report")]) == 2
    assert "is not a liqmon capture" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("case", ["missing folder", "under a file", "folder"])
def test_scenario_unwritable_out(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad_outputs(tmp_path)[case]
    assert main(["scenario", "calm", "--hours", "0.1", "--out", str(path)]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"liqmon scenario: --out {path}: ")
