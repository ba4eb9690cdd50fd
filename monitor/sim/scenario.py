"""Synthetic market scenarios written as captures of venue-native frames.

:func:`generate` runs the market model (:mod:`monitor.sim.market`) for a
named scenario (:mod:`monitor.sim.catalog`), spreads its liquidations and open
interest over the venues, calibrates liquidation sizes so that what the
public feeds show matches the scenario's real-world figure, and encodes each
venue's frames (:mod:`monitor.sim.encode`). The result is deterministic for a
seed: the same arguments give the same bytes.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.capture.format import CaptureRecord, CaptureWriter
from monitor.errors import CaptureError
from monitor.sim.catalog import GLITCH_VENUE, VENUE_SHARES, Outage, ScenarioSpec, get_scenario
from monitor.sim.encode import encoder
from monitor.sim.encode.common import VenueView
from monitor.sim.market import Liq, MarketPath, build_open_interest, simulate
from monitor.venues.registry import SPECS, VENUES

STEP_S = 5.0


@dataclass(slots=True)
class Scenario:
    """A generated scenario: the capture records (in receive order) and figures about them."""

    spec: ScenarioSpec
    seed: int
    hours: float
    venues: tuple[str, ...]
    path: MarketPath
    records: list[CaptureRecord]
    size_factor: float
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def start_ms(self) -> int:
        """Epoch milliseconds of the scenario's first step."""
        return self.path.start_ms

    @property
    def end_ms(self) -> int:
        """Epoch milliseconds just after the last step."""
        return self.path.t_ms(len(self.path))


def _assign_venues(path: MarketPath, seed: int) -> dict[str, list[Liq]]:
    rng = random.Random(seed * 104_729 + 3)
    names = list(VENUE_SHARES)
    weights = [VENUE_SHARES[v] for v in names]
    by_venue: dict[str, list[Liq]] = {v: [] for v in names}
    for liq in path.liqs:
        liq.venue = rng.choices(names, weights)[0]
        by_venue[liq.venue].append(liq)
    return by_venue


def generate(
    name: str,
    *,
    seed: int = 1,
    venues: Sequence[str] | None = None,
    hours: float | None = None,
) -> Scenario:
    """Generate scenario ``name``; ``hours`` compresses (or stretches) its timeline into that many hours."""
    spec = get_scenario(name)
    chosen = tuple(venues) if venues else spec.venues or VENUES
    for venue in chosen:
        encoder(venue)  # ValueError for an unknown venue
    length = float(hours) if hours is not None else spec.nominal_hours
    if length <= 0:
        raise ValueError(f"--hours must be positive, got {length}")
    path = simulate(spec.params, spec.phases, seed=seed, start_ms=spec.start_ms, hours=length, step_s=STEP_S)
    liqs_by_venue = _assign_venues(path, seed)
    factor = _calibrate(spec, path, liqs_by_venue, length) * spec.scale
    for liq in path.liqs:
        liq.usd *= factor
    _add_whales(spec, path, liqs_by_venue, length)
    build_open_interest(path, spec.params, spec.phases, length, seed)
    squeeze = spec.nominal_hours / length
    glitch_ms = None if spec.glitches_at_h is None else path.start_ms + int(spec.glitches_at_h / squeeze * 3_600_000)
    if glitch_ms is not None:
        _add_glitch_liquidations(path, liqs_by_venue, glitch_ms)
    records: list[CaptureRecord] = []
    for venue in chosen:
        rng = random.Random(f"{seed}:{venue}")
        view = VenueView(
            venue=venue,
            path=path,
            share=VENUE_SHARES[venue],
            liqs=liqs_by_venue[venue],
            rng=rng,
            latency_ms=SPECS[venue].scenario_latency_ms,
        )
        if glitch_ms is not None and venue == GLITCH_VENUE:
            view.oi_glitches[path.index_at(glitch_ms)] = 0.0  # one open-interest print of zero
        records.extend(encoder(venue).encode(view))
    if spec.outage is not None and spec.outage.venue in chosen:
        records = _disconnect(records, spec.outage, path.start_ms, squeeze)
    records.sort(key=lambda rec: rec.recv_ms)
    scenario = Scenario(
        spec=spec, seed=seed, hours=length, venues=chosen, path=path, records=records, size_factor=factor
    )
    scenario.figures = _figures(scenario, liqs_by_venue)
    return scenario


