"""Start protocol-faithful simulators for several venues from one capture.

::

    async with run_simulators("scenario.jsonl.gz", venues=["binance", "okx"], speed=60.0) as sims:
        settings = load_settings(overrides=sims.settings_overrides())
        ...                                   # run the collector / the whole daemon
        sims["okx"].inject(Close())           # faults, see monitor.sim.faults
        await sims.wait_served()              # every venue has played its whole capture

Each venue gets its own websocket server and REST server on free 127.0.0.1
ports. ``settings_overrides()`` points ``venues.<name>.ws_url``/``rest_url``
at them, enables the simulated venues and disables the others, and points
``venues.cache_dir`` at a private temporary folder removed on exit: the
simulators' instrument lists never reach the real cache (``~/.cache/liqmon``),
which a later real run would otherwise trust.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.capture.format import CaptureRecord, read_capture
from monitor.sim.protocols import protocol_for
from monitor.sim.venue import SimOptions, VenueSim
from monitor.venues.registry import VENUES


class Simulators:
    """The running simulators, by venue."""

    def __init__(self, sims: dict[str, VenueSim], cache_dir: Path) -> None:
        self._sims = sims
        self.cache_dir = cache_dir

    def __getitem__(self, venue: str) -> VenueSim:
        return self._sims[venue]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sims)

    @property
    def venues(self) -> list[str]:
        """Simulated venues."""
        return list(self._sims)

    def ws_url(self, venue: str) -> str:
        """The websocket origin of ``venue``'s simulator."""
        return self._sims[venue].ws_url

    def rest_url(self, venue: str) -> str:
        """The REST origin of ``venue``'s simulator."""
        return self._sims[venue].rest_url

    def settings_overrides(self) -> dict[str, Any]:
        """Dotted settings keys for ``load_settings(overrides=...)``: URLs of the simulators,
        simulated venues enabled, every other venue disabled, the instrument cache in a private folder."""
        overrides: dict[str, Any] = {"venues.cache_dir": str(self.cache_dir)}
        for venue in VENUES:
            sim = self._sims.get(venue)
            overrides[f"venues.{venue}.enabled"] = sim is not None
            if sim is not None:
                overrides[f"venues.{venue}.ws_url"] = sim.ws_url
                overrides[f"venues.{venue}.rest_url"] = sim.rest_url
        return overrides

    async def wait_served(self, timeout: float = 60.0) -> None:
        """Wait until every simulator has played its whole capture."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(sim.served.wait() for sim in self._sims.values()))


def _records(source: str | Path | Iterable[CaptureRecord]) -> list[CaptureRecord]:
    if isinstance(source, (str, Path)):
        return list(read_capture(source))
    return list(source)


@asynccontextmanager
async def run_simulators(
    capture: str | Path | Iterable[CaptureRecord],
    venues: Sequence[str] | None = None,
    speed: float | None = 60.0,
    *,
    options: SimOptions | None = None,
    per_venue: dict[str, SimOptions] | None = None,
) -> AsyncIterator[Simulators]:
    """Simulators for ``venues`` (default: every venue in the capture), serving the capture.

    ``speed`` replays ``recv_ms`` gaps that many times faster (None or 0: as
    fast as possible). ``options`` applies to every venue, ``per_venue``
    replaces it for some; their ``speed`` is overridden by ``speed``.
    """
    records = _records(capture)
    chosen = list(venues) if venues is not None else sorted({r.venue for r in records}, key=VENUES.index)
    base = replace(options or SimOptions(), speed=speed)
    sims: dict[str, VenueSim] = {}
    with tempfile.TemporaryDirectory(prefix="liqmon-sim-cache-") as cache_dir:
        try:
            for venue in chosen:
                opts = replace((per_venue or {}).get(venue, base), speed=speed)
                sim = VenueSim(protocol_for(venue), [r for r in records if r.venue == venue], opts)
                sims[venue] = sim
                await sim.start()
            yield Simulators(sims, Path(cache_dir))
        finally:
            for sim in sims.values():
                await sim.close()
