"""The one registry of venues: each venue module's ``SPEC``, in the order liqmon lists venues.

Adding a venue is adding its module here (and its simulator protocol and
scenario encoder, which its spec names); everything else — settings,
simulators, scenarios, metrics labels, the docs' venue table — reads
:data:`SPECS`. See docs/adding-a-venue.md.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from monitor.venues.spec import VenueSpec

if TYPE_CHECKING:
    from monitor.venues.adapter import VenueAdapter
    from monitor.venues.instruments import InstrumentBook

_MODULES: Final = (
    "monitor.venues.binance",
    "monitor.venues.bybit",
    "monitor.venues.okx",
    "monitor.venues.deribit",
    "monitor.venues.bitmex",
    "monitor.venues.hyperliquid",
    "monitor.venues.gate",
    "monitor.venues.bitget",
    "monitor.venues.bitfinex",
)


def _load() -> dict[str, VenueSpec]:
    specs: dict[str, VenueSpec] = {}
    for module_name in _MODULES:
        spec = importlib.import_module(module_name).SPEC
        if not isinstance(spec, VenueSpec) or spec.name in specs:
            raise TypeError(f"{module_name}.SPEC must be a VenueSpec with a name of its own")
        specs[spec.name] = spec
    return specs


SPECS: Final[dict[str, VenueSpec]] = _load()
VENUES: Final[tuple[str, ...]] = tuple(SPECS)


def spec_of(venue: str) -> VenueSpec:
    """The spec of ``venue``; ValueError names the known venues."""
    spec = SPECS.get(venue)
    if spec is None:
        raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
    return spec


def _resolve(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def adapter_class(venue: str) -> type[VenueAdapter]:
    """The adapter class for ``venue``; ValueError names the known venues."""
    cls: type[VenueAdapter] = _resolve(spec_of(venue).adapter)
    return cls


def create_adapter(venue: str, instruments: InstrumentBook | None = None) -> VenueAdapter:
    """A fresh adapter for ``venue``."""
    return adapter_class(venue)(instruments)


def simulator_class(venue: str) -> Any:
    """The simulator protocol class named by ``venue``'s spec (imported on first use)."""
    return _resolve(spec_of(venue).simulator)


def encoder_module(venue: str) -> ModuleType:
    """The scenario encoder module named by ``venue``'s spec (imported on first use)."""
    module: ModuleType = _resolve(spec_of(venue).encoder)
    return module


def _rate(rate: Any) -> str:
    return "—" if rate is None else f"{rate.count} / {rate.per_s:g} s"


def venue_table() -> str:
    """The docs' venue table (docs/venues-connection.md), rendered from the registry."""
    rows = [
        "| venue | websocket | keepalive | liquidation feed | connections / IP | subscribes / connection "
        "| client messages | topics / connection (limit) | max age |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in SPECS.values():
        limits, keepalive = spec.limits, spec.keepalive
        age = "—" if limits.max_connection_age_s is None else f"{limits.max_connection_age_s / 3600:g} h"
        ip_m = " per IP" if limits.ip_messages and not limits.messages else ""
        ip_t = f"; {limits.ip_topics} per IP" if limits.ip_topics else ""
        feed = "none" if not spec.liquidations else "sampled" if spec.sampled else "complete"
        rows.append(
            f"| {spec.name} | `{spec.ws_url}` | {keepalive.mode} every {keepalive.interval_s:g} s "
            f"| {feed} | {_rate(limits.connections)} "
            f"| {_rate(limits.subscribes)} | {_rate(limits.messages or limits.ip_messages)}{ip_m} "
            f"| {spec.topics_per_connection} ({limits.topics_per_connection or '—'}{ip_t}) | {age} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(venue_table(), end="")
