"""Venue-native frame encoders for the scenario generator, one module per venue (named by its spec).

Each module exposes ``SYMBOL``, ``sample(liqs)`` (which of the model's
liquidations the venue's public feed would show) and ``encode(view)`` (the
capture records: instrument lists, websocket frames, REST bodies).
"""

from __future__ import annotations

from types import ModuleType

from monitor.venues.registry import VENUES, encoder_module


def encoder(venue: str) -> ModuleType:
    """The encoder module of ``venue``; ValueError names the known venues."""
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; scenarios can write {', '.join(VENUES)}")
    return encoder_module(venue)


__all__ = ["encoder"]
