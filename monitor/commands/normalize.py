"""``liqmon normalize --venue V [FILE|-]``: raw venue frames, one per line, to normalized events.

Events go to stdout as JSON lines (the DESIGN §3 wire format). Frames that
cannot be parsed are counted and summarized on stderr; ``--strict`` makes the
first one an error (exit 1). ``--rest PATH`` treats each line as the body of a
REST response from PATH (e.g. Binance ``/fapi/v1/openInterest?symbol=BTCUSDT``);
``--instruments PATH=FILE`` loads an instrument list first (contract sizes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from monitor import logs
from monitor.bus.codec import encode
from monitor.capture.format import CaptureRecord
from monitor.capture.replay import CaptureDecoder
from monitor.errors import ParseError
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
    """Normalize the frames; exit 1 under --strict when a frame fails."""
    logs.configure(args.log_level or "warning", "auto")
    recv_ms = args.recv_ms if args.recv_ms is not None else int(time.time() * 1000)
    decoder = CaptureDecoder(strict=args.strict)
    for spec in args.instruments:
        path, sep, file = spec.partition("=")
        if not sep:
            print(f"liqmon normalize: --instruments expects PATH=FILE, got {spec!r}", file=sys.stderr)
            return 2
        body = Path(file).read_text(encoding="utf-8")
        decoder.decode(CaptureRecord(recv_ms=recv_ms, venue=args.venue, meta=path, frame=body))
    stream = sys.stdin if args.file == "-" else Path(args.file).open(encoding="utf-8")  # noqa: SIM115
    out = sys.stdout.buffer
    count = 0
    try:
        for line_no, line in enumerate(stream, start=1):
            frame = line.rstrip("\n")
            if not frame.strip():
                continue
            record = CaptureRecord(recv_ms=recv_ms, venue=args.venue, frame=frame, rest=args.rest, line_no=line_no)
            for event in decoder.decode(record):
                out.write(encode(event) + b"\n")
                count += 1
    except ParseError as exc:
        print(f"liqmon normalize: {exc}", file=sys.stderr)
        return 1
    finally:
        if stream is not sys.stdin:
            stream.close()
        out.flush()
    failed = sum(decoder.errors.values())
    print(f"liqmon normalize: {decoder.frames} frames, {count} events, {failed} not normalized", file=sys.stderr)
    if failed:
        print(decoder.summary(), file=sys.stderr)
    return 0
