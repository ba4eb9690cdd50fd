"""``liqmon record``: connect to the venues like the collector and write everything to a capture.

Frames, polled REST bodies, instrument lists (``meta``) and gap markers go to
``--out`` (gzip when it ends in ``.gz``) in the capture format, so the file can
be replayed through the parsers or served by the simulators. Stops after
``--duration`` or on SIGINT/SIGTERM, flushing the file. A recording during
which no venue ever connected is a failure (exit 1), not an empty success.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
from collections.abc import Sequence
from pathlib import Path

from monitor.capture.format import CaptureWriter
from monitor.cli import check_writable, settings_from_args
from monitor.errors import CaptureError, VenueConnectError
from monitor.events import Event
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.settings import Settings
from monitor.venues.collector import Collector, CollectorOptions
from monitor.venues.registry import VENUES

log = get_logger(__name__)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h`` or ``1d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"duration must look like 90s, 15m, 2h or 1d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Discard:
    """Events are not needed while recording: the raw frames are the product."""

    def publish(self, events: Sequence[Event]) -> None:
        """Drop the batch."""


async def record(
    settings: Settings,
    out: Path,
    *,
    duration_s: float | None,
    venues: Sequence[str] | None,
    stop: asyncio.Event | None = None,
    options: CollectorOptions | None = None,
) -> int:
    """Record until ``duration_s`` passes or ``stop`` is set; returns the number of capture lines written.

    Raises CaptureError when writing the file failed (it stops the recording), VenueConnectError (after
    closing the file) when no venue connected at all.
    """
    stop = stop or asyncio.Event()
    metrics = Metrics()
    with CaptureWriter(out, metrics=metrics, on_failure=stop.set) as capture:
        collector = Collector(settings, _Discard(), metrics, capture=capture, options=options, venues=venues)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(duration_s, stop.set) if duration_s is not None else None
        try:
            await collector.run(stop)
        finally:
            if timer is not None:
                timer.cancel()
            capture.flush()
        log.info("record_done", file=str(out), lines=capture.count)
    if capture.failure is not None:
        raise CaptureError(f"recording stopped after {capture.count} lines: cannot write {out}: {capture.failure}")
    if collector.venues and not collector.connected_venues():
        raise VenueConnectError(
            f"no venue connected ({', '.join(collector.venues)}); wrote {capture.count} lines to {out}. "
            "Check the network and venues.<name>.ws_url; the log names each failed attempt"
        )
    return capture.count


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon record``."""
    parser.add_argument(
        "--out", "-o", required=True, type=Path, metavar="FILE", help="capture file to write (gzip when it ends in .gz)"
    )
    parser.add_argument(
        "--duration",
        "-d",
        type=parse_duration,
        metavar="D",
        help="stop after this long (90s, 15m, 2h); default: until SIGINT/SIGTERM",
    )
    parser.add_argument(
        "--venues",
        nargs="+",
        choices=VENUES,
        metavar="VENUE",
        help=f"venues to record (default: the enabled ones); one of {', '.join(VENUES)}",
    )


def run(args: argparse.Namespace) -> int:
    """Record until the duration ends or a signal arrives."""
    settings = settings_from_args(args)
    check_writable(args.out, "--out")

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        lines = await record(settings, args.out, duration_s=args.duration, venues=args.venues, stop=stop)
        print(f"liqmon record: wrote {lines} lines to {args.out}")
        return 0

    return asyncio.run(main())
