"""The venues liqmon speaks, and the adapter class of each (imported on first use)."""

from __future__ import annotations

import importlib
from typing import Final

from monitor.events import VENUES
from monitor.venues.adapter import VenueAdapter
from monitor.venues.instruments import InstrumentBook

ADAPTERS: Final[dict[str, str]] = {
    "binance": "monitor.venues.binance:BinanceAdapter",
    "bybit": "monitor.venues.bybit:BybitAdapter",
    "okx": "monitor.venues.okx:OkxAdapter",
    "deribit": "monitor.venues.deribit:DeribitAdapter",
    "bitmex": "monitor.venues.bitmex:BitmexAdapter",
    "hyperliquid": "monitor.venues.hyperliquid:HyperliquidAdapter",
    "gate": "monitor.venues.gate:GateAdapter",
    "bitget": "monitor.venues.bitget:BitgetAdapter",
}

assert tuple(ADAPTERS) == VENUES


def adapter_class(venue: str) -> type[VenueAdapter]:
    """The adapter class for ``venue``; ValueError names the known venues."""
    target = ADAPTERS.get(venue)
    if target is None:
        raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(ADAPTERS)}")
    module_name, class_name = target.split(":")
    cls: type[VenueAdapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_adapter(venue: str, instruments: InstrumentBook | None = None) -> VenueAdapter:
    """A fresh adapter for ``venue``."""
    return adapter_class(venue)(instruments)
