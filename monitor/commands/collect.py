"""``liqmon collect``: the venue connections alone, publishing to the Redis event streams.

The scaled-out collect role; detectors (``liqmon detect``) and the dispatcher
(``liqmon alert``) run elsewhere and read the same Redis. It refuses to start
without ``bus.redis_url``: an in-memory bus would keep the events to itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.app import run_roles
from monitor.cli import check_writable, settings_from_args


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon collect``."""
    parser.add_argument(
        "--capture-out", metavar="FILE", type=Path, help="also record every frame to this capture file (.gz ok)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the collect role until SIGTERM/SIGINT."""
    settings = settings_from_args(args)
    if not settings.bus.redis_enabled:
        print(
            "liqmon collect: no Redis configured. The collect role publishes to Redis Streams for "
            "`liqmon detect` and `liqmon alert`; set bus.redis_url (or LIQMON_BUS__REDIS_URL), "
            "or use `liqmon run` to run everything in one process.",
            file=sys.stderr,
        )
        return 2
    if args.capture_out is not None:
        check_writable(args.capture_out, "--capture-out")
    return run_roles(settings, {"collect"}, capture_out=args.capture_out)
