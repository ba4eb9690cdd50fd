"""Compare what a chaos scenario sent with what came out the other end.

Events are numbered by the scenario (or taken in the order it sent them), so
the checker can say precisely which acknowledged events were lost, which were
delivered more than once, and where a shard's order broke. Alerts are checked
per sink: every firing alert must be delivered exactly once to each sink.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeliveryReport:
    """The outcome of :func:`check_events`."""

    sent: int
    acknowledged: int
    delivered: int
    lost: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    out_of_order: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)

    def problems(self, *, duplicates_allowed: bool) -> list[str]:
        """Human-readable violations; empty when the run kept the guarantees."""
        out: list[str] = []
        if self.lost:
            out.append(f"{len(self.lost)} acknowledged events lost, first: {self.lost[:10]}")
        if self.duplicates and not duplicates_allowed:
            first = sorted(self.duplicates.items())[:10]
            out.append(f"{len(self.duplicates)} events delivered more than once, first: {first}")
        for shard, pairs in sorted(self.out_of_order.items()):
            out.append(f"shard {shard}: {len(pairs)} order inversions, first: {pairs[:5]}")
        if self.unexpected:
            out.append(f"{len(self.unexpected)} delivered events were never sent, first: {self.unexpected[:10]}")
        return out

    def assert_ok(self, *, duplicates_allowed: bool) -> None:
        """Raise AssertionError naming every violation."""
        problems = self.problems(duplicates_allowed=duplicates_allowed)
        assert not problems, "; ".join(problems)


def check_events(
    sent: Sequence[str],
    acknowledged: Iterable[str],
    delivered: Sequence[tuple[int, str]],
) -> DeliveryReport:
    """Check ``delivered`` ((shard, event id) in the order a consumer saw them) against the sender's view.

    ``sent``: every id the scenario produced, in the order it produced them;
    ``acknowledged``: the ids the bus reported as written (these must all come
    out). Order is checked per shard on the first delivery of each id, against
    the sending order: a redelivery may repeat an earlier id but a new id must
    never come before one sent earlier.
    """
    rank = {event_id: n for n, event_id in reversed(list(enumerate(sent)))}
    sent_set = set(rank)
    acked = list(acknowledged)
    counts = Counter(event_id for _, event_id in delivered)
    lost = sorted((i for i in set(acked) if i not in counts), key=lambda i: rank.get(i, -1))
    duplicates = {i: n for i, n in counts.items() if n > 1}
    unexpected = sorted(i for i in counts if i not in sent_set)
    out_of_order: dict[int, list[tuple[str, str]]] = {}
    last: dict[int, str] = {}
    seen: set[str] = set()
    for shard, event_id in delivered:
        if event_id in seen or event_id not in rank:
            continue
        seen.add(event_id)
        previous = last.get(shard)
        if previous is not None and rank[event_id] < rank[previous]:
            out_of_order.setdefault(shard, []).append((previous, event_id))
        last[shard] = event_id
    return DeliveryReport(
        sent=len(sent_set),
        acknowledged=len(set(acked)),
        delivered=len(counts),
        lost=lost,
        duplicates=duplicates,
        out_of_order=out_of_order,
        unexpected=unexpected,
    )


@dataclass(frozen=True)
class AlertReport:
    """The outcome of :func:`check_alerts`: per sink, alerts missing and alerts delivered more than once."""

    missing: dict[str, list[str]]
    repeated: dict[str, dict[str, int]]
    unexpected: dict[str, list[str]]

    def assert_ok(self) -> None:
        """Raise AssertionError naming every violation."""
        problems = [f"sink {s}: never delivered {ids}" for s, ids in sorted(self.missing.items()) if ids]
        problems += [f"sink {s}: delivered more than once {ids}" for s, ids in sorted(self.repeated.items()) if ids]
        problems += [f"sink {s}: delivered but never raised {ids}" for s, ids in sorted(self.unexpected.items()) if ids]
        assert not problems, "; ".join(problems)


def check_alerts(raised: Iterable[str], delivered_by_sink: Mapping[str, Sequence[str]]) -> AlertReport:
    """Every alert id in ``raised`` delivered exactly once by every sink (and nothing else)."""
    expected = set(raised)
    missing: dict[str, list[str]] = {}
    repeated: dict[str, dict[str, int]] = {}
    unexpected: dict[str, list[str]] = {}
    for sink, ids in delivered_by_sink.items():
        counts = Counter(ids)
        missing[sink] = sorted(expected - set(counts))
        repeated[sink] = {i: n for i, n in counts.items() if n > 1}
        unexpected[sink] = sorted(set(counts) - expected)
    return AlertReport(missing, repeated, unexpected)
