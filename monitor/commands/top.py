"""``liqmon top``: the live view of a running deployment.

Which deployment is read follows the configuration, as for the daemon itself:
with ``bus.redis_url`` set, the Redis streams of a scaled-out deployment
(read-only, no consumer group); otherwise the ``/state`` endpoint of the
``liqmon run`` whose metrics endpoint the configuration names. ``--url``
points at any daemon's metrics endpoint instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from monitor.app import run_async
from monitor.cli import settings_from_args
from monitor.settings import Settings
from monitor.top.screen import default_log_file, logs_to_file, quit_on_keys, run_view
from monitor.top.sources import HttpSource, RedisSource, Source, state_url

DEFAULT_LOOKBACK_S = 900.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon top``."""
    parser.add_argument("--url", metavar="URL", help="metrics endpoint of a running daemon (default: from the config)")
    parser.add_argument(
        "--lookback",
        type=float,
        default=DEFAULT_LOOKBACK_S,
        metavar="S",
        help=f"scaled out: read this many seconds of the event streams at start (default {DEFAULT_LOOKBACK_S:g})",
    )
    parser.add_argument("--refresh", type=float, default=1.0, metavar="S", help="seconds between redraws (default 1)")


def open_source(settings: Settings, url: str | None, lookback_s: float) -> Source:
    """The deployment the configuration (or ``url``) names."""
    if url is None and settings.bus.redis_enabled:
        return RedisSource(settings, lookback_s=lookback_s)
    return HttpSource(url or state_url(settings))


def run(args: argparse.Namespace) -> int:
    """Draw the view until q or Ctrl-C."""
    args.log_level = args.log_level or "warning"
    settings = settings_from_args(args)
    if not sys.stdout.isatty():
        print("liqmon top: stdout is not a terminal; use `liqmon alerts` for a plain listing", file=sys.stderr)
        return 2
    if args.refresh <= 0 or args.lookback < 0:
        print("liqmon top: --refresh must be positive and --lookback not negative", file=sys.stderr)
        return 2
    path = default_log_file("top")
    with logs_to_file(path, args.log_level):
        return run_async(_top(settings, args, note=f"log lines: {path}"))


async def _top(settings: Settings, args: argparse.Namespace, *, note: str) -> int:
    source = open_source(settings, args.url, args.lookback)
    stop = asyncio.Event()
    try:
        with quit_on_keys(stop.set):
            await run_view(source.snapshot, stop, refresh_s=args.refresh, notes=(note,))
    finally:
        await source.close()
    return 0
