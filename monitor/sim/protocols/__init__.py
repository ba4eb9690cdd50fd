"""One protocol module per venue; :func:`protocol_for` picks it."""

from __future__ import annotations

from monitor.sim.protocols.base import VenueProtocol
from monitor.sim.protocols.binance import BinanceProtocol
from monitor.sim.protocols.bitget import BitgetProtocol
from monitor.sim.protocols.bitmex import BitmexProtocol
from monitor.sim.protocols.bybit import BybitProtocol
from monitor.sim.protocols.deribit import DeribitProtocol
from monitor.sim.protocols.gate import GateProtocol
from monitor.sim.protocols.hyperliquid import HyperliquidProtocol
from monitor.sim.protocols.okx import OkxProtocol

PROTOCOLS: dict[str, type[VenueProtocol]] = {
    p.venue: p
    for p in (
        BinanceProtocol,
        BybitProtocol,
        OkxProtocol,
        DeribitProtocol,
        BitmexProtocol,
        HyperliquidProtocol,
        GateProtocol,
        BitgetProtocol,
    )
}


def protocol_for(venue: str) -> VenueProtocol:
    """A protocol instance for ``venue``; ValueError names the known venues."""
    try:
        return PROTOCOLS[venue]()
    except KeyError:
        raise ValueError(f"no simulator for venue {venue!r}; known: {', '.join(PROTOCOLS)}") from None


__all__ = ["PROTOCOLS", "VenueProtocol", "protocol_for"]
