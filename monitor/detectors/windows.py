"""Rolling windows over event time, bucketed so memory and work per event stay bounded.

A window of ``window_ms`` split into buckets of ``bucket_ms`` keeps at most
``window_ms / bucket_ms + 1`` buckets. A value counts while its bucket still
overlaps the window, so the effective span is between ``window_ms`` and
``window_ms + bucket_ms``. Nothing here reads a clock: "now" is always passed in.
"""

from __future__ import annotations

from collections import deque
from typing import Any

_NEVER = float("inf")


class RollingSum:
    """Running sum and count of non-negative amounts over a rolling window; accepts slightly old timestamps.

    With a ``cap`` it also keeps ``capped``: the same sum with each amount counted at most ``cap``.
    """

    __slots__ = ("_buckets", "bucket_ms", "cap", "capped", "count", "total", "window_ms")

    def __init__(self, window_ms: int, bucket_ms: int, cap: float = _NEVER) -> None:
        self.window_ms = window_ms
        self.bucket_ms = max(1, bucket_ms)
        self.cap = cap
        # [bucket start, sum, count, capped sum], oldest first.
        self._buckets: deque[list[float]] = deque()
        self.total = 0.0
        self.capped = 0.0
        self.count = 0

    def snapshot(self) -> dict[str, Any]:
        """The window's state (not its configuration) as plain JSON-ready values."""
        return {
            "buckets": [list(b) for b in self._buckets],
            "total": self.total,
            "capped": self.capped,
            "count": self.count,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` (of a window configured alike)."""
        self._buckets = deque([int(b[0]), float(b[1]), int(b[2]), float(b[3])] for b in state["buckets"])
        self.total = float(state["total"])
        self.capped = float(state["capped"])
        self.count = int(state["count"])

    def add(self, ts_ms: int, value: float, count: int = 1) -> bool:
        """Add ``value`` at ``ts_ms``; False (and nothing added) when it is older than the window."""
        start = ts_ms - ts_ms % self.bucket_ms
        capped = value if value < self.cap else self.cap
        buckets = self._buckets
        if not buckets or start > buckets[-1][0]:
            buckets.append([start, value, count, capped])
        elif start == buckets[-1][0]:
            last = buckets[-1]
            last[1] += value
            last[2] += count
            last[3] += capped
        else:
            newest = buckets[-1][0]
            if start + self.bucket_ms <= newest - self.window_ms:
                return False
            # Out of order: walk back from the newest bucket (a few steps at most).
            for index in range(len(buckets) - 1, -1, -1):
                bucket = buckets[index]
                if bucket[0] == start:
                    bucket[1] += value
                    bucket[2] += count
                    bucket[3] += capped
                    break
                if bucket[0] < start:
                    buckets.insert(index + 1, [start, value, count, capped])
                    break
            else:
                buckets.appendleft([start, value, count, capped])
        self.total += value
        self.capped += capped
        self.count += count
        return True

    def expire(self, now_ms: int) -> None:
        """Drop buckets that no longer overlap the window ending at ``now_ms``."""
        buckets = self._buckets
        horizon = now_ms - self.window_ms
        if not buckets or buckets[0][0] + self.bucket_ms > horizon:
            return  # nothing to drop; the sums were cleaned when something last was
        while buckets and buckets[0][0] + self.bucket_ms <= horizon:
            _, value, count, capped = buckets.popleft()
            self.total -= value
            self.capped -= capped
            self.count -= int(count)
        if not buckets:
            self.total = self.capped = 0.0
            self.count = 0
        else:  # float residue after many subtractions
            if self.total < 0:
                self.total = 0.0
            if self.capped < 0:
                self.capped = 0.0

    def next_expiry_ms(self) -> float:
        """The earliest ``now_ms`` at which :meth:`expire` drops a bucket (infinity while empty)."""
        buckets = self._buckets
        return buckets[0][0] + self.bucket_ms + self.window_ms if buckets else _NEVER

    def __len__(self) -> int:
        return len(self._buckets)


class RollingRange:
    """Rolling maximum and minimum of in-order samples: two monotonic deques, one entry per bucket each."""

    __slots__ = ("_highs", "_lows", "bucket_ms", "window_ms")

    def __init__(self, window_ms: int, bucket_ms: int) -> None:
        self.window_ms = window_ms
        self.bucket_ms = max(1, bucket_ms)
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()

    def snapshot(self) -> tuple[list[list[float]], list[list[float]]]:
        """The kept (bucket start, value) entries of the maximum and of the minimum, oldest first."""
        return [[start, value] for start, value in self._highs], [[start, value] for start, value in self._lows]

    def restore(self, highs: list[list[float]], lows: list[list[float]]) -> None:
        """Take the entries of :meth:`snapshot`."""
        self._highs = deque((int(start), float(value)) for start, value in highs)
        self._lows = deque((int(start), float(value)) for start, value in lows)

    def add(self, ts_ms: int, value: float) -> None:
        """Add a sample; samples must come in time order (callers drop older ones).

        A sample at least as extreme as the newest entries replaces them; one less extreme
        than its own bucket's entry is dropped (this bucket already holds a better value).
        """
        start = ts_ms - ts_ms % self.bucket_ms
        highs = self._highs
        if not (highs and highs[-1][0] == start and value < highs[-1][1]):
            while highs and value >= highs[-1][1]:
                highs.pop()
            highs.append((start, value))
        lows = self._lows
        if not (lows and lows[-1][0] == start and value > lows[-1][1]):
            while lows and value <= lows[-1][1]:
                lows.pop()
            lows.append((start, value))

    def expire(self, now_ms: int) -> None:
        """Drop entries whose bucket no longer overlaps the window ending at ``now_ms``."""
        last = now_ms - self.window_ms - self.bucket_ms  # the latest bucket start that no longer overlaps
        highs, lows = self._highs, self._lows
        while len(highs) > 1 and highs[0][0] <= last:
            highs.popleft()
        while len(lows) > 1 and lows[0][0] <= last:
            lows.popleft()

    def next_expiry_ms(self) -> float:
        """The earliest ``now_ms`` at which :meth:`expire` drops an entry (infinity while it cannot)."""
        highs, lows = self._highs, self._lows
        due = highs[0][0] if len(highs) > 1 else _NEVER
        if len(lows) > 1 and lows[0][0] < due:
            due = lows[0][0]
        return due + self.bucket_ms + self.window_ms

    def high(self) -> float | None:
        """The maximum over the window (call :meth:`expire` first); None when empty."""
        return self._highs[0][1] if self._highs else None

    def low(self) -> float | None:
        """The minimum over the window (call :meth:`expire` first); None when empty."""
        return self._lows[0][1] if self._lows else None

    def entries(self) -> tuple[int, int]:
        """How many entries the maximum and the minimum keep."""
        return len(self._highs), len(self._lows)


class PriceTrail:
    """The first price seen in each bucket over a lookback, to answer "what was the price at T"."""

    __slots__ = ("_entries", "_next_start", "bucket_ms", "last", "last_ms", "lookback_ms")

    def __init__(self, lookback_ms: int, bucket_ms: int) -> None:
        self.lookback_ms = lookback_ms
        self.bucket_ms = max(1, bucket_ms)
        self._entries: deque[tuple[int, float]] = deque()
        self._next_start: float = -_NEVER  # the start of the bucket after the newest entry's
        self.last: float | None = None
        self.last_ms = 0

    def snapshot(self) -> dict[str, Any]:
        """The trail's state as plain JSON-ready values."""
        return {
            "entries": [[start, price] for start, price in self._entries],
            "last": self.last,
            "last_ms": self.last_ms,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`."""
        self._entries = deque((int(start), float(price)) for start, price in state["entries"])
        self._next_start = self._entries[-1][0] + self.bucket_ms if self._entries else -_NEVER
        last = state["last"]
        self.last = None if last is None else float(last)
        self.last_ms = int(state["last_ms"])

    def add(self, ts_ms: int, price: float) -> None:
        """Note a price at ``ts_ms`` (older-than-newest samples only update nothing but ``last``)."""
        if price <= 0:
            return
        self.last = price
        if ts_ms > self.last_ms:  # noqa: PLR1730 - per price: max() would be a call
            self.last_ms = ts_ms
        if ts_ms >= self._next_start:  # a bucket after the newest entry's (most prices fall in that one)
            start = ts_ms - ts_ms % self.bucket_ms
            self._next_start = float(start + self.bucket_ms)
            entries = self._entries
            entries.append((start, price))
            horizon = start - self.lookback_ms
            while entries[0][0] < horizon:
                entries.popleft()

    def recent(self, now_ms: int, max_age_ms: int) -> float | None:
        """The last price when it is at most ``max_age_ms`` old at ``now_ms``, else None."""
        return self.last if self.last is not None and now_ms - self.last_ms <= max_age_ms else None

    def at(self, ts_ms: int) -> float | None:
        """The first price of the earliest bucket at or after ``ts_ms`` (None when nothing is known)."""
        for start, price in self._entries:
            if start + self.bucket_ms > ts_ms:
                return price
        return self.last

    def __len__(self) -> int:
        return len(self._entries)
