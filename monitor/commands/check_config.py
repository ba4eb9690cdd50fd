"""``liqmon check-config [FILE]``: validate the configuration and print it with secrets masked."""

from __future__ import annotations

import argparse
import sys

from monitor.settings import describe, load_settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon check-config``."""
    parser.add_argument(
        "file", nargs="?", metavar="FILE", help="configuration file (default: --config or $LIQMON_CONFIG)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the effective configuration; a ConfigError exits 2 via the CLI."""
    settings = load_settings(args.file or args.config)
    sys.stdout.write(describe(settings))
    print("# configuration OK", file=sys.stderr)
    return 0
