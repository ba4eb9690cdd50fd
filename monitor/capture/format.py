"""Reader and writer of the capture format (DESIGN §4).

One JSON object per line, in receive order, optionally gzip-compressed (by the
``.gz`` suffix)::

    {"recv_ms": 1738771200123, "venue": "binance", "frame": "<text frame as received>"}
    {"recv_ms": ..., "venue": "binance", "rest": "/fapi/v1/openInterest?symbol=BTCUSDT", "frame": "<body>"}
    {"recv_ms": ..., "venue": "okx", "meta": "instruments", "frame": "<instrument list body>"}
    {"recv_ms": ..., "venue": "bybit", "gap": "disconnect"}

Unknown keys are ignored. A malformed line is skipped, logged with its line
number and counted in ``liqmon_capture_malformed_lines_total``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from monitor.errors import CaptureError
from monitor.metrics import Metrics, default_metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CaptureRecord:
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


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz" and "w" in mode:
        # mtime=0 keeps the gzip header free of the write time, so the same capture gives the same bytes.
        raw = gzip.GzipFile(filename=str(path), mode="wb", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8")
    if path.suffix == ".gz":
        handle: IO[str] = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115
        return handle
    return path.open(mode, encoding="utf-8")


def parse_line(line: str | bytes, line_no: int) -> CaptureRecord:
    """Parse one capture line; raises ``ValueError``/``TypeError`` naming what is wrong."""
    obj = orjson.loads(line)
    if not isinstance(obj, dict):
        raise TypeError("line is not a JSON object")
    recv_ms, venue = obj.get("recv_ms"), obj.get("venue")
    if not isinstance(recv_ms, int) or isinstance(recv_ms, bool) or recv_ms < 0:
        raise ValueError(f"recv_ms must be integer epoch milliseconds, got {recv_ms!r}")
    if not isinstance(venue, str) or not venue:
        raise ValueError(f"venue must be a non-empty string, got {venue!r}")
    fields: dict[str, str | None] = {}
    for key in ("frame", "rest", "meta", "gap"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {type(value).__name__}")
        fields[key] = value
    if fields["frame"] is None and fields["gap"] is None:
        raise ValueError("line has neither a frame nor a gap")
    return CaptureRecord(recv_ms=recv_ms, venue=venue, line_no=line_no, **fields)


def iter_records(
    stream: IO[str], *, source: str = "<stream>", metrics: Metrics | None = None
) -> Iterator[CaptureRecord]:
    """Records from an open text stream; malformed lines are logged, counted and skipped."""
    counter = (metrics or default_metrics()).capture_malformed
    for line_no, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield parse_line(line, line_no)
        except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            counter.inc()
            log.warning("capture_line_skipped", file=source, line=line_no, error=str(exc))


def read_capture(path: str | Path, *, metrics: Metrics | None = None) -> Iterator[CaptureRecord]:
    """Records of a capture file (``.gz`` is decompressed)."""
    path = Path(path)
    try:
        handle = _open_text(path, "rt")
    except OSError as exc:
        raise CaptureError(f"cannot open capture {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            yield from iter_records(handle, source=str(path), metrics=metrics)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise CaptureError(f"capture {path} is truncated or corrupt: {exc}") from exc


class CaptureWriter:
    """Appends records to a capture file; use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._handle = _open_text(self.path, "wt")
        except OSError as exc:
            raise CaptureError(f"cannot write capture {self.path}: {exc.strerror or exc}") from exc
        self.count = 0

    def write(self, record: CaptureRecord) -> None:
        """Write one record."""
        self._handle.write(record.to_json().decode())
        self._handle.write("\n")
        self.count += 1

    def frame(self, venue: str, recv_ms: int, frame: str, *, rest: str | None = None, meta: str | None = None) -> None:
        """Write a frame (or REST body, or metadata body)."""
        self.write(CaptureRecord(recv_ms=recv_ms, venue=venue, frame=frame, rest=rest, meta=meta))

    def gap(self, venue: str, recv_ms: int, reason: str) -> None:
        """Write a gap marker."""
        self.write(CaptureRecord(recv_ms=recv_ms, venue=venue, gap=reason))

    def flush(self) -> None:
        """Flush buffered lines to the file."""
        self._handle.flush()

    def close(self) -> None:
        """Close the file. Idempotent."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
