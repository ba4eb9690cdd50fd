"""Per-sink delivery markers on the bus: no alert sent twice across restarts, none lost by a crash.

The bus offers one primitive, ``claim_once(key, ttl)`` (Redis ``SET NX PX``):
true for the first caller only. Every attempt to deliver alert ``A`` to sink
``S`` takes a *generation* ``g`` by claiming ``S:A:a1``, ``S:A:a2``, … until a
claim succeeds, and after a successful send claims ``S:A:d{g}`` ("done").

* ``g == 1``: nobody tried before → send.
* ``g > 1``: an earlier attempt exists. Only generation ``g`` ever probes
  ``S:A:d{g-1}``, by claiming it: if the claim fails, generation ``g-1``
  finished (it sent the alert, or found it already sent) → skip, and mark
  ``d{g}`` done for the next one. If the claim succeeds, ``g-1`` did not
  finish (crashed, was killed, gave up) → send.

So a dispatcher killed at any point loses nothing (its entries stay pending on
the bus and the next attempt sends), and an alert re-read after a restart or
re-emitted by a restarted detector is not sent again. The one window that can
still duplicate is a crash after the sink accepted the alert and before the
``done`` marker was written (one Redis round trip), or two dispatchers
handling the same alert at the very same time. Markers live ``dedup_ttl_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.bus.base import Bus

MAX_GENERATIONS: Final = 50


@dataclass(frozen=True, slots=True)
class Ticket:
    """The outcome of :meth:`Ledger.begin`: send (``send``) or skip as already delivered."""

    key: str
    generation: int
    send: bool


class Ledger:
    """Delivery markers for one dispatcher, stored through ``bus.claim_once``."""

    def __init__(self, bus: Bus, ttl_s: float, *, namespace: str = "dispatch") -> None:
        self._bus = bus
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._ns = namespace

    def key(self, sink: str, alert_id: str) -> str:
        """The marker prefix of one (sink, alert)."""
        return f"{self._ns}:{sink}:{alert_id}"

    async def begin(self, sink: str, alert_id: str) -> Ticket:
        """Take the next generation for (sink, alert) and decide whether to send."""
        key = self.key(sink, alert_id)
        generation = 1
        while not await self._bus.claim_once(f"{key}:a{generation}", self._ttl_ms):
            generation += 1
            if generation > MAX_GENERATIONS:  # a pathological loop of crashes: send rather than lose it
                return Ticket(key, generation, send=True)
        if generation == 1:
            return Ticket(key, 1, send=True)
        previous_done = not await self._bus.claim_once(f"{key}:d{generation - 1}", self._ttl_ms)
        if previous_done:
            await self._bus.claim_once(f"{key}:d{generation}", self._ttl_ms)
            return Ticket(key, generation, send=False)
        return Ticket(key, generation, send=True)

    async def done(self, ticket: Ticket) -> None:
        """Mark the ticket's generation as delivered."""
        await self._bus.claim_once(f"{ticket.key}:d{ticket.generation}", self._ttl_ms)
