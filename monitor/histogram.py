"""A label-less histogram that counts a batch of observations with one bisection per bucket bound.

``prometheus_client.Histogram.observe`` walks the bucket list in Python and
takes a lock per bucket it touches: a few microseconds, paid for every event
the detectors decide on. This one keeps per-bucket counts in a list and
builds the cumulative family when Prometheus scrapes; the exposition
(``_bucket{le}``, ``_sum``, ``_count``) is the same. Used from the event
loop's thread only, like the in-loop metrics server that scrapes it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import add

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class FastHistogram(Collector):
    """``observe(value)`` into fixed upper bounds (``value <= bound``), exported as a histogram family."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = sorted(float(b) for b in buckets if b != float("inf"))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.observe_many((value,))

    def observe_many(self, values: Sequence[float]) -> None:
        """Count each of ``values`` (one call for a batch, and no Python step per observation).

        The values are sorted once and each bound's count is a bisection of them; the sum adds them
        one after the other, in order, as one ``observe`` each would.
        """
        if not values:
            return
        ordered = sorted(values)
        counts, size = self.counts, len(ordered)
        below = 0  # values counted so far: those at or below the previous bound
        for index, bound in enumerate(self.bounds):
            upto = bisect_right(ordered, bound)
            counts[index] += upto - below
            below = upto
            if below == size:
                break
        counts[-1] += size - below
        self.total = reduce(add, values, self.total)

    def describe(self) -> Iterable[Metric]:
        """The family without samples (registers the name)."""
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterable[Metric]:
        """The cumulative buckets, sum and count."""
        cumulative = []
        running = 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return [HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.total)]
