"""The one retry-delay generator: exponential, capped, optionally jittered.

Every retry loop (venue reconnects, REST polling, the Redis bus, the detector
runner, alert delivery) draws its delays from :func:`backoff`; they differ only
in their parameters.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff(
    first_s: float,
    max_s: float,
    factor: float = 2.0,
    *,
    low: float = 1.0,
    high: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Delays ``first_s`` × ``factor``ⁿ, each capped at ``max_s`` and scaled by a random factor in [``low``, ``high``]
    (the result never above ``max_s``): jitter keeps many clients cut at once from coming back in lockstep."""
    if first_s <= 0 or max_s < first_s or factor < 1 or not 0 <= low <= high:
        raise ValueError(
            f"backoff needs 0 < first_s <= max_s, factor >= 1 and 0 <= low <= high; "
            f"got first_s={first_s}, max_s={max_s}, factor={factor}, low={low}, high={high}"
        )
    return _delays(first_s, max_s, factor, (low, high), rand)


def _delays(
    delay: float, max_s: float, factor: float, spread: tuple[float, float], rand: Callable[[], float]
) -> Iterator[float]:
    low, high = spread
    while True:
        scale = low if low == high else low + (high - low) * rand()
        yield min(max_s, delay * scale)
        delay = min(max_s, delay * factor)
