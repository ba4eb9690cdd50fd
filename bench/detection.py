"""Detection quality per scenario: alerts fired, peak severity and first-alert delay against the labels.

Run: .venv/bin/python bench/detection.py [--seeds 1 2 3] [--hours H] [--scenario NAME ...]
Prints a Markdown table (the one in docs/detectors.md); never part of the test suite.

Every scenario of ``liqmon scenario --list`` is generated, run through the real venue parsers and the
detection engine with the default settings. "Alerts" counts asset-wide firing alerts (escalations
included), "episodes" the episodes they belong to; per-venue alerts are counted apart. A labelled
event (``Expected`` in monitor/sim/catalog.py) is detected by the first asset-wide firing alert of its
kind and direction at or after its onset (within the hour and before the next label of the same kind),
or by an episode already firing at the onset (counted apart, no delay: in a compressed timeline one
episode can span two legs); the delay is that alert's event time minus the onset, and "reached" is the
severity the episode got to from the onset on.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.alert import SEVERITIES, Alert, severity_rank
from monitor.commands.backtest import detect, parse_records
from monitor.detectors.config import DetectorSettings
from monitor.metrics import Metrics
from monitor.sim.catalog import SCENARIOS, Expected
from monitor.sim.scenario import generate


@dataclass(slots=True)
class Outcome:
    """One scenario over every seed."""

    name: str
    alerts: list[int] = field(default_factory=list)
    cascade_alerts: list[int] = field(default_factory=list)
    episodes: list[int] = field(default_factory=list)
    venue_alerts: list[int] = field(default_factory=list)
    peak: str = "—"
    delays_s: list[float] = field(default_factory=list)
    missed: int = 0
    ongoing: int = 0
    short_of_severity: int = 0
    labels: int = 0


def _match(
    alerts: list[Alert], label: Expected, onset_ms: int, until_ms: float
) -> tuple[float | None, list[Alert]] | None:
    """The delay (s) and the alerts of the episode that answers ``label``; None when none does.

    An episode already firing at the onset answers it (delay None: it is announced and running);
    otherwise the first episode that starts between the onset and ``until_ms``.
    """
    episodes: dict[int, list[Alert]] = {}
    for alert in alerts:
        if alert.venue is None and (alert.kind, alert.direction) == (label.kind, label.direction):
            episodes.setdefault(alert.started_ms, []).append(alert)
    for started, group in sorted(episodes.items()):
        resolved = [a.ts_ms for a in group if a.status == "resolved"]
        if started <= onset_ms < (resolved[0] if resolved else float("inf")):
            return None, [a for a in group if a.status == "firing"]
        if onset_ms <= started < until_ms:
            firing = [a for a in group if a.status == "firing"]
            return (firing[0].ts_ms - onset_ms) / 1000, firing
    return None


def measure(name: str, seeds: Sequence[int], hours: float | None, *, verbose: bool = False) -> Outcome:
    """Run scenario ``name`` once per seed."""
    out = Outcome(name)
    settings = DetectorSettings()
    for seed in seeds:
        scenario = generate(name, seed=seed, hours=hours)
        parsed = parse_records(scenario.records, metrics=Metrics())
        alerts = detect(parsed.events, settings)
        firing = [a for a in alerts if a.status == "firing"]
        overall = [a for a in firing if a.venue is None]
        out.alerts.append(len(overall))
        out.cascade_alerts.append(sum(a.kind == "liquidation_cascade" for a in overall))
        out.episodes.append(len({(a.kind, a.direction, a.started_ms) for a in overall}))
        out.venue_alerts.append(len(firing) - len(overall))
        for alert in overall:
            if out.peak == "—" or severity_rank(alert.severity) > severity_rank(out.peak):
                out.peak = alert.severity
        squeeze = scenario.spec.nominal_hours / scenario.hours
        labels = scenario.spec.expected
        for index, label in enumerate(labels):
            out.labels += 1
            onset = scenario.start_ms + int(label.onset_h / squeeze * 3_600_000)
            later = [x.onset_h for x in labels[index + 1 :] if (x.kind, x.direction) == (label.kind, label.direction)]
            horizon_h = min([*later, label.onset_h + 1.0])  # answered within the hour, before the next label
            found = _match(alerts, label, onset, scenario.start_ms + horizon_h / squeeze * 3_600_000)
            if found is None:
                out.missed += 1
                continue
            delay, group = found
            if delay is None:
                out.ongoing += 1
            else:
                out.delays_s.append(delay)
            reached = max(severity_rank(a.severity) for a in group)
            if reached < severity_rank(label.severity):
                out.short_of_severity += 1
            if verbose:
                print(
                    f"{name} seed {seed}: {label.kind} {label.direction} at {label.onset_h:g} h: first alert "
                    f"{'already firing' if delay is None else f'after {delay:.0f} s'} ({group[0].severity}), "
                    f"reached {SEVERITIES[reached]}"
                )
    return out


def _spread(values: list[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}–{max(values)}"


def table(outcomes: list[Outcome], seeds: Sequence[int], hours: float | None) -> str:
    """The Markdown table."""
    length = "nominal length" if hours is None else f"compressed to {hours:g} h"
    lines = [
        f"Seeds {', '.join(map(str, seeds))}, {length}, default settings. Delay: first asset-wide alert of the "
        "labelled kind after the labelled onset (median / worst over every label and seed).",
        "",
        "| scenario | alerts (asset-wide) | of which cascade | episodes | per-venue alerts | peak severity "
        "| labels detected | reached labelled severity | first-alert delay median / worst |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        if o.labels:
            detected = f"{o.labels - o.missed}/{o.labels}" + (f" ({o.ongoing} already firing)" if o.ongoing else "")
            reached = f"{o.labels - o.missed - o.short_of_severity}/{o.labels}"
            delay = f"{statistics.median(o.delays_s):.0f} s / {max(o.delays_s):.0f} s" if o.delays_s else "never"
        else:
            detected = reached = delay = "—"
        lines.append(
            f"| `{o.name}` | {_spread(o.alerts)} | {_spread(o.cascade_alerts)} | {_spread(o.episodes)} "
            f"| {_spread(o.venue_alerts)} | {o.peak} "
            f"| {detected} | {reached} | {delay} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--hours", type=float, help="compress every scenario into H hours")
    parser.add_argument("--scenario", nargs="+", choices=sorted(SCENARIOS), help="only these scenarios")
    parser.add_argument("--verbose", action="store_true", help="print every label's delay")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    outcomes = [measure(name, args.seeds, args.hours, verbose=args.verbose) for name in names]
    print(table(outcomes, args.seeds, args.hours))


if __name__ == "__main__":
    main()
