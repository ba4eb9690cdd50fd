"""The gzip reader of captures: the standard library's gzip module is the reference it must agree with."""

from __future__ import annotations

import gzip
import os
import random
import zlib
from pathlib import Path

import pytest

from monitor.capture.inflate import OUTPUT_LIMIT, open_gzip

TEXT = b"".join(
    b'{"recv_ms":%d,"venue":"okx","frame":"%s"}\n' % (i, os.urandom(20).hex().encode()) for i in range(5000)
)


def drain(path: Path, got: bytearray, size: int) -> None:
    """Append the file's inflated content to ``got``, ``size`` bytes at a time, until the end or an error."""
    with open_gzip(path) as handle:
        while chunk := handle.read1(size):
            got += chunk


def read_all(path: Path, size: int = 4096) -> bytes:
    with open_gzip(path) as handle:
        return b"".join(iter(lambda: handle.read1(size), b""))


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [1, 333, 4096, 1 << 20])
def test_content_equals_the_standard_library_for_any_read_size(tmp_path: Path, size: int) -> None:
    path = write(tmp_path, gzip.compress(TEXT, compresslevel=6))
    assert read_all(path, size) == gzip.decompress(path.read_bytes()) == TEXT


def test_concatenated_members_and_zero_padding_are_read_on(tmp_path: Path) -> None:
    data = gzip.compress(TEXT[:1000]) + b"\0" * 7 + gzip.compress(b"") + gzip.compress(TEXT[1000:]) + b"\0" * 3
    path = write(tmp_path, data)
    assert read_all(path) == gzip.decompress(data) == TEXT


def test_lines_and_peek_work_on_the_buffered_stream(tmp_path: Path) -> None:
    path = write(tmp_path, gzip.compress(TEXT))
    with open_gzip(path) as handle:
        assert handle.peek(10)[:10] == TEXT[:10]
        assert handle.readline() == TEXT.split(b"\n")[0] + b"\n"


def test_an_empty_file_is_empty(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, b"")) == b""


def test_a_file_cut_inside_a_member_gives_what_came_before_then_eof_error(tmp_path: Path) -> None:
    data = gzip.compress(TEXT)
    path = write(tmp_path, data[: len(data) * 2 // 3])
    got = bytearray()
    with pytest.raises(EOFError, match="ended before the end-of-stream marker"):
        drain(path, got, 1000)
    assert TEXT.startswith(bytes(got))
    assert len(got) > len(TEXT) // 2  # all that the kept two thirds hold, less deflate's look-ahead


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: b"plain text, not gzip at all" + data, "corrupt gzip data"),
        (lambda data: data[:-8] + bytes([data[-8] ^ 1]) + data[-7:], "corrupt gzip data"),  # CRC32 of the trailer
        (lambda data: data[:-4] + bytes([data[-4] ^ 1]) + data[-3:], "corrupt gzip data"),  # length of the trailer
        (lambda data: data[:40] + bytes(b ^ 0x5A for b in data[40:104]) + data[104:], "corrupt gzip data"),
    ],
    ids=["not gzip", "checksum", "length", "deflate data"],
)
def test_damaged_data_is_a_bad_gzip_file_error(tmp_path: Path, damage, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, damage(gzip.compress(TEXT)))
    with pytest.raises(gzip.BadGzipFile, match=reason), open_gzip(path) as handle:
        handle.read()
    with pytest.raises((OSError, zlib.error)):  # the standard library refuses the same file
        gzip.decompress(path.read_bytes())


def test_a_highly_compressed_file_is_inflated_in_bounded_steps(tmp_path: Path) -> None:
    data = bytes(200 * OUTPUT_LIMIT)  # 200 MiB of zeros: about 200 KB compressed
    path = write(tmp_path, gzip.compress(data, compresslevel=9))
    with open_gzip(path) as handle:
        sizes = [len(chunk) for chunk in iter(lambda: handle.read1(1 << 30), b"")]
    assert sum(sizes) == len(data)
    assert max(sizes) <= OUTPUT_LIMIT


def test_random_cuts_of_a_multi_member_file_never_give_wrong_bytes(tmp_path: Path) -> None:
    first = gzip.compress(TEXT[:3000])
    data = first + gzip.compress(TEXT[3000:])
    inside = [cut for cut in range(1, len(data)) if cut != len(first)]  # a cut between members is a whole file
    for cut in sorted(random.Random(7).sample(inside, 40)):
        path = write(tmp_path, data[:cut])
        got = bytearray()
        with pytest.raises((EOFError, gzip.BadGzipFile)):  # every cut is inside a member or its header
            drain(path, got, 777)
        assert TEXT.startswith(bytes(got)), cut
