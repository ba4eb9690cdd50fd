"""Detector settings (``[detectors]``, DESIGN §6): defaults per asset class, per-asset overrides.

Every asset belongs to one class: ``major`` (``majors``), ``large_cap``
(``large_caps``) or ``small_cap`` (everything else). Each class has its own
cascade, funding and open-interest tables; ``[detectors.assets.<BASE>]`` can
move an asset to another class and override single numeric settings. The
reasoning behind the defaults is in ``docs/detectors.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from monitor.config_loader import require_positive

AssetClass: TypeAlias = Literal["major", "large_cap", "small_cap"]


@dataclass(frozen=True, slots=True)
class CascadeSettings:
    """Liquidation cascade: liquidated USD per direction in a short rolling window."""

    # Rolling window and its bucket size (the window's time resolution).
    window_s: float = 300.0
    bucket_s: float = 10.0
    # Absolute floor: the window must hold at least this much liquidated USD to fire.
    floor_usd: float = 10_000_000.0
    # Distinct liquidations that must contribute to the window.
    min_count: int = 20
    # A single liquidation counts towards the floor tests (floor_usd, fast_floor_usd) with at most
    # this share of the floor, so one liquidation of any size never makes a cascade on its own.
    single_share: float = 0.5
    # Window notional as a multiple of the learned baseline: info / warning / critical.
    info_multiple: float = 5.0
    warning_multiple: float = 10.0
    critical_multiple: float = 25.0
    # Absolute ladder: window notional that is warning / critical whatever the baseline.
    warning_usd: float = 50_000_000.0
    critical_usd: float = 150_000_000.0
    # Fast path: a short window beside the main one, with a higher bar (floor per minute of window
    # far above the main floor's) and its own absolute ladder, so a flash crash fires in seconds.
    fast_window_s: float = 30.0
    fast_floor_usd: float = 2_500_000.0
    fast_min_count: int = 10
    fast_warning_usd: float = 10_000_000.0
    fast_critical_usd: float = 20_000_000.0
    # Wave: from the first firing until wave_gap_s after the last episode resolved. Its cumulative
    # notional is warning / critical at these levels, and the baseline learns nothing during it.
    wave_warning_usd: float = 100_000_000.0
    wave_critical_usd: float = 250_000_000.0
    wave_gap_s: float = 14400.0
    # Hygiene: a liquidation above this notional, or priced further than this from the asset's
    # recent price, is implausible: counted and ignored.
    max_liquidation_usd: float = 500_000_000.0
    max_price_deviation_pct: float = 30.0
    # Baseline: EWMA of per-minute liquidated USD with this half-life, frozen during a wave.
    baseline_half_life_min: float = 360.0
    # A finished minute enters the baseline clamped to this multiple of the current baseline.
    baseline_clamp: float = 3.0
    # Minutes of history before the baseline is trusted; until then the floor is raised.
    warmup_min: float = 60.0
    warmup_floor_factor: float = 2.0
    # Resolve when the window stays below exit_ratio × the entry threshold for hold_s.
    exit_ratio: float = 0.5
    hold_s: float = 120.0
    # No new episode for this long after a resolution.
    cooldown_s: float = 600.0

    def __post_init__(self) -> None:
        require_positive(self, "window_s", "bucket_s", "floor_usd", "info_multiple", "baseline_half_life_min", "hold_s")
        _non_negative(self, "warmup_min", "cooldown_s")
        if self.bucket_s > self.window_s:
            raise ValueError("cascade.bucket_s must not exceed cascade.window_s")
        if not self.info_multiple <= self.warning_multiple <= self.critical_multiple:
            raise ValueError("cascade multiples must rise: info_multiple <= warning_multiple <= critical_multiple")
        if self.min_count < 1:
            raise ValueError("cascade.min_count must be at least 1")
        if not 0 < self.exit_ratio <= 1:
            raise ValueError("cascade.exit_ratio must be in (0, 1]")
        if self.baseline_clamp < 1 or self.warmup_floor_factor < 1:
            raise ValueError("cascade.baseline_clamp and cascade.warmup_floor_factor must be at least 1")
        require_positive(self, "fast_window_s", "fast_floor_usd", "max_liquidation_usd", "max_price_deviation_pct")
        _non_negative(self, "wave_gap_s")
        if self.fast_window_s > self.window_s:
            raise ValueError("cascade.fast_window_s must not exceed cascade.window_s")
        if not 0 < self.single_share <= 1:
            raise ValueError("cascade.single_share must be in (0, 1]")
        if self.fast_min_count < 1:
            raise ValueError("cascade.fast_min_count must be at least 1")
        for low, high in (
            ("warning_usd", "critical_usd"),
            ("fast_warning_usd", "fast_critical_usd"),
            ("wave_warning_usd", "wave_critical_usd"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"cascade.{low} must not exceed cascade.{high}")


@dataclass(frozen=True, slots=True)
class FundingSettings:
    """Funding flip (OI-weighted, 8 h-normalized) and extreme funding."""

    # |rate_8h| below this counts as zero: prints hovering around zero never flip.
    dead_band_8h: float = 0.00002
    # A new sign must hold this long before the flip is announced.
    confirm_s: float = 900.0
    # A flip episode resolves after this long in the new sign (or at the next flip).
    settle_s: float = 14_400.0
    # Extreme funding: |rate_8h| annualized (× 3 × 365, in percent); critical at twice the level.
    extreme_annual_pct: float = 50.0
    # Extreme resolves below extreme_exit_ratio × the level for hold_s, then cools down.
    extreme_exit_ratio: float = 0.75
    hold_s: float = 600.0
    cooldown_s: float = 1800.0
    # A venue without a funding print for this long is left out of the average.
    stale_s: float = 600.0
    # A venue that left the average (a disconnect, or stale) still votes on the sign of a flip with
    # its last rate for this long: one venue's weight vanishing never flips the market by itself.
    carry_s: float = 3600.0
    # Also announce flips per venue.
    per_venue: bool = True

    def __post_init__(self) -> None:
        require_positive(self, "extreme_annual_pct", "hold_s", "stale_s", "settle_s")
        _non_negative(self, "dead_band_8h", "confirm_s", "cooldown_s", "carry_s")
        if not 0 < self.extreme_exit_ratio <= 1:
            raise ValueError("funding.extreme_exit_ratio must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class OpenInterestSettings:
    """Open-interest collapse and surge, in base units, from the window's high (low)."""

    window_s: float = 3600.0
    bucket_s: float = 10.0
    # Drop from the window's high, in percent: info / warning / critical.
    collapse_pct: float = 3.0
    collapse_warning_pct: float = 5.0
    collapse_critical_pct: float = 8.0
    # Rise from the window's low, in percent: info / warning / critical.
    surge_pct: float = 4.0
    surge_warning_pct: float = 6.0
    surge_critical_pct: float = 10.0
    # Resolve when the move stays below exit_ratio × the entry level for hold_s.
    exit_ratio: float = 0.5
    hold_s: float = 300.0
    cooldown_s: float = 1800.0
    # A source (venue, symbol) without an update for this long is left out of high and current alike.
    stale_s: float = 120.0
    # Also alert per venue, with thresholds multiplied by venue_factor (one venue is noisier).
    per_venue: bool = True
    venue_factor: float = 1.5
    # Hygiene: a print more than glitch_jump_pct from its source's last value (or zero) is held;
    # dropped when the source returns near the old value, applied once the new level has been
    # reported for glitch_confirm_s.
    glitch_jump_pct: float = 10.0
    glitch_confirm_s: float = 10.0

    def __post_init__(self) -> None:
        require_positive(self, "window_s", "bucket_s", "collapse_pct", "surge_pct", "hold_s", "stale_s", "venue_factor")
        require_positive(self, "glitch_jump_pct", "glitch_confirm_s")
        _non_negative(self, "cooldown_s")
        if self.bucket_s > self.window_s:
            raise ValueError("open_interest.bucket_s must not exceed open_interest.window_s")
        if not self.collapse_pct <= self.collapse_warning_pct <= self.collapse_critical_pct < 100:
            raise ValueError("open_interest collapse levels must rise and stay below 100")
        if not self.surge_pct <= self.surge_warning_pct <= self.surge_critical_pct:
            raise ValueError("open_interest surge levels must rise")
        if not 0 < self.exit_ratio <= 1:
            raise ValueError("open_interest.exit_ratio must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class OptionsSettings:
    """Options positioning from ``options_summary``: 25Δ skew extremes and IV term inversion (vol points)."""

    # RR25 of this constant maturity (7, 30 or 90 days) is watched, both signs.
    skew_tenor_days: int = 7
    # |RR25| in vol points: info / warning / critical (February 2026 read about −13).
    skew_vol_pts: float = 8.0
    skew_warning_vol_pts: float = 10.0
    skew_critical_vol_pts: float = 12.0
    # Front ATM IV above the back one by at least this (vol points): info / warning / critical.
    term_front_days: int = 7
    term_back_days: int = 30
    term_margin_vol_pts: float = 2.0
    term_warning_vol_pts: float = 5.0
    term_critical_vol_pts: float = 10.0
    # A reading must stay beyond its level this long before it fires.
    confirm_s: float = 600.0
    # Resolve when the reading stays below exit_ratio × the entry level for hold_s.
    exit_ratio: float = 0.75
    hold_s: float = 900.0
    cooldown_s: float = 3600.0
    # A venue without a summary for this long is left out; with none left the reading is unknown.
    stale_s: float = 300.0

    def __post_init__(self) -> None:
        require_positive(self, "skew_vol_pts", "term_margin_vol_pts", "hold_s", "stale_s")
        _non_negative(self, "confirm_s", "cooldown_s")
        for name in ("skew_tenor_days", "term_front_days", "term_back_days"):
            if getattr(self, name) not in (7, 30, 90):
                raise ValueError(f"options.{name} must be 7, 30 or 90 (the summary's tenors)")
        if self.term_front_days >= self.term_back_days:
            raise ValueError("options.term_front_days must be shorter than options.term_back_days")
        if not self.skew_vol_pts <= self.skew_warning_vol_pts <= self.skew_critical_vol_pts:
            raise ValueError("options skew levels must rise")
        if not self.term_margin_vol_pts <= self.term_warning_vol_pts <= self.term_critical_vol_pts:
            raise ValueError("options term levels must rise")
        if not 0 < self.exit_ratio <= 1:
            raise ValueError("options.exit_ratio must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class RegimeSettings:
    """How a cascade is classified: leverage flush vs spot-driven selling."""

    # OI (base units) down at least this much from its window high counts as falling.
    oi_drop_pct: float = 0.5
    # Funding this far (8 h fraction) below its recent high (or negative) counts as cooling.
    funding_cool_8h: float = 0.00001
    # How far back "recent" funding reaches.
    funding_lookback_s: float = 3600.0
    # A price move smaller than this (percent) is no move.
    price_move_pct: float = 0.5


@dataclass(frozen=True, slots=True)
class ClassSettings:
    """The detector tables of one asset class."""

    cascade: CascadeSettings = field(default_factory=CascadeSettings)
    funding: FundingSettings = field(default_factory=FundingSettings)
    open_interest: OpenInterestSettings = field(default_factory=OpenInterestSettings)
    options: OptionsSettings = field(default_factory=OptionsSettings)


@dataclass(frozen=True, slots=True)
class AssetOverride:
    """``[detectors.assets.<BASE>]``: class membership and numeric overrides for one asset."""

    asset_class: AssetClass | None = None
    cascade: dict[str, float] = field(default_factory=dict)
    funding: dict[str, float] = field(default_factory=dict)
    open_interest: dict[str, float] = field(default_factory=dict)
    options: dict[str, float] = field(default_factory=dict)


def _large_cap() -> ClassSettings:
    return ClassSettings(
        cascade=CascadeSettings(
            floor_usd=2_000_000.0,
            min_count=15,
            warning_usd=10_000_000.0,
            critical_usd=30_000_000.0,
            fast_floor_usd=500_000.0,
            fast_min_count=8,
            fast_warning_usd=2_000_000.0,
            fast_critical_usd=4_000_000.0,
            wave_warning_usd=20_000_000.0,
            wave_critical_usd=50_000_000.0,
            max_liquidation_usd=100_000_000.0,
            max_price_deviation_pct=50.0,
        ),
        funding=FundingSettings(dead_band_8h=0.00003, extreme_annual_pct=100.0),
        open_interest=OpenInterestSettings(
            collapse_pct=5.0,
            collapse_warning_pct=8.0,
            collapse_critical_pct=12.0,
            surge_pct=6.0,
            surge_warning_pct=10.0,
            surge_critical_pct=15.0,
            glitch_jump_pct=15.0,
        ),
    )


def _small_cap() -> ClassSettings:
    return ClassSettings(
        cascade=CascadeSettings(
            floor_usd=250_000.0,
            min_count=10,
            warning_usd=1_250_000.0,
            critical_usd=4_000_000.0,
            fast_floor_usd=60_000.0,
            fast_min_count=6,
            fast_warning_usd=250_000.0,
            fast_critical_usd=500_000.0,
            wave_warning_usd=2_500_000.0,
            wave_critical_usd=6_000_000.0,
            max_liquidation_usd=20_000_000.0,
            max_price_deviation_pct=80.0,
        ),
        funding=FundingSettings(dead_band_8h=0.00005, extreme_annual_pct=200.0),
        open_interest=OpenInterestSettings(
            collapse_pct=8.0,
            collapse_warning_pct=12.0,
            collapse_critical_pct=20.0,
            surge_pct=10.0,
            surge_warning_pct=15.0,
            surge_critical_pct=25.0,
            glitch_jump_pct=25.0,
        ),
    )


_SECTIONS = ("cascade", "funding", "open_interest", "options")


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """``[detectors]``."""

    enabled: bool = True
    # Assets in the major and large-cap classes; every other asset is a small cap.
    majors: tuple[str, ...] = ("BTC", "ETH")
    large_caps: tuple[str, ...] = (
        "SOL",
        "XRP",
        "BNB",
        "DOGE",
        "ADA",
        "TRX",
        "AVAX",
        "LINK",
        "TON",
        "SUI",
        "LTC",
        "BCH",
        "DOT",
        "HYPE",
    )
    major: ClassSettings = field(default_factory=ClassSettings)
    large_cap: ClassSettings = field(default_factory=_large_cap)
    small_cap: ClassSettings = field(default_factory=_small_cap)
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    # Per-asset class membership and numeric overrides, e.g. [detectors.assets.PEPE.cascade].
    assets: dict[str, AssetOverride] = field(default_factory=dict)
    # Events older than the newest event time minus this are late: counted and dropped.
    reorder_tolerance_s: float = 10.0
    # An event time further than this ahead of its receive time is replaced by the receive time.
    future_tolerance_s: float = 5.0
    # Event ids remembered for duplicate suppression.
    dedup_capacity: int = 200_000
    # Every asset's state is re-evaluated when event time crosses this step (resolutions, staleness).
    tick_s: float = 1.0
    # Runner: shard leases (detector-shard-N), renewed well within their time to live.
    lease_ttl_s: float = 15.0
    lease_renew_s: float = 5.0
    # Runner: how much retained history rebuilds a shard's state on takeover.
    rebuild_hours: float = 6.0
    # Entries per history page (an entry holds up to 256 events).
    rebuild_page: int = 64
    # Runner: each owned shard's detector state is checkpointed next to its stream after this many
    # seconds or handled events, whichever comes first (0 = not by time / not by count), so a takeover
    # restores it and replays only the events after it (at most about checkpoint_events of them: well
    # under a second of one detector's work). Both 0: no checkpoints, takeovers rebuild.
    checkpoint_interval_s: float = 30.0
    checkpoint_events: int = 50_000
    # Runner: entries per shard and read (an entry holds up to 256 events), and how long a read blocks.
    read_count: int = 64
    block_ms: int = 500
    # Runner: most shards one process owns (0 = no limit).
    max_shards: int = 0

    def __post_init__(self) -> None:
        require_positive(
            self,
            "reorder_tolerance_s",
            "tick_s",
            "lease_ttl_s",
            "lease_renew_s",
            "rebuild_page",
            "read_count",
            "block_ms",
            "dedup_capacity",
        )
        _non_negative(
            self, "future_tolerance_s", "rebuild_hours", "max_shards", "checkpoint_interval_s", "checkpoint_events"
        )
        if self.lease_renew_s * 2 > self.lease_ttl_s:
            raise ValueError("lease_renew_s must be at most half of lease_ttl_s so a lease is renewed in time")
        for base, override in self.assets.items():
            for section in _SECTIONS:
                known = {f.name: f.type for f in dataclasses.fields(getattr(ClassSettings(), section))}
                for key in getattr(override, section):
                    if key not in known or known[key] == "bool":
                        numeric = sorted(k for k, t in known.items() if t != "bool")
                        raise ValueError(
                            f"detectors.assets.{base}.{section}.{key}: unknown numeric setting "
                            f"(known: {', '.join(numeric)})"
                        )
            try:
                self._apply(self.major, override)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"detectors.assets.{base}: {exc}") from None

    def class_of(self, base: str) -> AssetClass:
        """The asset class of ``base`` (an explicit ``asset_class`` override wins)."""
        override = self._override(base)
        if override is not None and override.asset_class is not None:
            return override.asset_class
        upper = base.upper()
        if upper in {m.upper() for m in self.majors}:
            return "major"
        if upper in {m.upper() for m in self.large_caps}:
            return "large_cap"
        return "small_cap"

    def for_asset(self, base: str) -> ClassSettings:
        """The effective detector settings of ``base``: its class's, with its overrides applied."""
        chosen: ClassSettings = getattr(self, self.class_of(base))
        override = self._override(base)
        return chosen if override is None else self._apply(chosen, override)

    def _override(self, base: str) -> AssetOverride | None:
        upper = base.upper()
        for key, override in self.assets.items():
            if key.upper() == upper:
                return override
        return None

    @staticmethod
    def _apply(chosen: ClassSettings, override: AssetOverride) -> ClassSettings:
        changes: dict[str, Any] = {}
        for section in _SECTIONS:
            values = getattr(override, section)
            if values:
                current = getattr(chosen, section)
                typed = {k: int(v) if isinstance(getattr(current, k), int) else float(v) for k, v in values.items()}
                changes[section] = dataclasses.replace(current, **typed)
        return dataclasses.replace(chosen, **changes) if changes else chosen


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{name} must not be negative, got {getattr(obj, name)!r}")


__all__ = [
    "AssetClass",
    "AssetOverride",
    "CascadeSettings",
    "ClassSettings",
    "DetectorSettings",
    "FundingSettings",
    "OpenInterestSettings",
    "OptionsSettings",
    "RegimeSettings",
]
