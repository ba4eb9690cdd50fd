"""The ``liqmon`` command line.

Each sub-command lives in its own module under ``monitor/commands/`` exposing two functions::

    def configure_parser(parser: argparse.ArgumentParser) -> None   # add its arguments
    def run(args: argparse.Namespace) -> int                        # do the work, return the exit code

Modules are imported only when their command runs. ``args.config`` (path or
None) and ``args.log_level`` are set for every command; use
:func:`settings_from_args` to load and validate the configuration.
Exit codes: 0 success, 1 failure at run time, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, UsageError

COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "run": ("monitor.commands.run", "run everything in one process (embedded bus unless Redis is configured)"),
    "collect": ("monitor.commands.collect", "venue adapters -> event streams (scaled-out role, needs Redis)"),
    "detect": ("monitor.commands.detect", "detector worker over the event streams (scaled-out role, needs Redis)"),
    "alert": ("monitor.commands.alert", "alert dispatcher over the alerts stream; `alert test` checks the sinks"),
    "replay": ("monitor.commands.replay", "run a capture file through the parsers and the pipeline"),
    "normalize": ("monitor.commands.normalize", "raw venue frames (one per line) to normalized JSON events"),
    "top": ("monitor.commands.top", "live view of a running deployment (embedded `run`, or scaled out over Redis)"),
    "alerts": ("monitor.commands.alerts", "list the alerts a running deployment raised (`--since 24h`)"),
    "check-config": ("monitor.commands.check_config", "validate the configuration and print it, secrets masked"),
    "record": ("monitor.commands.record", "record venue frames, REST bodies and instrument lists to a capture"),
    "scenario": ("monitor.commands.scenario", "write a synthetic market scenario as a capture file"),
    "demo": ("monitor.commands.demo", "venue simulators + the full pipeline + a live terminal view, offline"),
    "backtest": ("monitor.commands.backtest", "run the detectors over a capture and write a report"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser (imports each command module to let it add its arguments).

    With ``only`` (a command name) only that command's module is imported and given its arguments;
    the others keep their name and help text, so a command does not pay for importing all the others.
    """
    parser = argparse.ArgumentParser(
        prog="liqmon",
        description="Watch crypto-derivatives venues for liquidation cascades, funding flips and OI collapses.",
    )
    parser.add_argument("--version", action="version", version=f"liqmon {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", metavar="FILE", help="TOML configuration file (default: $LIQMON_CONFIG)")
    common.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="override log.level from the configuration"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        command.set_defaults(_module=module_name)
        if only is not None and name != only:
            continue
        module = _import(module_name)
        if module is not None:
            module.configure_parser(command)
    return parser


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """Load and validate the configuration named by ``args`` and configure logging."""
    from monitor import logs
    from monitor.settings import load_settings

    settings = load_settings(args.config, overrides=overrides or None)
    level = getattr(args, "log_level", None) or settings.log.level
    logs.configure(level, settings.log.format)
    return settings


def check_writable(path: Path, option: str, *, directory: bool = False) -> None:
    """Raise UsageError (naming ``option``, the path and the reason) unless ``path`` can be written.

    A file's folder must already exist; ``directory`` outputs are created (with their parents).
    The check writes nothing that stays: a file it had to create for the test is removed again.
    """
    try:
        if directory:
            path.mkdir(parents=True, exist_ok=True)
            with open(path / ".liqmon-write-test", "wb"):
                pass
            (path / ".liqmon-write-test").unlink()
            return
        if path.is_dir():
            raise UsageError(f"{option} {path}: is a directory; give a file name")
        if not path.parent.exists():
            raise UsageError(f"{option} {path}: the folder {path.parent} does not exist; create it first")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {path}: {path.parent} is not a folder")
        existed = path.exists()
        with open(path, "ab"):
            pass
        if not existed:
            with contextlib.suppress(OSError):
                path.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``liqmon`` console script."""
    words = sys.argv[1:] if argv is None else list(argv)
    # The command is the first word that is not an option (the top-level parser has only -h and --version).
    chosen = next((word for word in words if not word.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(words)
    module = _import(args._module)
    if module is None:
        print(f"liqmon {args.command}: this command is not available in this build", file=sys.stderr)
        return 2
    try:
        return int(module.run(args))
    except ConfigError as exc:
        print(f"liqmon: configuration error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"liqmon {args.command}: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"liqmon {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
