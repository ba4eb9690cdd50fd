"""``liqmon demo``: a scenario served by the venue simulators, the full pipeline, and a live view. Offline.

The scenario (generated, or ``--capture`` FILE) is played by the local venue
simulators over real websockets and REST at ``--speed`` times real time; the
daemon (collector → bus → detectors → sinks, plus the metrics endpoint) runs
against them exactly as against the venues, on the embedded bus unless Redis
is configured. On a terminal a live view shows event rates, liquidations,
funding, open interest and alerts; otherwise (or with ``--no-tui``) the
console sink prints the alerts and a summary follows at the end.

Accelerated playback keeps the scenario's own event times, so venues whose
frames carry none (BitMEX liquidations, Hyperliquid) would be stamped with the
wall clock and disagree with the others; they are left out unless
``--speed 1`` or ``--venues`` names them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.app import Application, run_async
from monitor.capture.format import CaptureRecord, read_capture
from monitor.cli import settings_from_args
from monitor.metrics import Metrics, set_default_metrics
from monitor.settings import load_settings
from monitor.sim.catalog import SCENARIOS
from monitor.sim.scenario import generate
from monitor.sim.tui import DemoView, summary_lines
from monitor.venues.registry import SPECS, VENUES

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


def _venues(args: argparse.Namespace, records: Sequence[CaptureRecord]) -> list[str]:
    present = [v for v in VENUES if any(r.venue == v for r in records)]
    if args.venues:
        return [v for v in args.venues if v in present]
    if args.speed != 1:
        return [v for v in present if not SPECS[v].untimed]
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
    left_out = sorted({r.venue for r in records} - set(venues))
    if left_out:
        print(f"liqmon demo: playing {', '.join(venues)}; left out: {', '.join(left_out)}", file=sys.stderr)
    tui = not args.no_tui and sys.stdout.isatty()
    view = DemoView(title)
    code = run_async(_play(args, [r for r in records if r.venue in venues], venues, view, overrides=overrides, tui=tui))
    for line in summary_lines(view):
        print(line, file=sys.stderr if not tui else sys.stdout)
    return code


async def _play(
    args: argparse.Namespace,
    records: list[CaptureRecord],
    venues: list[str],
    view: DemoView,
    *,
    overrides: dict[str, object],
    tui: bool,
) -> int:
    from monitor.sim.server import run_simulators

    span_s = (records[-1].recv_ms - records[0].recv_ms) / 1000 if records else 0.0
    async with run_simulators(records, venues=venues, speed=args.speed) as sims:
        settings = load_settings(
            args.config, overrides={**timing_overrides(args.speed), **overrides, **sims.settings_overrides()}
        )
        metrics = Metrics(assets=settings.metrics.assets)
        set_default_metrics(metrics)
        app = Application(settings, metrics=metrics, event_taps=[view.on_events], alert_taps=[view.on_alert])
        app_task = asyncio.create_task(app.run(), name="liqmon")
        served = asyncio.create_task(sims.wait_served(timeout=span_s / args.speed + 120.0), name="served")
        waiters: set[asyncio.Task[object]] = {app_task, served}
        if args.duration is not None:
            waiters.add(asyncio.create_task(asyncio.sleep(args.duration), name="duration"))
        try:
            await _watch(waiters, view, tui)
        finally:
            app.request_stop(input_ended=served.done() and not served.cancelled() and served.exception() is None)
            for task in waiters - {app_task}:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
            code = await app_task
        late = metrics.registry.get_sample_value("liqmon_detector_events_total", {"outcome": "late"}) or 0.0
        view.notes.append(f"events the detectors dropped as late: {late:,.0f}")
    if served.done() and not served.cancelled() and served.exception() is not None:
        print("liqmon demo: the simulators did not finish playing in time", file=sys.stderr)
        return 1
    return code


async def _watch(waiters: set[asyncio.Task[object]], view: DemoView, tui: bool) -> None:
    """Wait for the first of the waiters; refresh the live view meanwhile."""
    if not tui:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return
    from rich.live import Live

    with Live(view.render(), refresh_per_second=4, screen=False) as live:
        while True:
            done, _ = await asyncio.wait(waiters, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            live.update(view.render())
            if done:
                return
