"""Capture files: round trip (plain and gzip), malformed lines skipped with their line number."""

from __future__ import annotations

import gzip
import io
import random
import zlib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.capture.format import (
    CaptureRecord,
    CaptureWriter,
    binary_line,
    iter_blocks,
    iter_lines,
    iter_record_blocks,
    iter_records,
    read_capture,
)
from monitor.errors import CaptureError
from monitor.metrics import Metrics


@pytest.mark.parametrize("name", ["cap.jsonl", "cap.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    frame = '{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL"}}'
    with CaptureWriter(path) as writer:
        writer.frame("binance", 1, frame)
        writer.frame("binance", 2, '{"openInterest":"10659.509"}', rest="/fapi/v1/openInterest?symbol=BTCUSDT")
        writer.frame("okx", 3, '{"data":[]}', meta="/api/v5/public/instruments?instType=SWAP")
        writer.gap("bybit", 4, "disconnect")
    records = list(read_capture(path))
    assert [r.recv_ms for r in records] == [1, 2, 3, 4]
    assert records[0].frame == frame
    assert records[1].rest == "/fapi/v1/openInterest?symbol=BTCUSDT"
    assert records[2].meta == "/api/v5/public/instruments?instType=SWAP"
    assert records[3].gap == "disconnect"
    assert records[3].frame is None
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as handle:
            assert handle.readline().startswith('{"recv_ms":1,')


def test_malformed_lines_are_skipped_logged_and_counted(tmp_path: Path, metrics: Metrics) -> None:
    path = tmp_path / "cap.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"recv_ms": 1, "venue": "okx", "frame": "a"}',
                "{not json",
                '{"recv_ms": "soon", "venue": "okx", "frame": "b"}',
                '{"recv_ms": 2, "venue": "okx"}',
                "[1,2]",
                '{"recv_ms": 3, "venue": "okx", "frame": "c", "note": "unknown keys are ignored"}',
            ]
        ),
        encoding="utf-8",
    )
    with capture_logs() as logs:
        records = list(read_capture(path, metrics=metrics))
    assert [r.frame for r in records] == ["a", "c"]
    assert [r.line_no for r in records] == [1, 6]
    skipped = [entry for entry in logs if entry["event"] == "capture_line_skipped"]
    assert [entry["line"] for entry in skipped] == [2, 3, 4, 5]
    assert "recv_ms must be integer" in skipped[1]["error"]
    assert metrics.registry.get_sample_value("liqmon_capture_malformed_lines_total") == 4


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_lines_are_split_across_reads_of_any_size(chunk: int) -> None:
    text = b'{"a":1}\n\n' + b"x" * 50 + b"\r\n" + b"last"
    assert list(iter_lines(io.BytesIO(text), chunk)) == [b'{"a":1}\n', b"\n", b"x" * 50 + b"\r\n", b"last"]
    assert list(iter_lines(io.BytesIO(b"one\ntwo\n"), chunk)) == [b"one\n", b"two\n"]
    assert list(iter_lines(io.BytesIO(b""), chunk)) == []


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_blocks_are_whole_lines_split_across_reads_of_any_size(chunk: int) -> None:
    text = b'{"a":1}\n\n' + b"x" * 50 + b"\r\n" + b"last"
    blocks = list(iter_blocks(io.BytesIO(text), chunk))
    assert b"".join(blocks) == text
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert list(iter_blocks(io.BytesIO(b""), chunk)) == []


# Lines of every sort a damaged or hand-made capture may hold; only the first two are good records.
LINES = [
    b'{"recv_ms": 1, "venue": "okx", "frame": "a"}',
    b'{"recv_ms": 2, "venue": "bybit", "gap": "disconnect", "line_no": "not a number", "note": 1}\r',
    b"",
    b"   ",
    b"{not json",
    b'{"recv_ms": "soon", "venue": "okx", "frame": "b"}',
    b'{"recv_ms": 3, "venue": "okx"}',
    b'{"recv_ms": 4, "venue": "okx", "frame": "c"} {"recv_ms": 5, "venue": "okx", "frame": "d"}',
    b'{"recv_ms": 8, "venue": "okx", "frame": "f"},{"recv_ms": 9, "venue": "okx", "frame": "g"}',
    b'{"recv_ms": 6, "venue":',
    b' "okx", "frame": "e"}',
    b"[1,2]",
    b'{"recv_ms": 7, "venue": "okx", "frame": "\xff"}',
    b"\x0c",
]


@pytest.mark.parametrize("seed", range(40))
def test_blocks_give_the_records_and_skips_of_a_line_by_line_read(seed: int) -> None:
    """Whole blocks are decoded at once; whatever the lines, the result is that of reading them one by one."""
    rng = random.Random(seed)
    good = rng.random() < 0.5  # half the files hold good lines only, read without the line-by-line path
    lines = [rng.choice(LINES[:2] if good else LINES) for _ in range(rng.randrange(1, 60))]
    text = b"\n".join(lines) + rng.choice([b"", b"\n"])
    chunk = rng.choice([16, 64, 256, 4096])
    by_line, by_block = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    expected = list(iter_records(iter_lines(io.BytesIO(text), chunk), metrics=by_line))
    blocks = iter_record_blocks(iter_blocks(io.BytesIO(text), chunk), metrics=by_block)
    got = [record for records in blocks for record in records]
    assert got == expected
    assert [r.line_no for r in got] == [r.line_no for r in expected]
    malformed = "liqmon_capture_malformed_lines_total"
    assert by_block.registry.get_sample_value(malformed) == by_line.registry.get_sample_value(malformed)


