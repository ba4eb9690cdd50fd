"""``liqmon alert``: the alert dispatcher role over Redis; ``liqmon alert test`` checks the sinks."""

from __future__ import annotations

import argparse
import asyncio
import sys

from monitor.cli import settings_from_args
from monitor.errors import ConfigError
from monitor.settings import Settings


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon alert``."""
    parser.add_argument(
        "action",
        nargs="?",
        choices=["test"],
        help="test: send a marked test alert through the configured sinks and report each result",
    )
    parser.add_argument("--sink", metavar="NAME", help="with `test`: only this sink (e.g. slack, webhook:ops, mqtt)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="with `test`: seconds per sink")


def run(args: argparse.Namespace) -> int:
    """Dispatch until SIGTERM/SIGINT, or run the sink test."""
    settings = settings_from_args(args)
    if args.action == "test":
        return _test(settings, args.sink, args.timeout)
    if args.sink:
        raise ConfigError("--sink only applies to `liqmon alert test`")
    if not settings.bus.redis_enabled:
        raise ConfigError(
            "liqmon alert reads the alerts stream in Redis: set bus.redis_url (or LIQMON_BUS__REDIS_URL); "
            "without Redis, `liqmon run` dispatches alerts in-process"
        )
    from monitor.app import run_roles

    return run_roles(settings, roles={"alert"})


def _test(settings: Settings, only: str | None, timeout: float) -> int:
    from monitor.alerts.selftest import send_test_alert
    from monitor.alerts.sinks import build_sinks

    alerts = settings.alerts

    async def main() -> int:
        sinks = [sink for sink, _ in build_sinks(alerts)]
        if only is not None:
            chosen = [s for s in sinks if s.name == only]
            if not chosen:
                names = ", ".join(s.name for s in sinks) or "none"
                print(f"liqmon alert test: no sink named {only!r} (configured: {names})", file=sys.stderr)
                for sink in sinks:
                    await sink.aclose()
                return 2
            for sink in sinks:
                if sink not in chosen:
                    await sink.aclose()
            sinks = chosen
        if not sinks:
            print("liqmon alert test: no sinks configured (see [alerts] in the configuration)", file=sys.stderr)
            return 2
        results = await send_test_alert(sinks, timeout=timeout)
        width = max(len(r.sink) for r in results)
        for r in results:
            print(f"{r.sink:<{width}}  {'ok' if r.ok else 'error'}{'' if r.ok else '  ' + r.detail}")
        return 0 if all(r.ok for r in results) else 1

    return asyncio.run(main())
