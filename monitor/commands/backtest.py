"""``liqmon backtest CAPTURE --report DIR``: the detectors over a capture, as fast as possible, with a report.

The capture goes through the real venue parsers once (``meta`` lines load
instruments, ``rest`` lines go to ``parse_rest``, frames to ``parse``); the
events then run through :class:`~monitor.detectors.engine.DetectionEngine`
once per parameter combination. ``--set detectors.<path>=v1,v2,...`` sweeps:
every combination of the listed values is run and compared. A path of the
form ``detectors.<cascade|funding|open_interest>.<key>`` applies to every
asset in the capture (as a ``detectors.assets.<BASE>`` override); any other
``detectors.`` path is set as written.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.alert import Alert
from monitor.capture.format import CaptureRecord, check_capture, read_capture
from monitor.capture.replay import CaptureDecoder
from monitor.cli import check_writable
from monitor.detectors.config import DetectorSettings
from monitor.detectors.engine import DetectionEngine
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.metrics import Metrics, default_metrics
from monitor.report import (
    EpisodeRow,
    Series,
    SeriesBuilder,
    chart_title,
    episodes_from_alerts,
    write_alerts,
    write_chart,
    write_comparison,
    write_episodes,
)

_SHORTHAND = ("cascade", "funding", "open_interest")


@dataclass(slots=True)
class ParsedCapture:
    """The normalized events of a capture (gap markers included) and what went wrong reading it."""

    events: list[Event] = field(default_factory=list)
    records: int = 0
    gaps: int = 0
    parse_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    issues: Counter[tuple[str, str]] = field(default_factory=Counter)
    unknown_venues: Counter[str] = field(default_factory=Counter)

    @property
    def bases(self) -> list[str]:
        """Assets in the capture, most events first."""
        counts = Counter(getattr(e, "base", None) for e in self.events)
        return [b for b, _ in counts.most_common() if isinstance(b, str)]


def parse_records(
    records: Iterable[CaptureRecord],
    *,
    metrics: Metrics | None = None,
    progress: Callable[[int], None] | None = None,
) -> ParsedCapture:
    """Decode capture records as ``liqmon replay`` does (:class:`CaptureDecoder`); bad frames are counted.

    Gap markers become :class:`~monitor.events.Gap` events in their place, so the detectors
    leave a disconnected venue out exactly as they do live and in a replay.
    """
    decoder = CaptureDecoder(metrics=metrics or default_metrics())
    out = ParsedCapture()
    for record in records:
        out.records += 1
        if progress is not None and out.records % 5000 == 0:
            progress(5000)
        out.events.extend(decoder.decode(record))
    out.gaps = decoder.gaps
    out.issues = decoder.issues
    out.unknown_venues = decoder.unknown_venues
    out.parse_errors = decoder.errors - decoder.issues
    for venue, count in decoder.unknown_venues.items():
        out.parse_errors[(venue, "unknown_venue")] -= count
    out.parse_errors = +out.parse_errors  # drop the zeroed counts
    return out


def detect(events: Iterable[Event], settings: DetectorSettings) -> list[Alert]:
    """Every alert the detectors raise over ``events`` (in order)."""
    engine = DetectionEngine(settings)
    alerts: list[Alert] = []
    last = 0
    for event in events:
        alerts += engine.feed(event)
        last = max(last, event.ts_ms)
    if last:
        alerts += engine.advance(last)
    return alerts


# -- parameter sweeps ---------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A TOML scalar (number, boolean, quoted string), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def sweep(assignments: Sequence[str]) -> list[dict[str, str]]:
    """Every combination of ``path=v1,v2`` assignments, as {path: value text}."""
    axes: list[list[tuple[str, str]]] = []
    for item in assignments:
        path, sep, values = item.partition("=")
        path = path.strip()
        if not sep or not path or not values.strip():
            raise ConfigError(f"--set {item!r}: expected detectors.<path>=value[,value...]")
        if not path.startswith("detectors."):
            raise ConfigError(f"--set {path}: only detector settings (detectors.<path>) can be set in a backtest")
        axes.append([(path, v.strip()) for v in values.split(",") if v.strip()])
    return [dict(combo) for combo in itertools.product(*axes)]


def overrides_for(combo: dict[str, str], bases: Sequence[str]) -> dict[str, Any]:
    """Settings overrides (dotted keys) for one combination; shorthand paths expand per asset."""
    out: dict[str, Any] = {}
    for path, text in combo.items():
        parts = path.split(".")
        value = parse_value(text)
        if len(parts) == 3 and parts[1] in _SHORTHAND:
            for base in bases:
                out[f"detectors.assets.{base}.{parts[1]}.{parts[2]}"] = value
        else:
            out[path] = value
    return out


# -- command --------------------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon backtest``."""
    parser.add_argument("capture", metavar="CAPTURE", type=Path, help="capture file (.jsonl or .jsonl.gz)")
    parser.add_argument("--report", metavar="DIR", type=Path, required=True, help="directory for the report")
    parser.add_argument(
        "--set",
        metavar="KEY=V[,V...]",
        action="append",
        default=[],
        dest="assignments",
        help="detector setting, e.g. detectors.cascade.floor_usd=5e6,1e7 (comma-separated values sweep)",
    )
    parser.add_argument("--base", metavar="ASSET", help="asset to chart (default: the one with most events)")


