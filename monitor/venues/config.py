"""Venue settings: which venues and symbols to watch, and where to reach them.

``[venues]`` has one table per venue of the registry (:mod:`monitor.venues.registry`);
the class is built from it, so a new venue gets its settings section without an edit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.venues.registry import VENUES


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """One venue's section, ``[venues.<name>]``."""

    enabled: bool = True
    # Venue-native symbols to watch; empty means the venue's default symbols (every perpetual it lists).
    symbols: tuple[str, ...] = ()
    # Override of the websocket base URL (tests and `liqmon demo` point this at the simulators).
    ws_url: str | None = None
    # Override of the REST base URL (instrument lists, polled data).
    rest_url: str | None = None


@dataclass(frozen=True, slots=True)
class _VenuesBase:
    # Directory for the on-disk instrument cache (contract sizes survive a restart without network).
    cache_dir: str = "~/.cache/liqmon"

    def of(self, venue: str) -> VenueSettings:
        """The section of ``venue``; ValueError names the known venues."""
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
        section: VenueSettings = getattr(self, venue)
        return section


if TYPE_CHECKING:

    class VenuesSettings(_VenuesBase):
        """``[venues]``: the cache directory and one table per registered venue."""

        def __getattr__(self, venue: str) -> VenueSettings: ...

else:
    VenuesSettings = dataclasses.make_dataclass(
        "VenuesSettings",
        [(name, VenueSettings, field(default_factory=VenueSettings)) for name in VENUES],
        bases=(_VenuesBase,),
        frozen=True,
        slots=True,
    )
    VenuesSettings.__module__ = __name__
    VenuesSettings.__doc__ = "``[venues]``: the cache directory and one table per registered venue."
