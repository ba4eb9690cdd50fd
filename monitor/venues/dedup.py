"""A bounded set of recently seen event ids, to drop re-sent events.

Overlapping connections (a planned reconnect opens the new socket before the
old one closes) deliver the same events twice; events carry stable ids, so the
second copy is recognised here. Memory is bounded: the oldest ids are forgotten
first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from monitor.events import Event, Gap


class RecentIds:
    """Remembers the last ``capacity`` ids."""

    def __init__(self, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        """True if ``key`` was seen recently; otherwise remember it and return False."""
        if key in self._ids:
            self._ids.move_to_end(key)
            return True
        self._ids[key] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False

    def filter(self, events: Sequence[Event]) -> tuple[list[Event], int]:
        """``events`` without the ones already seen, and how many were dropped. Gaps always pass."""
        kept: list[Event] = []
        dropped = 0
        for event in events:
            if isinstance(event, Gap):
                kept.append(event)
            elif self.seen(f"{event.kind}:{event.id}"):
                dropped += 1
            else:
                kept.append(event)
        return kept, dropped

    def __len__(self) -> int:
        return len(self._ids)
