"""The named scenarios: phases, dynamics and the real-world figures each is calibrated to.

See docs/scenarios.md for the sources of the figures and which parts are
assumptions (the split across venues, the hour-by-hour timing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from monitor.sim.market import ModelParams, Phase
from monitor.venues.registry import SPECS

FEB_5_2026_MS: Final = 1_770_249_600_000  # 2026-02-05T00:00:00Z
JAN_20_2026_MS: Final = 1_768_867_200_000  # 2026-01-20T00:00:00Z


@dataclass(frozen=True, slots=True)
class Calibration:
    """Liquidations the public feeds show for ``side`` ("long", "short" or "both") between two model hours."""

    side: str
    from_h: float
    to_h: float
    usd: float


@dataclass(frozen=True, slots=True)
class Expected:
    """A labelled event: the detector ``kind``/``direction`` should fire, reaching ``severity``, from ``onset_h``."""

    kind: str
    direction: str
    onset_h: float
    severity: str = "info"


@dataclass(frozen=True, slots=True)
class Whale:
    """One large liquidation placed on top of the model (after calibration), at ``at_h`` model hours."""

    at_h: float
    side: str
    usd: float
    venue: str = "bybit"


@dataclass(frozen=True, slots=True)
class Outage:
    """``venue`` disconnected from ``from_h`` to ``to_h`` model hours: a ``gap`` marker, then none of its frames."""

    venue: str
    from_h: float
    to_h: float


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A named scenario; ``expected`` labels what the detectors should announce (nothing, for a quiet day)."""

    name: str
    summary: str
    start_ms: int
    params: ModelParams
    phases: tuple[Phase, ...]
    calibration: Calibration
    expected: tuple[Expected, ...] = ()
    whales: tuple[Whale, ...] = ()
    # Variations on a scenario (see VARIANTS): liquidation notional × scale, a venue outage,
    # three glitch prints at glitches_at_h (see monitor.sim.scenario), the venues it is told by.
    scale: float = 1.0
    outage: Outage | None = None
    glitches_at_h: float | None = None
    venues: tuple[str, ...] = ()

    @property
    def nominal_hours(self) -> float:
        """Length of the scenario at real speed."""
        return self.phases[-1].until_h


# Share of open interest and of liquidations per venue (an assumption; see docs/scenarios.md).
# Where a glitch scenario's bad prints appear: a venue that pushes open interest every step.
GLITCH_VENUE = "bybit"

VENUE_SHARES: Final[dict[str, float]] = {
    name: spec.scenario_share for name, spec in SPECS.items() if spec.scenario_share > 0
}

