"""Venue-native frame encoders for the scenario generator, one module per venue.

Each module exposes ``SYMBOL``, ``sample(liqs)`` (which of the model's
liquidations the venue's public feed would show) and ``encode(view)`` (the
capture records: instrument lists, websocket frames, REST bodies).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

ENCODERS: Final[dict[str, str]] = {
    "binance": "monitor.sim.encode.binance",
    "bybit": "monitor.sim.encode.bybit",
    "okx": "monitor.sim.encode.okx",
    "deribit": "monitor.sim.encode.deribit",
    "bitmex": "monitor.sim.encode.bitmex",
    "hyperliquid": "monitor.sim.encode.hyperliquid",
    "gate": "monitor.sim.encode.gate",
    "bitget": "monitor.sim.encode.bitget",
}


def encoder(venue: str) -> ModuleType:
    """The encoder module of ``venue``; ValueError names the known venues."""
    target = ENCODERS.get(venue)
    if target is None:
        raise ValueError(f"unknown venue {venue!r}; scenarios can write {', '.join(ENCODERS)}")
    return importlib.import_module(target)


__all__ = ["ENCODERS", "encoder"]
