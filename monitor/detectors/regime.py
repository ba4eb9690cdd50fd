"""What kind of selling (or buying) a cascade is: a leverage flush or spot-driven flow.

In a leverage flush positions are closed (open interest falls, in base units)
and funding cools as longs are wiped out; in spot-driven selling open interest
holds while price falls, so derivatives are following rather than leading.
Analysts drew exactly this distinction during the February 2026 crash. For a
short squeeze the mirror holds: shorts closing (OI falling, funding heating)
vs spot buying (OI holding while price rises).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.detectors.config import RegimeSettings

LEVERAGE_FLUSH: Final = "leverage_flush"
SPOT_DRIVEN: Final = "spot_driven"
MIXED: Final = "mixed"
UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Regime:
    """A label for ``values["regime"]`` and a sentence for the summary."""

    label: str
    note: str


def funding_turned(
    direction: str,
    funding_now: float | None,
    funding_high: float | None,
    funding_low: float | None,
    settings: RegimeSettings,
) -> bool:
    """Funding moving against the liquidated side: cooling (or negative) for longs, heating for shorts."""
    if funding_now is None:
        return False
    if direction == "long":
        return funding_now < 0 or (funding_high is not None and funding_now <= funding_high - settings.funding_cool_8h)
    return funding_low is not None and funding_now >= funding_low + settings.funding_cool_8h


def classify(
    direction: str,
    *,
    oi_change_pct: float | None,
    funding_turn: bool,
    price_move_pct: float | None,
    settings: RegimeSettings,
) -> Regime:
    """Classify a cascade of ``direction`` (``long`` = downside, ``short`` = squeeze)."""
    if oi_change_pct is None:
        return Regime(UNKNOWN, "regime unknown (no open-interest data yet)")
    oi_falling = oi_change_pct <= -settings.oi_drop_pct
    moved = price_move_pct is not None and abs(price_move_pct) >= settings.price_move_pct
    if direction == "long":
        price_with = moved and price_move_pct is not None and price_move_pct < 0
        if oi_falling and funding_turn:
            return Regime(LEVERAGE_FLUSH, "leverage flush: open interest falling and funding cooling")
        if not oi_falling and price_with:
            return Regime(SPOT_DRIVEN, "spot-driven selling: open interest holding while price falls")
    else:
        price_with = moved and price_move_pct is not None and price_move_pct > 0
        if oi_falling and funding_turn:
            return Regime(LEVERAGE_FLUSH, "short squeeze flush: open interest falling and funding heating")
        if not oi_falling and price_with:
            return Regime(SPOT_DRIVEN, "spot-driven buying: open interest holding while price rises")
    if oi_falling:
        return Regime(MIXED, "deleveraging: open interest falling, funding not yet turning")
    return Regime(MIXED, "mixed: open interest holding, price not moving with the liquidations")
