"""The end-of-run summary of ``liqmon demo``, from the last snapshot (plain text, pure)."""

from __future__ import annotations

from collections import Counter

from monitor.top.state import Snapshot
from monitor.top.view import options_line, usd


def summary_lines(snapshot: Snapshot, fired: Counter[tuple[str, str]], elapsed_s: float) -> list[str]:
    """What was played and what fired; ``fired`` counts firing alerts by (kind, direction)."""
    total = sum(sum(v.events.values()) for v in snapshot.venues)
    lines = [f"demo finished in {elapsed_s:,.0f} s: {total:,} events"]
    for venue in snapshot.venues:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(venue.events.items()))
        feed = " (sampled liquidation feed)" if venue.sampled else ""
        lines.append(f"  {venue.venue}: {kinds or 'no events'}{feed}")
    longs = sum(row.usd for row in snapshot.liquidations if row.side == "long")
    shorts = sum(row.usd for row in snapshot.liquidations if row.side == "short")
    lines.append(f"  liquidated: longs {usd(longs)}, shorts {usd(shorts)}")
    if fired:
        lines.append("  alerts fired: " + ", ".join(f"{k} {d} ×{n}" for (k, d), n in sorted(fired.items())))
    else:
        lines.append("  no alerts fired")
    lines += [f"  options {s.base} ({s.venue}): {options_line(s)}" for s in snapshot.options]
    lines += [f"  {note}" for note in snapshot.notes]
    return lines
