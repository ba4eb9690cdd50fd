"""``liqmon alerts``: the alerts a running deployment raised lately, oldest first.

Read like ``liqmon top`` reads: from the Redis alerts stream (read-only) when
``bus.redis_url`` is set, else from the ``/alerts`` endpoint of ``liqmon run``
(which keeps the last 10,000 alerts it raised). One line per alert, or the
alert JSON per line with ``--json``.
"""

from __future__ import annotations

import argparse
import sys

from monitor.alert import Alert, encode_alert
from monitor.app import run_async
from monitor.cli import settings_from_args
from monitor.commands.record import parse_duration
from monitor.commands.top import open_source
from monitor.top.live import wall_ms
from monitor.top.view import clock


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon alerts``."""
    parser.add_argument(
        "--since",
        type=parse_duration,
        default="24h",
        metavar="DURATION",
        help="how far back (default 24h; 90s, 15m, 7d)",
    )
    parser.add_argument("--url", metavar="URL", help="metrics endpoint of a running daemon (default: from the config)")
    parser.add_argument("--json", action="store_true", help="one alert JSON object per line")
    parser.add_argument("--firing", action="store_true", help="only firing alerts (what fired, not what resolved)")


def line(alert: Alert) -> str:
    """One alert as a line of text."""
    return (
        f"{clock(alert.ts_ms)}  {alert.status:8} {alert.severity:8} {alert.kind:20} {alert.base:6} "
        f"{alert.direction:8} {alert.summary}"
    )


def run(args: argparse.Namespace) -> int:
    """Print the alerts."""
    args.log_level = args.log_level or "warning"
    settings = settings_from_args(args)
    source = open_source(settings, args.url, 0.0)

    alerts: list[Alert] = []
    since_ms = wall_ms() - int(args.since * 1000)

    async def fetch() -> int:
        try:
            alerts.extend(await source.alerts_since(since_ms))
        finally:
            await source.close()
        return 0

    run_async(fetch())  # a SourceError says what cannot be reached (exit code 1)
    if args.firing:
        alerts = [a for a in alerts if a.status == "firing"]
    for alert in alerts:
        print(encode_alert(alert).decode() if args.json else line(alert))
    if not args.json:
        print(f"{len(alerts)} alert(s) raised since {clock(since_ms)} UTC", file=sys.stderr)
    return 0
