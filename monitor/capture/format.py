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
    """One capture line. Exactly one of ``frame`` (with optional ``rest``/``meta``) or ``gap`` is meaningful."""

    recv_ms: int
    venue: str
    frame: str | None = None
    rest: str | None = None
    meta: str | None = None
    gap: str | None = None
    line_no: int = 0

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


def iter_lines(stream: io.BufferedIOBase, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """The stream's lines, each with its newline (the last one without, if the stream ends without one).

    The stream is read ``chunk`` bytes at a time, and each read gives its whole lines before the next
    read is made, so a stream that fails part way (a truncated gzip) has given every line it held up
    to the failure; only the torn line is lost. A read is cut into lines by ``BytesIO.readlines``,
    which finds the newlines with ``memchr``: a third of the time ``bytes.split`` takes, whose
    byte-by-byte scan was the largest part of cutting a capture into lines. (The newline a line keeps
    is whitespace to the JSON decoder and to the blank-line test.)
    """
    pending: list[bytes] = []  # the start of a line that goes on in a later read
    while data := stream.read1(chunk):
        lines = io.BytesIO(data).readlines()
        torn = b"" if data.endswith(b"\n") else lines.pop()
        if lines and pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
            pending = []
        if torn:
            pending.append(torn)
        yield from lines
    if pending:
        yield b"".join(pending)


class _Line(msgspec.Struct, gc=False):
    """The fields of a capture line (unknown keys are ignored), typed and checked in one C call."""

    recv_ms: Annotated[int, msgspec.Meta(ge=0)]
    venue: Annotated[str, msgspec.Meta(min_length=1)]
    frame: str | None = None
    rest: str | None = None
    meta: str | None = None
    gap: str | None = None


_LINE: Final = msgspec.json.Decoder(_Line)
_EXPECTED = {"recv_ms": "integer epoch milliseconds", "venue": "a non-empty string"}


def parse_line(line: str | bytes, line_no: int) -> CaptureRecord:
    """Parse one capture line; raises ``ValueError`` naming what is wrong (bad UTF-8 included)."""
    try:
        obj = _LINE.decode(line)
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
    if obj.frame is None and obj.gap is None:
        raise ValueError("line has neither a frame nor a gap")
    return CaptureRecord(obj.recv_ms, obj.venue, obj.frame, obj.rest, obj.meta, obj.gap, line_no)


def iter_records(
    stream: Iterable[str | bytes], *, source: str = "<stream>", metrics: Metrics | None = None
) -> Iterator[CaptureRecord]:
    """Records from an open stream of lines; malformed lines are counted, skipped and (the first few) logged."""
    counter = (metrics or default_metrics()).capture_malformed
    skipped = 0
    for line_no, line in enumerate(stream, start=1):
        if not line or line.isspace():  # blank (isspace stops at the first other byte; strip would copy)
            continue
        try:
            yield parse_line(line, line_no)
        except ValueError as exc:
            counter.inc()
            skipped += 1
            if skipped <= LOGGED_MALFORMED_LINES:
                log.warning("capture_line_skipped", file=source, line=line_no, error=str(exc))
    if skipped > LOGGED_MALFORMED_LINES:
        log.warning("capture_lines_skipped", file=source, lines=skipped, not_logged=skipped - LOGGED_MALFORMED_LINES)


def read_capture(path: str | Path, *, metrics: Metrics | None = None) -> Iterator[CaptureRecord]:
    """Records of a capture file (``.gz`` is decompressed); CaptureError if it cannot be opened or read."""
    path = Path(path)
    try:
        handle = open_lines(path)
    except OSError as exc:
        raise CaptureError(f"cannot open capture {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            yield from iter_records(iter_lines(handle), source=str(path), metrics=metrics)
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
