"""``liqmon scenario NAME --out FILE``: write a synthetic market scenario as a capture file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.cli import check_writable
from monitor.sim.catalog import SCENARIOS
from monitor.sim.scenario import generate, write_capture
from monitor.venues.registry import VENUES


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``liqmon scenario``."""
    names = ", ".join(SCENARIOS)
    parser.add_argument("name", metavar="NAME", nargs="?", help=f"scenario: {names}")
    parser.add_argument("--out", metavar="FILE", type=Path, help="capture file to write (.jsonl or .jsonl.gz)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes; default 1)")
    parser.add_argument("--venues", metavar="V", nargs="+", choices=VENUES, help="venues to write (default: all)")
    parser.add_argument(
        "--hours",
        type=float,
        metavar="H",
        help="compress (or stretch) the scenario's timeline into H hours; the sequence of events is kept",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")


def run(args: argparse.Namespace) -> int:
    """Generate and write the scenario; print what it holds."""
    if args.list or args.name is None:
        width = max(len(name) for name in SCENARIOS)
        for spec in SCENARIOS.values():
            print(f"{spec.name:{width}s} {spec.nominal_hours:4.0f} h  {spec.summary}")
        return 0 if args.list else 2
    if args.out is None:
        print("liqmon scenario: --out FILE is required", file=sys.stderr)
        return 2
    check_writable(args.out, "--out")
    try:
        scenario = generate(args.name, seed=args.seed, venues=args.venues, hours=args.hours)
    except ValueError as exc:
        print(f"liqmon scenario: {exc}", file=sys.stderr)
        return 2
    count = write_capture(scenario.records, args.out)
    f = scenario.figures
    print(
        f"{args.out}: {count:,} lines, {scenario.hours:g} h, venues {', '.join(scenario.venues)}\n"
        f"  price {f['price_start']:,.0f} → min {f['price_min']:,.0f} / max {f['price_max']:,.0f} → "
        f"{f['price_end']:,.0f}\n"
        f"  liquidations shown: longs ${f['long_usd_shown'] / 1e6:,.0f}M, shorts ${f['short_usd_shown'] / 1e6:,.0f}M "
        f"({f['liquidations_shown']:,.0f} of {f['liquidations_model']:,.0f} in the model)\n"
        f"  open interest ${f['oi_usd_start'] / 1e9:.1f}B → min ${f['oi_usd_min'] / 1e9:.1f}B → "
        f"${f['oi_usd_end'] / 1e9:.1f}B; funding per 8 h {f['funding_8h_min'] * 100:+.4f}% … "
        f"{f['funding_8h_max'] * 100:+.4f}%"
    )
    return 0
