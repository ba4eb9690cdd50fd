"""Venue settings: which venues and symbols to watch, and where to reach them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """One venue's section, ``[venues.<name>]``."""

    enabled: bool = True
    # Venue-native symbols to watch; empty means every perpetual the venue lists.
    symbols: tuple[str, ...] = ()
    # Override of the websocket base URL (tests and `liqmon demo` point this at the simulators).
    ws_url: str | None = None
    # Override of the REST base URL (instrument lists, Binance open-interest polling).
    rest_url: str | None = None


@dataclass(frozen=True, slots=True)
class VenuesSettings:
    """``[venues]``: one table per venue."""

    # Directory for the on-disk instrument cache (contract sizes survive a restart without network).
    cache_dir: str = "~/.cache/liqmon"
    binance: VenueSettings = field(default_factory=VenueSettings)
    bybit: VenueSettings = field(default_factory=VenueSettings)
    okx: VenueSettings = field(default_factory=VenueSettings)
    deribit: VenueSettings = field(default_factory=VenueSettings)
    bitmex: VenueSettings = field(default_factory=VenueSettings)
    hyperliquid: VenueSettings = field(default_factory=VenueSettings)
    gate: VenueSettings = field(default_factory=VenueSettings)
    bitget: VenueSettings = field(default_factory=VenueSettings)
