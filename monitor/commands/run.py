"""``liqmon run``: every role in one process (embedded in-memory bus unless Redis is configured)."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.app import ROLES, run_roles
from monitor.cli import check_writable, settings_from_args


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon run``."""
    parser.add_argument(
        "--capture-out", metavar="FILE", type=Path, help="also record every frame to this capture file (.gz ok)"
    )


def run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT."""
    settings = settings_from_args(args)
    if args.capture_out is not None:
        check_writable(args.capture_out, "--capture-out")
    return run_roles(settings, ROLES, capture_out=args.capture_out)