def run(args: argparse.Namespace) -> int:
    """Parse the capture once, run the detectors per combination, write the report."""
    from monitor import logs
    from monitor.settings import load_settings

    if not args.capture.exists():
        print(f"liqmon backtest: no such capture file: {args.capture}", file=sys.stderr)
        return 2
    check_capture(args.capture)
    check_writable(args.report, "--report", directory=True)
    combos = sweep(args.assignments)
    base_settings = load_settings(args.config)
    logs.configure(args.log_level or "warning", base_settings.log.format)
    metrics = Metrics(assets=base_settings.metrics.assets)
    parsed = _parse_with_progress(args.capture, metrics)
    if not parsed.events:
        print(f"liqmon backtest: {args.capture} holds no events the parsers could read", file=sys.stderr)
        return 1
    bases = parsed.bases
    chart_base = (args.base or bases[0]).upper()
    builders = {b: SeriesBuilder(b) for b in bases}
    for event in parsed.events:
        builder = builders.get(getattr(event, "base", ""))
        if builder is not None:
            builder.add(event)
    series = {b: builder.build() for b, builder in builders.items()}
    if chart_base not in series:
        print(
            f"liqmon backtest: no events for {chart_base}; assets in the capture: {', '.join(bases)}", file=sys.stderr
        )
        return 2
    args.report.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[dict[str, str], list[EpisodeRow]]] = []
    for number, combo in enumerate(combos, start=1):
        settings = load_settings(args.config, overrides=overrides_for(combo, bases)).detectors
        alerts = detect(parsed.events, settings)
        directory = args.report if len(combos) == 1 else args.report / f"run-{number:02d}"
        rows = _write_report(directory, alerts, series, base=chart_base, combo=combo, name=args.capture.name)
        runs.append((combo, rows))
        _summary(combo, alerts, rows, directory)
    if len(combos) > 1:
        path = write_comparison(runs, args.report)
        print(f"comparison: {path}")
    _print_parse_summary(parsed)
    return 0


def _parse_with_progress(capture: Path, metrics: Metrics) -> ParsedCapture:
    if not sys.stderr.isatty():
        return parse_records(read_capture(capture, metrics=metrics), metrics=metrics)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("parsing {task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.completed:,} lines"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("parse", total=None, name=capture.name)
        return parse_records(
            read_capture(capture, metrics=metrics), metrics=metrics, progress=lambda n: bar.advance(task, n)
        )


def _write_report(
    directory: Path, alerts: list[Alert], series: dict[str, Series], *, base: str, combo: dict[str, str], name: str
) -> list[EpisodeRow]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = episodes_from_alerts(alerts, series)
    write_episodes(rows, directory)
    write_alerts(alerts, directory / "alerts.jsonl")
    title = chart_title(name, series[base], ", ".join(f"{k}={v}" for k, v in combo.items()))
    write_chart(series[base], rows, directory / "chart.png", title, alerts)
    return rows


def _summary(combo: dict[str, str], alerts: list[Alert], rows: list[EpisodeRow], directory: Path) -> None:
    label = ", ".join(f"{k}={v}" for k, v in combo.items()) or "configured settings"
    overall = [r for r in rows if r.venue is None]
    print(
        f"{label}: {len(alerts)} alerts, {len(overall)} asset-wide episodes "
        f"({len(rows) - len(overall)} per venue) -> {directory}"
    )
    for row in overall:
        print("  " + "  ".join(row.cells()[:7]))


def _print_parse_summary(parsed: ParsedCapture) -> None:
    gaps = f", {parsed.gaps} gap markers" if parsed.gaps else ""
    print(f"{parsed.records:,} capture lines, {len(parsed.events) - parsed.gaps:,} events{gaps}", file=sys.stderr)
    for (venue, reason), count in sorted(parsed.parse_errors.items()):
        print(f"  {venue}: {count} frames skipped ({reason})", file=sys.stderr)
    for venue, count in sorted(parsed.unknown_venues.items()):
        print(f"  {venue}: {count} lines skipped (unknown venue)", file=sys.stderr)


__all__ = ["ParsedCapture", "configure_parser", "detect", "overrides_for", "parse_records", "run", "sweep"]
