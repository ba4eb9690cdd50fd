"""``liqmon replay CAPTURE``: a capture through the same parsers and pipeline as live.

As fast as possible by default (``--speed X`` paces it at X times real time).
``--events-out`` writes every normalized event as JSON lines, ``--alerts-out``
every alert the detectors raise; sinks run as configured (the console sink
prints alerts). A replay is a batch job: it serves metrics only when asked
(``--metrics-port``), never on the configured ``metrics.port``, so it runs
beside a live daemon. ``--hold`` keeps the process (and the endpoint, if any)
up after the capture ends, until SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from monitor.alert import Alert, encode_alert
from monitor.app import ROLES, AlertTap, Application, EventTap, run_async
from monitor.bus.codec import encode
from monitor.capture.format import check_capture, read_capture
from monitor.cli import check_writable, settings_from_args
from monitor.events import Event
from monitor.metrics import Metrics, set_default_metrics


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon replay``."""
    parser.add_argument("capture", metavar="CAPTURE", type=Path, help="capture file (.jsonl or .jsonl.gz)")
    parser.add_argument("--events-out", metavar="F", type=Path, help="write normalized events here (JSON lines)")
    parser.add_argument("--alerts-out", metavar="F", type=Path, help="write alerts here (JSON lines)")
    parser.add_argument(
        "--speed", metavar="X", type=float, help="pace at X times real time (default: as fast as possible)"
    )
    parser.add_argument(
        "--metrics-port",
        metavar="PORT",
        type=int,
        help="serve /metrics, /healthz and /readyz on this port (0 = any free port); default: no endpoint",
    )
    parser.add_argument(
        "--hold", action="store_true", help="keep running (and serving) after the capture ends, until SIGTERM/SIGINT"
    )
    parser.add_argument("--no-detect", action="store_true", help="only normalize (no detectors, no alerts)")


def _event_writer(handle: IO[bytes]) -> EventTap:
    def on_events(events: Sequence[Event]) -> None:
        handle.writelines(encode(event) + b"\n" for event in events)
        handle.flush()  # readers (and --hold users) see each frame's events as soon as they are published

    return on_events


def _alert_writer(handle: IO[bytes]) -> AlertTap:
    def on_alert(alert: Alert) -> None:
        handle.write(encode_alert(alert) + b"\n")
        handle.flush()

    return on_alert


def run(args: argparse.Namespace) -> int:
    """Replay the capture; exit 0 when it has been processed and drained."""
    overrides: dict[str, object] = {}
    if args.metrics_port is not None:
        overrides["metrics.port"] = args.metrics_port
    settings = settings_from_args(args, **overrides)
    if args.speed is not None and args.speed <= 0:
        print("liqmon replay: --speed must be positive", file=sys.stderr)
        return 2
    if not args.capture.exists():
        print(f"liqmon replay: no such capture file: {args.capture}", file=sys.stderr)
        return 2
    check_capture(args.capture)
    for option, path in (("--events-out", args.events_out), ("--alerts-out", args.alerts_out)):
        if path is not None:
            check_writable(path, option)
    metrics = Metrics(assets=settings.metrics.assets)
    set_default_metrics(metrics)
    with ExitStack() as stack:
        event_taps: list[EventTap] = []
        alert_taps: list[AlertTap] = []
        if args.events_out:
            event_taps.append(_event_writer(stack.enter_context(args.events_out.open("wb"))))
        if args.alerts_out:
            alert_taps.append(_alert_writer(stack.enter_context(args.alerts_out.open("wb"))))
        roles = {"collect"} if args.no_detect else set(ROLES)
        app = Application(
            settings,
            roles=roles,
            metrics=metrics,
            source=read_capture(args.capture, metrics=metrics),
            speed=args.speed,
            event_taps=event_taps,
            alert_taps=alert_taps,
            hold=args.hold,
            serve_metrics=args.metrics_port is not None,
        )
        code = run_async(app.run())
    if app.replay is not None and app.replay.failure is not None:
        print(f"liqmon replay: {app.replay.failure}", file=sys.stderr)
        code = code or 1
    decoder = app.replay.decoder if app.replay else None
    if decoder is not None:
        print(
            f"liqmon replay: {decoder.frames} frames, {app.replay.published if app.replay else 0} events",
            file=sys.stderr,
        )
        if decoder.errors:
            print("frames not normalized:\n" + decoder.summary(), file=sys.stderr)
    return code