def test_line_numbers_count_blank_lines_in_gzip_captures(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(
        gzip.compress(b'{"recv_ms":1,"venue":"okx","frame":"a"}\n\n{"recv_ms":2,"venue":"okx","frame":"b"}')
    )
    assert [(r.line_no, r.frame) for r in read_capture(path)] == [(1, "a"), (3, "b")]


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot open capture"):
        list(read_capture(tmp_path / "nope.jsonl"))


def test_a_truncated_gzip_capture_gives_nearly_every_line_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    with CaptureWriter(path) as writer:
        for n in range(50_000):
            writer.frame("binance", n, f'{{"n":{n},"pad":"{"x" * 40}"}}')
    body = path.read_bytes()
    path.write_bytes(body[: len(body) // 2])
    # What the readable half holds: every whole line the decompressor can give before the cut.
    readable = zlib.decompressobj(wbits=31).decompress(body[: len(body) // 2]).count(b"\n")
    records: list[CaptureRecord] = []
    with pytest.raises(CaptureError, match="truncated or corrupt"):
        records.extend(read_capture(path))
    assert [r.recv_ms for r in records] == list(range(len(records)))
    # At most gzip's own small read-ahead is lost at the cut, not a large buffer of lines.
    assert readable - 200 <= len(records) <= readable


def test_record_json_omits_absent_fields() -> None:
    line = CaptureRecord(recv_ms=5, venue="gate", gap="planned").to_json()
    assert line == b'{"recv_ms":5,"venue":"gate","gap":"planned"}'


def test_gzip_captures_are_byte_for_byte_reproducible(tmp_path: Path) -> None:
    outputs = []
    for run in ("first", "second"):
        path = tmp_path / run / "cap.jsonl.gz"
        with CaptureWriter(path) as writer:
            writer.frame("okx", 1, '{"arg":{}}')
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_binary_lines_are_counted_and_the_log_is_bounded(tmp_path: Path, metrics: Metrics) -> None:
    """A corrupt stretch costs five warnings and one summary, however many lines it spans; the rest still reads."""
    path = tmp_path / "cap.jsonl"
    good = b'{"recv_ms": 1, "venue": "okx", "frame": "a"}\n'
    path.write_bytes(good + b"\xff\xfe\x00garbage\n" * 40 + good)
    with capture_logs() as logs:
        records = list(read_capture(path, metrics=metrics))
    assert [r.line_no for r in records] == [1, 42]
    assert [e["line"] for e in logs if e["event"] == "capture_line_skipped"] == [2, 3, 4, 5, 6]
    summary = [e for e in logs if e["event"] == "capture_lines_skipped"]
    assert [(e["lines"], e["not_logged"]) for e in summary] == [(40, 35)]
    assert metrics.registry.get_sample_value("liqmon_capture_malformed_lines_total") == 40


def test_a_full_disk_stops_the_capture_without_raising(tmp_path: Path, metrics: Metrics) -> None:
    """/dev/full fails every write with ENOSPC: the writer logs once, counts once and drops the rest."""
    stopped: list[str] = []
    writer = CaptureWriter("/dev/full", metrics=metrics, on_failure=lambda: stopped.append("stop"))
    assert metrics.registry.get_sample_value("liqmon_capture_writing") == 1
    with capture_logs() as logs:
        for n in range(2000):  # more than the text buffer holds, so the writes reach the device
            writer.frame("okx", n, '{"arg":{"channel":"liquidation-orders"},"data":[]}')
        writer.flush()
        writer.close()
    failures = [entry for entry in logs if entry["event"] == "capture_write_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "error"
    assert failures[0]["error"] == "No space left on device"
    assert writer.failure == "No space left on device"
    assert stopped == ["stop"]
    assert metrics.registry.get_sample_value("liqmon_capture_write_errors_total") == 1
    assert metrics.registry.get_sample_value("liqmon_capture_writing") == 0


@pytest.mark.parametrize(
    ("head", "line"),
    [
        (b'{"recv_ms":1}\n{"a":"\xc3\xa9"}\n', None),
        (b'{"a":"\xe2\x82', None),  # a character cut off by the end of the head
        (b"A\n\xff\xfe\n", 2),
        (b"A\nB\nC\x00D", 3),
        (b"\xe2\x82\n", 1),  # a cut-off character followed by more bytes is binary
        (b"", None),
    ],
)
def test_binary_line_judges_the_whole_head(head: bytes, line: int | None) -> None:
    assert binary_line(head) == line