def _add_glitch_liquidations(path: MarketPath, liqs_by_venue: dict[str, list[Liq]], ts_ms: int) -> None:
    """Two bad liquidation prints after ``ts_ms``: 1000× a large one (the 99th percentile), a price 50 % off."""
    sizes = sorted(liq.usd for liq in path.liqs) or [10_000.0]
    large = sizes[len(sizes) * 99 // 100]
    price = path.price[path.index_at(ts_ms)]
    bad = [
        Liq(ts_ms=ts_ms + 60_000, side="long", usd=1000 * large, price=price, venue=GLITCH_VENUE),
        Liq(ts_ms=ts_ms + 120_000, side="long", usd=sizes[len(sizes) // 2], price=price * 0.5, venue=GLITCH_VENUE),
    ]
    path.liqs.extend(bad)
    path.liqs.sort(key=lambda q: q.ts_ms)
    liqs_by_venue[GLITCH_VENUE].extend(bad)
    liqs_by_venue[GLITCH_VENUE].sort(key=lambda q: q.ts_ms)


def _disconnect(records: list[CaptureRecord], outage: Outage, start_ms: int, squeeze: float) -> list[CaptureRecord]:
    """Drop ``outage.venue``'s frames in the outage (instrument lists stay) and mark its start with a gap."""
    lo = start_ms + int(outage.from_h / squeeze * 3_600_000)
    hi = start_ms + int(outage.to_h / squeeze * 3_600_000)
    kept = [r for r in records if r.venue != outage.venue or not lo <= r.recv_ms < hi or r.meta is not None]
    kept.append(CaptureRecord(recv_ms=lo, venue=outage.venue, gap="disconnect"))
    return kept


def _add_whales(spec: ScenarioSpec, path: MarketPath, liqs_by_venue: dict[str, list[Liq]], hours: float) -> None:
    """Place the scenario's single large liquidations (sized as written, after calibration)."""
    squeeze = spec.nominal_hours / hours
    for whale in spec.whales:
        ts = path.start_ms + int(whale.at_h / squeeze * 3_600_000)
        price = path.price[path.index_at(ts)]
        liq = Liq(ts_ms=ts, side=whale.side, usd=whale.usd, price=price, venue=whale.venue)
        path.liqs.append(liq)
        liqs_by_venue[whale.venue].append(liq)
        liqs_by_venue[whale.venue].sort(key=lambda q: q.ts_ms)
    if spec.whales:
        path.liqs.sort(key=lambda q: q.ts_ms)


def _observed(liqs_by_venue: dict[str, list[Liq]]) -> list[Liq]:
    seen: list[Liq] = []
    for venue, liqs in liqs_by_venue.items():
        seen.extend(encoder(venue).sample(liqs))
    return seen


def _calibrate(spec: ScenarioSpec, path: MarketPath, liqs_by_venue: dict[str, list[Liq]], hours: float) -> float:
    """The size factor that makes the feeds show the calibrated notional (sampling is scale-invariant)."""
    cal = spec.calibration
    squeeze = spec.nominal_hours / hours
    lo = path.start_ms + cal.from_h / squeeze * 3_600_000
    hi = path.start_ms + cal.to_h / squeeze * 3_600_000
    total = sum(liq.usd for liq in _observed(liqs_by_venue) if lo <= liq.ts_ms < hi and cal.side in ("both", liq.side))
    return cal.usd / total if total > 0 else 1.0


def _figures(scenario: Scenario, liqs_by_venue: dict[str, list[Liq]]) -> dict[str, float]:
    path = scenario.path
    seen = _observed({v: liqs_by_venue[v] for v in scenario.venues})
    oi_usd = [b * p for b, p in zip(path.oi_base, path.price, strict=True)]
    return {
        "price_start": path.price[0],
        "price_min": min(path.price),
        "price_max": max(path.price),
        "price_end": path.price[-1],
        "liquidations_model": float(len(path.liqs)),
        "liquidations_shown": float(len(seen)),
        "long_usd_shown": sum(liq.usd for liq in seen if liq.side == "long"),
        "short_usd_shown": sum(liq.usd for liq in seen if liq.side == "short"),
        "oi_usd_start": oi_usd[0],
        "oi_usd_min": min(oi_usd),
        "oi_usd_end": oi_usd[-1],
        "funding_8h_min": min(path.funding_8h),
        "funding_8h_max": max(path.funding_8h),
        "records": float(len(scenario.records)),
    }


def write_capture(records: Iterable[CaptureRecord], out: str | Path) -> int:
    """Write records to ``out`` (gzip when it ends in ``.gz``, with a fixed header so bytes are reproducible)."""
    target = Path(out)
    if target.suffix != ".gz":
        with CaptureWriter(target) as writer:
            for rec in records:
                writer.write(rec)
            return writer.count
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with target.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            for rec in records:
                handle.write(rec.to_json() + b"\n")
                count += 1
    except OSError as exc:
        raise CaptureError(f"cannot write capture {target}: {exc.strerror or exc}") from exc
    return count
