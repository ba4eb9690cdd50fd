"""``liqmon demo``: a scenario served by the venue simulators, the full pipeline, and the live view. Offline.

The scenario (generated, or ``--capture`` FILE) is played by the local venue
simulators over real websockets and REST at ``--speed`` times real time; the
daemon (collector → bus → detectors → sinks, plus the metrics endpoint with
``/state``) runs against them exactly as against the venues, on the embedded
bus unless Redis is configured. On a terminal the ``liqmon top`` view shows it
(log lines go to a file meanwhile; q or Ctrl-C quits); otherwise (or with
``--no-tui``) the console sink prints the alerts. A summary follows at the end.

Every venue in the scenario plays. The simulators start together from one
origin, and the collector stamps receive times with the playback's clock
(:meth:`~monitor.sim.server.Simulators.playback_ms`), so venues whose frames
carry no time (BitMEX liquidations, Hyperliquid) stay on the scenario's time
line at any speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from monitor.app import Application, run_async
from monitor.capture.format import CaptureRecord, read_capture
from monitor.cli import settings_from_args
from monitor.metrics import Metrics, set_default_metrics
from monitor.settings import load_settings
from monitor.sim.catalog import SCENARIOS
from monitor.sim.scenario import generate
from monitor.sim.server import Simulators
from monitor.sim.venue import SimOptions
from monitor.top.screen import default_log_file, logs_to_file, quit_on_keys, run_view
from monitor.top.state import Snapshot
from monitor.top.summary import summary_lines
from monitor.venues.registry import VENUES

# How long to wait for every simulated venue to be connected before the playback starts anyway.
CONNECT_TIMEOUT_S = 30.0
# Wall-clock jitter between the simulated feeds (scheduling, CPU) that the detectors should absorb.
JITTER_S = 0.5
_CLASSES = ("major", "large_cap", "small_cap")
DEFAULT_HOURS = 12.0
DEFAULT_SPEED = 240.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon demo``."""
    parser.add_argument("--scenario", default="feb-2026-crash", choices=list(SCENARIOS), help="scenario to play")
    parser.add_argument("--capture", type=Path, metavar="FILE", help="play this capture instead of a scenario")
    parser.add_argument(
        "--hours",
        type=float,
        metavar="H",
        help=f"compress the scenario into H hours of market time (default {DEFAULT_HOURS:g})",
    )
    parser.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        metavar="X",
        help=f"play at X times real time (default {DEFAULT_SPEED:g})",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds even if not finished")
    parser.add_argument("--venues", nargs="+", choices=VENUES, metavar="V", help="venues to simulate")
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics here (0: any free port)")
    parser.add_argument("--no-tui", action="store_true", help="print alert lines and a summary instead of the view")
    parser.add_argument(
        "--log-file", type=Path, metavar="FILE", help="log lines while the view is up (default: a temp file)"
    )


def _venues(args: argparse.Namespace, records: Sequence[CaptureRecord]) -> list[str]:
    present = [v for v in VENUES if any(r.venue == v for r in records)]
    if args.venues:
        return [v for v in args.venues if v in present]
    return present


def timing_overrides(speed: float) -> dict[str, float]:
    """Detector tolerances widened for accelerated playback.

    At X times real time, a feed that lags the others by ``JITTER_S`` of wall
    time is ``X × JITTER_S`` behind in market time; the reorder tolerance and the
    staleness limits grow to match, so the detectors neither drop its events as
    late nor leave it out of the open-interest and funding aggregates.
    """
    lag = speed * JITTER_S
    if lag <= 5.0:
        return {}
    out = {"detectors.reorder_tolerance_s": max(10.0, 2 * lag)}
    for cls in _CLASSES:
        out[f"detectors.{cls}.open_interest.stale_s"] = max(120.0, 120.0 + 2 * lag)
        out[f"detectors.{cls}.funding.stale_s"] = max(600.0, 600.0 + 2 * lag)
        out[f"detectors.{cls}.options.stale_s"] = max(300.0, 300.0 + 2 * lag)
    return out