_FLUSH = {"vol": 0.008, "liq_per_h": 300, "jumps_per_h": 9.0, "jump_size": 0.004}
_FEB_PHASES: Final = (
    # 5 Feb: a soft morning, then the slide starts.
    Phase(6, 72_700, vol=0.004, premium=0.0003, oi_usd=60.4e9, liq_per_h=100, long_share=0.6, crowd_long=6),
    Phase(11, 70_600, vol=0.005, premium=-0.0002, oi_usd=58.3e9, liq_per_h=160, long_share=0.75, crowd_long=14),
    # The crash legs: three flushes of 12-15 minutes (forced selling at tens of millions of dollars a
    # minute), with grinding, jumpy selling between them; funding negative, open interest flushed.
    Phase(
        11.17,
        68_200,
        premium=-0.0006,
        oi_usd=56.3e9,
        long_share=0.95,
        crowd_long=450,
        crowd_short=2,
        jump_down=0.9,
        **_FLUSH,
    ),
    Phase(
        13,
        67_700,
        vol=0.007,
        premium=-0.0008,
        oi_usd=55.9e9,
        liq_per_h=350,
        long_share=0.9,
        crowd_long=40,
        crowd_short=2,
        jumps_per_h=1.0,
        jump_size=0.005,
        jump_down=0.8,
    ),
    Phase(
        13.17,
        65_000,
        premium=-0.0008,
        oi_usd=53.0e9,
        long_share=0.95,
        crowd_long=500,
        crowd_short=2,
        jump_down=0.9,
        **_FLUSH,
    ),
    Phase(
        15.5,
        64_200,
        vol=0.008,
        premium=-0.0007,
        oi_usd=50.1e9,
        liq_per_h=250,
        long_share=0.9,
        crowd_long=40,
        crowd_short=2,
        jumps_per_h=1.0,
        jump_size=0.005,
        jump_down=0.8,
    ),
    Phase(
        15.67,
        62_700,
        premium=-0.0007,
        oi_usd=49.2e9,
        long_share=0.95,
        crowd_long=450,
        crowd_short=2,
        jump_down=0.9,
        **_FLUSH,
    ),
    Phase(
        20,
        62_900,
        vol=0.008,
        premium=-0.0006,
        oi_usd=48.9e9,
        liq_per_h=300,
        long_share=0.85,
        crowd_long=30,
        crowd_short=2,
        jumps_per_h=1.0,
        jump_size=0.005,
        jump_down=0.8,
    ),
    Phase(22, 62_600, vol=0.006, premium=-0.00055, oi_usd=48.6e9, liq_per_h=200, long_share=0.8, crowd_long=20),
    Phase(24, 63_400, vol=0.005, premium=-0.0005, liq_per_h=150, long_share=0.6, crowd_long=10),
    # 6 Feb: a last dip near 60k while shorts pile in, then the squeeze back above 70k in two legs.
    Phase(
        28,
        60_100,
        vol=0.007,
        premium=-0.0006,
        oi_usd=48.1e9,
        liq_per_h=200,
        long_share=0.75,
        crowd_long=20,
        crowd_short=6,
    ),
    Phase(30, 61_500, vol=0.006, premium=-0.0005, liq_per_h=150, long_share=0.5, crowd_long=8, crowd_short=10),
    Phase(
        30.33,
        64_800,
        premium=-0.0003,
        oi_usd=49.3e9,
        long_share=0.08,
        crowd_long=2,
        crowd_short=420,
        jump_down=0.1,
        **_FLUSH,
    ),
    Phase(
        33,
        66_200,
        vol=0.008,
        premium=-0.0001,
        liq_per_h=300,
        long_share=0.15,
        crowd_long=2,
        crowd_short=35,
        jumps_per_h=1.0,
        jump_size=0.005,
        jump_down=0.2,
    ),
    Phase(
        33.17,
        68_900,
        premium=0.0,
        oi_usd=51.5e9,
        long_share=0.08,
        crowd_long=2,
        crowd_short=450,
        jump_down=0.1,
        **_FLUSH,
    ),
    Phase(36, 68_600, vol=0.007, premium=0.0001, oi_usd=52.1e9, liq_per_h=250, long_share=0.3, crowd_short=20),
    Phase(
        40,
        71_400,
        vol=0.007,
        premium=0.0003,
        oi_usd=53.7e9,
        liq_per_h=200,
        long_share=0.25,
        crowd_long=4,
        crowd_short=15,
    ),
    Phase(48, 70_300, vol=0.005, premium=0.0002, liq_per_h=120, long_share=0.5, crowd_long=6, crowd_short=6),
)

# A flash crash: 12 % in four minutes out of a calm market, then half of it back within the hour.
_FLASH_PHASES: Final = (
    Phase(2, 88_900, vol=0.003, premium=0.0002, liq_per_h=90),
    Phase(
        2 + 4 / 60,
        78_200,
        vol=0.01,
        premium=-0.0008,
        oi_usd=47e9,
        liq_per_h=600,
        long_share=0.97,
        crowd_long=600,
        crowd_short=2,
        jumps_per_h=20.0,
        jump_size=0.005,
        jump_down=0.9,
    ),
    Phase(3, 83_500, vol=0.008, premium=-0.0003, liq_per_h=250, long_share=0.3, crowd_long=10, crowd_short=30),
    Phase(8, 84_000, vol=0.003, premium=0.0001, liq_per_h=90),
)

_CALM_PHASES: Final = (
    Phase(8, 89_300, vol=0.003, premium=0.0002, liq_per_h=90),
    Phase(16, 88_800, vol=0.003, premium=0.00025, liq_per_h=90),
    Phase(24, 89_100, vol=0.003, premium=0.0002, liq_per_h=90),
)

_CHOP_PHASES: Final = (
    Phase(2, 88_200, vol=0.003, premium=-0.0003, liq_per_h=90),
    Phase(22, 88_000, vol=0.003, premium=-0.0005, liq_per_h=90),
    Phase(24, 88_100, vol=0.003, premium=-0.0004, liq_per_h=90),
)

_BLEED_START_BASE: Final = 60e9 / 88_000
_BLEED_PHASES: Final = tuple(
    Phase(
        h,
        p,
        vol=0.0025,
        premium=0.0001,
        oi_usd=_BLEED_START_BASE * p,
        liq_per_h=70,
        long_share=0.65,
        crowd_long=2,
        crowd_short=1,
    )
    for h, p in ((6, 86_100), (12, 84_200), (18, 82_300), (24, 80_500))
)

