"""Reader and writer of the capture format (DESIGN §4).

One JSON object per line, in receive order, optionally gzip-compressed (by the
``.gz`` suffix)::

    {"recv_ms": 1738771200123, "venue": "binance", "frame": "<text frame as received>"}
    {"recv_ms": ..., "venue": "binance", "rest": "/fapi/v1/openInterest?symbol=BTCUSDT", "frame": "<body>"}
    {"recv_ms": ..., "venue": "okx", "meta": "instruments", "frame": "<instrument list body>"}
    {"recv_ms": ..., "venue": "bybit", "gap": "disconnect"}

Unknown keys are ignored. A malformed line (not JSON, not UTF-8, a wrong field)
is skipped and counted in ``liqmon_capture_malformed_lines_total``; the first
few are logged with their line number, the rest in one summary line, so a
corrupt file cannot flood the log. :func:`check_capture` tells a capture from
any other file before a command starts on it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Final

import msgspec
import orjson
import structlog

from monitor.capture.inflate import open_gzip
from monitor.errors import CaptureError, UsageError
from monitor.metrics import Metrics, default_metrics

log = structlog.get_logger(__name__)

# Malformed lines logged one by one; the rest of a file's are summed up in one line at its end.
LOGGED_MALFORMED_LINES: Final = 5
# check_capture reads at most this much of the first line (instrument lists make long first lines).
PEEK_BYTES: Final = 64 * 2**20
# What reading a damaged file raises: a truncated .gz (EOFError), a corrupt one (gzip.BadGzipFile, an
# OSError) or a failing disk.
UNREADABLE: Final = (OSError, EOFError)
# A file whose first this-many bytes are not UTF-8 text is binary (captures and frame files are text).
HEAD_BYTES: Final = 2**13
# read_capture takes the file this much at a time (at most one read of the file each) and splits lines in C.
READ_CHUNK: Final = 2**16


class CaptureRecord(msgspec.Struct, frozen=True, gc=False):
    """One capture line. Exactly one of ``frame`` (with optional ``rest``/``meta``) or ``gap`` is meaningful.

    Lines decode straight into this type, their fields typed and bounded in one C call (unknown keys
    are ignored).
    """

    recv_ms: Annotated[int, msgspec.Meta(ge=0)]
    venue: Annotated[str, msgspec.Meta(min_length=1)]
    frame: str | None = None
    rest: str | None = None
    meta: str | None = None
    gap: str | None = None
    # The line's place in the file, set by the reader. Its JSON name is one no capture line has, so a
    # line's own "line_no" key is ignored like any other unknown key.
    line_no: int = msgspec.field(default=0, name="__line_no__")

    def to_json(self) -> bytes:
        """The record as one JSON line (without the newline)."""
        obj: dict[str, Any] = {"recv_ms": self.recv_ms, "venue": self.venue}
        for key in ("rest", "meta", "gap", "frame"):
            value = getattr(self, key)
            if value is not None:
                obj[key] = value
        return orjson.dumps(obj)


def _open_writer(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        # mtime=0 keeps the gzip header free of the write time, so the same capture gives the same bytes.
        raw = gzip.GzipFile(filename=str(path), mode="wb", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8")
    return path.open("w", encoding="utf-8")


def open_lines(path: Path) -> io.BufferedReader:
    """The file as a binary stream of lines, decompressed when it ends in ``.gz``; raises OSError."""
    if path.suffix == ".gz":
        return open_gzip(path)
    return path.open("rb")


def iter_blocks(stream: io.BufferedIOBase, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """The stream's content as blocks of whole lines, about a read each; the last block lacks its final
    newline when the stream ends without one.

    The stream is read ``chunk`` bytes at a time, and each read gives its whole lines before the next
    read is made, so a stream that fails part way (a truncated gzip) has given every line it held up
    to the failure; only the torn line is lost. A block is cut at the last newline of a read (found
    with ``memchr``); a line longer than a read goes on in a later one.
    """
    pending: list[bytes | memoryview] = []  # the start of a line that goes on in a later read
    while data := stream.read1(chunk):
        cut = data.rfind(b"\n") + 1
        if not cut:
            pending.append(data)
            continue
        pending.append(memoryview(data)[:cut])
        yield b"".join(pending)
        pending = [memoryview(data)[cut:]] if cut < len(data) else []
    if pending:
        yield b"".join(pending)


def iter_lines(stream: io.BufferedIOBase, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """The stream's lines, each with its newline (the last one without, if the stream ends without one).

    Each block of :func:`iter_blocks` is cut into lines by ``BytesIO.readlines``, which finds the
    newlines with ``memchr``. (The newline a line keeps is whitespace to the JSON decoder and to the
    blank-line test.)
    """
    for block in iter_blocks(stream, chunk):
        yield from io.BytesIO(block).readlines()


_RECORD: Final = msgspec.json.Decoder(CaptureRecord)
_RECORDS: Final = msgspec.json.Decoder(list[CaptureRecord])
_EXPECTED = {"recv_ms": "integer epoch milliseconds", "venue": "a non-empty string"}
# The reader numbers a record as soon as it is decoded, before anything else sees it (frozen from then on).
_set_field: Final = msgspec.structs.force_setattr


def _numbered(records: list[CaptureRecord], first: int) -> bool:
    """Number the records of consecutive lines from line ``first``; False if one has neither frame nor gap."""
    for line_no, record in enumerate(records, first):
        if record.frame is None and record.gap is None:
            return False
        _set_field(record, "line_no", line_no)
    return True


def parse_line(line: str | bytes, line_no: int) -> CaptureRecord:
    """Parse one capture line; raises ``ValueError`` naming what is wrong (bad UTF-8 included)."""
    try:
        record = _RECORD.decode(line)
    except msgspec.ValidationError as exc:
        detail, _, where = str(exc).partition(" - at `$.")
        name = where.rstrip("`")
        if not name:
            raise ValueError(f"line is not a capture record: {detail}") from None
        raise ValueError(f"{name} must be {_EXPECTED.get(name, 'a string')}: {detail}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"line is not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("line is nested too deeply to be a capture record") from None
    if not _numbered([record], line_no):
        raise ValueError("line has neither a frame nor a gap")
    return record


def parse_block(block: bytes, first: int) -> list[CaptureRecord] | None:
    """The records of a block of whole lines from line ``first``, decoded in one C call; None unless every
    line is a good record (one is blank or malformed: read the block line by line to skip and report it).

    The lines become the elements of one JSON array (each newline a comma), so each line must hold exactly
    one JSON value, as when it is decoded on its own. Decoding a read's lines (about 64 KiB) at once saves
    the Python steps of each line (a split, a call, a check and a copy of the record) and regrowing the
    decoder's unescaping buffer for each frame: a tenth of the instructions reading a capture takes.
    """
    ends_line = block.endswith(b"\n")
    body = memoryview(block)[:-1] if ends_line else block
    try:
        records = _RECORDS.decode(b"".join((b"[", body, b"]")).replace(b"\n", b","))
    except (msgspec.MsgspecError, RecursionError):
        return None
    # One element per line, else a line held none (a blank block) or several (`{...},{...}`, which the
    # array would take as two records): such a block is read line by line.
    lines = block.count(b"\n") + (not ends_line)
    return records if len(records) == lines and _numbered(records, first) else None


class _Skips:
    """The malformed lines of one source: counted, the first few logged one by one, the rest summed up at the end."""

    def __init__(self, source: str, metrics: Metrics | None) -> None:
        self.source = source
        self.counter = (metrics or default_metrics()).capture_malformed
        self.count = 0

    def records(self, lines: Iterable[str | bytes], first: int) -> Iterator[CaptureRecord]:
        """The records of consecutive lines from line ``first``; blank lines are skipped, malformed ones counted."""
        for line_no, line in enumerate(lines, first):
            if not line or line.isspace():  # blank (isspace stops at the first other byte; strip would copy)
                continue
            try:
                yield parse_line(line, line_no)
            except ValueError as exc:
                self.counter.inc()
                self.count += 1
                if self.count <= LOGGED_MALFORMED_LINES:
                    log.warning("capture_line_skipped", file=self.source, line=line_no, error=str(exc))

    def summary(self) -> None:
        """Log the malformed lines not logged one by one, if any."""
        if self.count > LOGGED_MALFORMED_LINES:
            hidden = self.count - LOGGED_MALFORMED_LINES
            log.warning("capture_lines_skipped", file=self.source, lines=self.count, not_logged=hidden)


def iter_records(
    stream: Iterable[str | bytes], *, source: str = "<stream>", metrics: Metrics | None = None
) -> Iterator[CaptureRecord]:
    """Records from an open stream of lines; malformed lines are counted, skipped and (the first few) logged."""
    skips = _Skips(source, metrics)
    yield from skips.records(stream, 1)
    skips.summary()


def iter_record_blocks(
    blocks: Iterable[bytes], *, source: str = "<stream>", metrics: Metrics | None = None
) -> Iterator[list[CaptureRecord]]:
    """The records of each block of whole lines (:func:`iter_blocks`), as :func:`iter_records` gives them.

    Each block is decoded in one call (:func:`parse_block`); only a block with a blank or malformed line
    in it is read line by line. A list per block: one generator step per block, not per record.
    """
    skips = _Skips(source, metrics)
    first = 1
    for block in blocks:
        records = parse_block(block, first)
        if records is None:
            lines = io.BytesIO(block).readlines()
            records = list(skips.records(lines, first))
            first += len(lines)
        else:
            first += len(records)  # a record per line
        yield records
    skips.summary()


def read_capture(path: str | Path, *, metrics: Metrics | None = None) -> Iterator[CaptureRecord]:
    """Records of a capture file (``.gz`` is decompressed); CaptureError if it cannot be opened or read."""
    path = Path(path)
    try:
        handle = open_lines(path)
    except OSError as exc:
        raise CaptureError(f"cannot open capture {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for records in iter_record_blocks(iter_blocks(handle), source=str(path), metrics=metrics):
                yield from records
        except UNREADABLE as exc:
            raise CaptureError(f"capture {path} is truncated or corrupt: {exc}") from exc


def check_capture(path: str | Path) -> None:
    """Raise UsageError (one line naming the file and the reason) unless ``path`` reads as a capture.

    Only the first non-empty line is read: a file that starts like a capture is one, and any later
    malformed line is skipped and counted as usual.
    """
    path = Path(path)
    try:
        with open_lines(path) as handle:
            binary_at = binary_line(handle.peek(HEAD_BYTES)[:HEAD_BYTES])
            first = handle.readline(PEEK_BYTES)
            while first and not first.strip():
                first = handle.readline(PEEK_BYTES)
    except OSError as exc:  # missing, unreadable, a directory, a bad gzip header
        raise UsageError(f"cannot read capture {path}: {exc.strerror or exc}") from None
    except EOFError as exc:
        raise UsageError(f"capture {path} is truncated: {exc}") from None
    if binary_at is not None:
        raise UsageError(f"{path} is not a liqmon capture: it starts with binary data, not JSON lines")
    if not first:
        return  # an empty capture replays as nothing
    try:
        parse_line(first, 1)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a liqmon capture: its first line is not a capture record ({exc})") from None


def binary_line(head: bytes) -> int | None:
    """The line (from 1) where binary data starts in ``head``, a file's first bytes; None when they read as text.

    Text is UTF-8 without NUL bytes. The whole head is judged at once, so random bytes are caught even
    when their first line happens to be short and valid; a multi-byte character cut off by the end of
    ``head`` is not held against it.
    """
    bad = head.find(b"\0")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.end != len(head):
            bad = exc.start if bad < 0 else min(bad, exc.start)
    return None if bad < 0 else head.count(b"\n", 0, bad) + 1


class CaptureWriter:
    """Appends records to a capture file; use as a context manager.

    Opening raises CaptureError. A write that fails later (disk full, I/O error) never reaches the
    caller: the capture stops for good, with one error log, ``liqmon_capture_write_errors_total``
    incremented and ``liqmon_capture_writing`` at 0; later records are dropped and ``on_failure``
    is called (``liqmon record``, whose product is the file, stops). Whatever was written before
    stays readable (a torn last line is skipped as malformed by the reader).
    """

    def __init__(
        self, path: str | Path, *, metrics: Metrics | None = None, on_failure: Callable[[], None] | None = None
    ) -> None:
        self.path = Path(path)
        self.metrics = metrics or default_metrics()
        self._on_failure = on_failure
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = _open_writer(self.path)
        except OSError as exc:
            raise CaptureError(f"cannot write capture {self.path}: {exc.strerror or exc}") from exc
        self.count = 0
        # Why the capture stopped, once a write failed.
        self.failure: str | None = None
        self.metrics.capture_writing.set(1)

    def write(self, record: CaptureRecord) -> None:
        """Write one record (dropped once the capture has stopped)."""
        if self.failure is not None:
            return
        try:
            self._handle.write(record.to_json().decode())
            self._handle.write("\n")
        except OSError as exc:
            self._stop(exc)
            return
        self.count += 1

    def frame(self, venue: str, recv_ms: int, frame: str, *, rest: str | None = None, meta: str | None = None) -> None:
        """Write a frame (or REST body, or metadata body)."""
        self.write(CaptureRecord(recv_ms=recv_ms, venue=venue, frame=frame, rest=rest, meta=meta))

    def gap(self, venue: str, recv_ms: int, reason: str) -> None:
        """Write a gap marker."""
        self.write(CaptureRecord(recv_ms=recv_ms, venue=venue, gap=reason))

    def flush(self) -> None:
        """Flush buffered lines to the file."""
        if self.failure is not None:
            return
        try:
            self._handle.flush()
        except OSError as exc:
            self._stop(exc)

    def close(self) -> None:
        """Close the file. Idempotent."""
        if self._handle.closed:
            return
        if self.failure is None:
            try:
                self._handle.close()
            except OSError as exc:
                self._stop(exc)
            else:
                self.metrics.capture_writing.set(0)

    def _stop(self, exc: OSError) -> None:
        """A write failed: stop the capture for good, without letting the error reach the caller."""
        self.failure = exc.strerror or str(exc)
        self.metrics.capture_write_errors.inc()
        self.metrics.capture_writing.set(0)
        log.error(
            "capture_write_failed",
            file=str(self.path),
            error=self.failure,
            lines=self.count,
            hint="the capture has stopped, the feeds keep running; free space and restart to record again",
        )
        # Closing flushes what is still buffered, which fails the same way (the file is closed all the same).
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()
        if self._on_failure is not None:
            self._on_failure()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
