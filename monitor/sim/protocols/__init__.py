"""One protocol module per venue, named by the venue's spec; :func:`protocol_for` picks it."""

from __future__ import annotations

from monitor.sim.protocols.base import VenueProtocol
from monitor.venues.registry import VENUES, simulator_class


def protocol_for(venue: str) -> VenueProtocol:
    """A protocol instance for ``venue``; ValueError names the known venues."""
    if venue not in VENUES:
        raise ValueError(f"no simulator for venue {venue!r}; known: {', '.join(VENUES)}")
    cls: type[VenueProtocol] = simulator_class(venue)
    return cls()


__all__ = ["VenueProtocol", "protocol_for"]
