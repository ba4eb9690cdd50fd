"""Reconnect delays: jittered, capped exponential backoff as a generator.

:class:`BackoffPolicy` is the injectable seam: the connection loop asks it for a
fresh generator after a healthy connection and keeps drawing from the same one
while connections keep failing or dying young. Tests pass millisecond-scale
policies; production uses the defaults (first retry within a second, then
1.6× per attempt up to a minute).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from monitor.backoff import backoff as retry_delays


def backoff(
    initial_s: float = 1.0,
    min_s: float = 0.5,
    max_s: float = 60.0,
    factor: float = 1.6,
    *,
    jitter: float = 0.2,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield delays: a random first delay in ``[0, initial_s)``, then ``min_s`` × ``factor``ⁿ capped at ``max_s``.

    Every delay after the first is spread by ±``jitter`` (a fraction) so that many
    connections cut at once do not come back in lockstep; the cap is never exceeded.
    """
    if not 0 <= jitter < 1:
        raise ValueError(f"backoff needs 0 <= jitter < 1, got jitter={jitter}")
    later = retry_delays(min_s, max_s, factor, low=1.0 - jitter, high=1.0 + jitter, rand=rand)
    return itertools.chain((rand() * initial_s,), later)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Reconnect timing of one connection loop.

    ``healthy_after_s``: a connection that lived at least this long resets the
    backoff; one that died younger keeps drawing longer delays. Five minutes,
    not seconds: a venue that drops the client after 10 s (or accepts and
    closes at once) must see the delays grow, not a reconnect every second.
    ``rejected_s``: the delay after the venue refused a subscription (a
    configuration problem; retried slowly, never hot-looped).
    ``delays`` may replace the generator factory (tests record what was drawn).
    """

    initial_s: float = 1.0
    min_s: float = 0.5
    max_s: float = 60.0
    factor: float = 1.6
    jitter: float = 0.2
    healthy_after_s: float = 300.0
    rejected_s: float = 300.0
    delays: Callable[[], Iterator[float]] | None = field(default=None, compare=False)

    def start(self) -> Iterator[float]:
        """A fresh delay generator."""
        if self.delays is not None:
            return self.delays()
        return backoff(self.initial_s, self.min_s, self.max_s, self.factor, jitter=self.jitter)
