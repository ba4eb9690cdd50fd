"""``liqmon detect``: the detector role alone, over Redis (one owner per events shard).

Run as many as you like: each takes the shards no one holds (leases
``detector-shard-N``), and when a process dies the others take its shards over
within the lease time, rebuilding state from the retained stream history.
"""

from __future__ import annotations

import argparse
import dataclasses

from monitor.app import run_roles
from monitor.cli import settings_from_args
from monitor.errors import ConfigError
from monitor.metrics import Metrics, set_default_metrics


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon detect``."""
    parser.add_argument(
        "--consumer",
        metavar="NAME",
        help="consumer and lease-owner name of this process (default: bus.consumer_name, else hostname-pid)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the detectors until SIGTERM/SIGINT."""
    settings = settings_from_args(args)
    if not settings.bus.redis_enabled:
        raise ConfigError(
            "liqmon detect needs Redis: set bus.redis_url (or LIQMON_BUS__REDIS_URL); "
            "without Redis use `liqmon run`, which runs the detectors in-process"
        )
    if args.consumer:
        settings = dataclasses.replace(settings, bus=dataclasses.replace(settings.bus, consumer_name=args.consumer))
    metrics = Metrics(assets=settings.metrics.assets)
    set_default_metrics(metrics)
    return run_roles(settings, {"detect"}, metrics=metrics)
