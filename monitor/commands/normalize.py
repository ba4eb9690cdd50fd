"""``liqmon normalize --venue V [FILE|-]``: raw venue frames, one per line, to normalized events.

Events go to stdout as JSON lines (the DESIGN §3 wire format). Frames that
cannot be parsed are counted and summarized on stderr; ``--strict`` makes the
first one an error (exit 1). ``--rest PATH`` treats each line as the body of a
REST response from PATH (e.g. Binance ``/fapi/v1/openInterest?symbol=BTCUSDT``);
``--instruments PATH=FILE`` loads an instrument list first (contract sizes).

FILE may be gzip-compressed (``.gz``). A capture file (DESIGN §4, as written by
``liqmon record`` or ``--capture-out``) is recognized by its first line and read
as one: its records of ``--venue`` are normalized with their own receive times,
REST paths and instrument lists, the other venues' records are skipped. A
missing, unreadable or binary FILE is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import cast

from monitor import logs
from monitor.bus.codec import encode
from monitor.capture.format import (
    HEAD_BYTES,
    UNREADABLE,
    CaptureRecord,
    binary_line,
    iter_records,
    open_lines,
    parse_line,
)
from monitor.capture.replay import CaptureDecoder
from monitor.errors import ParseError, UsageError
from monitor.venues.registry import VENUES


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon normalize``."""
    parser.add_argument("--venue", required=True, choices=VENUES, help="venue the frames come from")
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="frames, one per line (default: stdin)")
    parser.add_argument("--strict", action="store_true", help="stop with exit code 1 at the first frame not parsed")
    parser.add_argument("--rest", metavar="PATH", help="lines are REST response bodies of this request path")
    parser.add_argument(
        "--instruments",
        metavar="PATH=FILE",
        action="append",
        default=[],
        help="load an instrument-list body (FILE) as the response of PATH first; repeatable",
    )
    parser.add_argument("--recv-ms", type=int, help="receive time to stamp (default: now)")


def run(args: argparse.Namespace) -> int:
    """Normalize the frames; exit 1 under --strict when a frame fails, 2 when the input cannot be read."""
    logs.configure(args.log_level or "warning", "auto")
    recv_ms = args.recv_ms if args.recv_ms is not None else int(time.time() * 1000)
    decoder = CaptureDecoder(strict=args.strict)
    for spec in args.instruments:
        path, sep, file = spec.partition("=")
        if not sep:
            raise UsageError(f"--instruments expects PATH=FILE, got {spec!r}")
        try:
            body = Path(file).read_bytes()
        except OSError as exc:
            raise UsageError(f"--instruments {file}: cannot read it: {exc.strerror or exc}") from None
        decoder.decode(CaptureRecord(recv_ms=recv_ms, venue=args.venue, meta=path, frame=body.decode(errors="replace")))
    name = "stdin" if args.file == "-" else args.file
    try:
        stream = _stdin() if args.file == "-" else open_lines(Path(args.file))
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    out = sys.stdout.buffer
    count = 0
    try:
        lines = _checked(stream, name)
        first = next(lines, None)
        lines = itertools.chain([first] if first is not None else [], lines)
        if first is not None and _is_record(first):
            records: Iterable[CaptureRecord] = (r for r in iter_records(lines, source=name) if r.venue == args.venue)
        else:
            records = (
                CaptureRecord(recv_ms=recv_ms, venue=args.venue, frame=_frame(line), rest=args.rest, line_no=line_no)
                for line_no, line in enumerate(lines, start=1)
                if line.strip()
            )
        for record in records:
            for event in decoder.decode(record):
                out.write(encode(event) + b"\n")
                count += 1
    except ParseError as exc:
        print(f"liqmon normalize: {exc}", file=sys.stderr)
        return 1
    except UNREADABLE as exc:  # a truncated or corrupt .gz
        raise UsageError(f"cannot read {name}: {exc}") from None
    finally:
        if args.file != "-":
            stream.close()
        out.flush()
    failed = sum(decoder.errors.values())
    print(f"liqmon normalize: {decoder.frames} frames, {count} events, {failed} not normalized", file=sys.stderr)
    if failed:
        print(decoder.summary(), file=sys.stderr)
    return 0


def _stdin() -> io.BufferedReader:
    """stdin as a buffered binary stream (what it is unless something replaced it; then it is wrapped)."""
    raw = sys.stdin.buffer
    return raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))


def _checked(stream: io.BufferedReader, name: str) -> Iterator[bytes]:
    """The lines of ``stream``; UsageError when its start, or a later line, is binary data rather than text."""
    line_no = binary_line(stream.peek(HEAD_BYTES)[:HEAD_BYTES])
    if line_no is not None:
        raise UsageError(f"{name} is binary data, not venue frames or a capture (line {line_no})")
    for line_no, line in enumerate(stream, start=1):
        if b"\0" in line:
            raise UsageError(f"{name} is binary data, not venue frames or a capture (line {line_no})")
        yield line


def _is_record(line: bytes) -> bool:
    """True when ``line`` is a capture record (DESIGN §4) rather than a raw venue frame."""
    try:
        parse_line(line, 1)
    except (ValueError, TypeError):
        return False
    return True


def _frame(line: bytes) -> str:
    return line.rstrip(b"\r\n").decode("utf-8", errors="replace")
