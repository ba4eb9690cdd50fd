"""Venue simulators in a process of their own, for tests that run liqmon as separate processes.

``python -m tests.support.sim_serve --hours H --speed X --venues V...`` generates
the ``feb-2026-crash`` scenario, starts the simulators on free 127.0.0.1 ports,
prints the ``LIQMON_*`` environment that points liqmon at them as one JSON
line, and serves until stdin closes (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from monitor.sim.scenario import generate
from monitor.sim.server import run_simulators
from monitor.venues.registry import VENUES


def env_name(dotted: str) -> str:
    """``venues.okx.ws_url`` → ``LIQMON_VENUES__OKX__WS_URL``."""
    return "LIQMON_" + "__".join(part.upper() for part in dotted.split("."))


async def main(args: argparse.Namespace) -> None:
    records = generate("feb-2026-crash", seed=1, hours=args.hours).records
    async with run_simulators(records, venues=args.venues, speed=args.speed) as sims:
        env = {
            env_name(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in sims.settings_overrides().items()
        }
        print(json.dumps(env), flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or done.set())
        await done.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--speed", type=float, default=1200.0)
    parser.add_argument("--venues", nargs="+", choices=VENUES)
    asyncio.run(main(parser.parse_args()))