SCENARIOS: Final[dict[str, ScenarioSpec]] = {
    spec.name: spec
    for spec in (
        ScenarioSpec(
            name="feb-2026-crash",
            summary="5–6 Feb 2026: BTC 73.1k → 62.6k with ~$1B of longs liquidated, "
            "funding negative, OI $61B → $49B, then a squeeze from 60k to 71.4k",
            start_ms=FEB_5_2026_MS,
            params=ModelParams(start_price=73_100, start_oi_usd=61e9),
            phases=_FEB_PHASES,
            calibration=Calibration(side="long", from_h=0, to_h=24, usd=1.0e9),
            expected=(
                Expected("liquidation_cascade", "long", 11.0, "critical"),  # the first flush
                Expected("liquidation_cascade", "long", 13.0, "critical"),
                Expected("liquidation_cascade", "long", 15.5, "critical"),
                Expected("liquidation_cascade", "short", 30.0, "critical"),  # the squeeze's first leg
                Expected("liquidation_cascade", "short", 33.0, "critical"),
            ),
        ),
        ScenarioSpec(
            name="flash-crash",
            summary="BTC 88.9k → 78.2k (−12 %) in four minutes out of a calm market, half of it back within the hour",
            start_ms=JAN_20_2026_MS,
            params=ModelParams(start_price=89_000, start_oi_usd=58e9, branching=0.3),
            phases=_FLASH_PHASES,
            calibration=Calibration(side="long", from_h=2, to_h=2.5, usd=400e6),
            expected=(Expected("liquidation_cascade", "long", 2.0, "critical"),),
        ),
        ScenarioSpec(
            name="whale-day",
            summary="an ordinary day with two whale liquidations ($40M long at 12:00, $25M short at 18:00)",
            start_ms=JAN_20_2026_MS,
            params=ModelParams(start_price=89_000, start_oi_usd=58e9, branching=0.3),
            phases=_CALM_PHASES,
            calibration=Calibration(side="both", from_h=0, to_h=24, usd=50e6),
            whales=(Whale(12.0, "long", 40e6), Whale(18.0, "short", 25e6, venue="binance")),
        ),
        ScenarioSpec(
            name="calm",
            summary="an ordinary day: background liquidations, funding at the 0.01 % baseline",
            start_ms=JAN_20_2026_MS,
            params=ModelParams(start_price=89_000, start_oi_usd=58e9, branching=0.3),
            phases=_CALM_PHASES,
            calibration=Calibration(side="both", from_h=0, to_h=24, usd=50e6),
        ),
        ScenarioSpec(
            name="funding-chop",
            summary="funding hovering around zero for most of a day, price flat",
            start_ms=JAN_20_2026_MS,
            params=ModelParams(start_price=88_300, start_oi_usd=58e9, branching=0.3, premium_vol=0.00004),
            phases=_CHOP_PHASES,
            calibration=Calibration(side="both", from_h=0, to_h=24, usd=40e6),
        ),
        ScenarioSpec(
            name="slow-bleed",
            summary="price sliding 8.5 % over a day on spot selling; open interest flat, few liquidations",
            start_ms=JAN_20_2026_MS,
            params=ModelParams(start_price=88_000, start_oi_usd=60e9, branching=0.3),
            phases=_BLEED_PHASES,
            calibration=Calibration(side="both", from_h=0, to_h=24, usd=60e6),
        ),
    )
}


def _variant(base: str, name: str, summary: str, **changes: object) -> ScenarioSpec:
    return replace(SCENARIOS[base], name=name, summary=summary, **changes)  # type: ignore[arg-type]


# What a desk expects of the same days told differently: labelled like their seeds.
VARIANTS: Final[tuple[ScenarioSpec, ...]] = (
    _variant(
        "flash-crash",
        "flash-crash-half",
        "the flash crash with half the liquidations: still a cascade, at least warning",
        scale=0.5,
        expected=(Expected("liquidation_cascade", "long", 2.0, "warning"),),
    ),
    _variant(
        "flash-crash",
        "flash-crash-double",
        "the flash crash with twice the liquidations: critical, quickly",
        scale=2.0,
    ),
    _variant(
        "flash-crash",
        "flash-crash-outage",
        "the flash crash with Binance (30 % of open interest) disconnected from 1 min into it until 1 h later",
        outage=Outage("binance", 2.0 + 1 / 60, 3.0),
    ),
    _variant(
        "flash-crash",
        "flash-crash-inverse",
        "the flash crash told only by inverse contracts (USD face, coin-margined): BitMEX XBTUSD and Deribit",
        venues=("bitmex", "deribit"),
        # Two venues with 8 % of the market: the liquidations they show are 8 % of the crash's.
        expected=(Expected("liquidation_cascade", "long", 2.0, "warning"),),
    ),
    _variant(
        "calm",
        "calm-glitches",
        "the calm day with three bad prints at 12:00: a zero OI print, a 1000× liquidation, a price 50 % off",
        glitches_at_h=12.0,
    ),
)
SCENARIOS.update((spec.name, spec) for spec in VARIANTS)


def get_scenario(name: str) -> ScenarioSpec:
    """The scenario called ``name``; ValueError lists the known ones."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    return spec