def run(args: argparse.Namespace) -> int:
    """Generate (or load) the scenario and play it through the whole daemon."""
    overrides: dict[str, object] = {}
    if args.metrics_port is not None:
        overrides["metrics.port"] = args.metrics_port
    # The view (or the alert lines) is the output; log lifecycle chatter only when asked to.
    args.log_level = args.log_level or "warning"
    settings_from_args(args, **overrides)  # validates the configuration and sets up logging
    if args.speed <= 0:
        print("liqmon demo: --speed must be positive", file=sys.stderr)
        return 2
    if args.capture is not None:
        if not args.capture.exists():
            print(f"liqmon demo: no such capture file: {args.capture}", file=sys.stderr)
            return 2
        records = list(read_capture(args.capture))
        title = args.capture.name
    else:
        hours = args.hours or min(DEFAULT_HOURS, SCENARIOS[args.scenario].nominal_hours)
        records = generate(args.scenario, seed=args.seed, hours=hours).records
        title = f"{args.scenario} ({hours:g} h at {args.speed:g}×)"
    venues = _venues(args, records)
    if not venues:
        print("liqmon demo: none of the requested venues is in the scenario", file=sys.stderr)
        return 2
    tui = not args.no_tui and sys.stdout.isatty()
    played = [r for r in records if r.venue in venues]
    outcome: list[tuple[Snapshot, Counter[tuple[str, str]]]] = []
    started = time.monotonic()
    if tui:
        # The view lists the alerts; the console sink's lines would print over it.
        overrides["alerts.console"] = False
        log_file = args.log_file or default_log_file("demo")
        with logs_to_file(log_file, args.log_level):
            code = run_async(
                _play(
                    args,
                    played,
                    venues,
                    title,
                    overrides=overrides,
                    view_note=f"log lines: {log_file}",
                    outcome=outcome,
                )
            )
    else:
        code = run_async(_play(args, played, venues, title, overrides=overrides, view_note=None, outcome=outcome))
    if outcome:
        snapshot, fired = outcome[0]
        for line in summary_lines(snapshot, fired, time.monotonic() - started):
            print(line, file=sys.stdout if tui else sys.stderr)
    if tui:
        print(f"  log lines: {log_file}")
    return code


async def _play(
    args: argparse.Namespace,
    records: list[CaptureRecord],
    venues: list[str],
    title: str,
    *,
    overrides: dict[str, object],
    view_note: str | None,
    outcome: list[tuple[Snapshot, Counter[tuple[str, str]]]],
) -> int:
    from monitor.sim.server import run_simulators

    origin = records[0].recv_ms if records else 0
    span_s = (records[-1].recv_ms - origin) / 1000 if records else 0.0
    options = SimOptions(auto_start=False, origin_ms=origin)
    async with run_simulators(records, venues=venues, speed=args.speed, options=options) as sims:
        settings = load_settings(
            args.config, overrides={**timing_overrides(args.speed), **overrides, **sims.settings_overrides()}
        )
        metrics = Metrics(assets=settings.metrics.assets)
        set_default_metrics(metrics)
        app = Application(settings, metrics=metrics, clock=sims.playback_ms, label=title)
        app_task = asyncio.create_task(app.run(), name="liqmon")
        await _start_playback(app, app_task, sims)
        served = asyncio.create_task(sims.wait_served(timeout=span_s / args.speed + 120.0), name="served")
        waiters: set[asyncio.Task[object]] = {app_task, served}
        if args.duration is not None:
            waiters.add(asyncio.create_task(asyncio.sleep(args.duration), name="duration"))
        try:
            await _watch(waiters, app, view_note)
        finally:
            app.request_stop(input_ended=served.done() and not served.cancelled() and served.exception() is None)
            for task in waiters - {app_task}:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
            code = await app_task
        late = metrics.registry.get_sample_value("liqmon_detector_events_total", {"outcome": "late"}) or 0.0
        app.state.notes.append(f"events the detectors dropped as late: {late:,.0f}")
        fired: Counter[tuple[str, str]] = Counter(
            (a.kind, a.direction) for _, a in app.state.book.log if a.status == "firing"
        )
        outcome.append((app.state.snapshot(), fired))
    if served.done() and not served.cancelled() and served.exception() is not None:
        print("liqmon demo: the simulators did not finish playing in time", file=sys.stderr)
        return 1
    return code


async def _start_playback(app: Application, app_task: asyncio.Task[int], sims: Simulators) -> None:
    """Start every simulator together, once the collector is connected (or at a timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_TIMEOUT_S
    # The collector exists once the application's task group has started; poll briefly for it.
    while app.collector is None and not app_task.done() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if app.collector is not None:
        await app.collector.wait_ready(max(0.0, deadline - loop.time()))
    sims.start_playback()


async def _watch(waiters: set[asyncio.Task[object]], app: Application, view_note: str | None) -> None:
    """Wait for the first of the waiters; draw the live view (when there is a note for it) meanwhile.

    q or Ctrl-C ends the view, and the demo, early.
    """
    if view_note is None:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return
    stop = asyncio.Event()

    async def finished() -> None:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        stop.set()

    async def snapshot() -> Snapshot:
        return app.state.snapshot()

    ender = asyncio.create_task(finished(), name="demo-finished")
    try:
        with quit_on_keys(stop.set):
            await run_view(snapshot, stop, refresh_s=0.25, notes=(view_note,))
    finally:
        ender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ender
