"""Per-asset facts the detectors share: price trail, OI weights, funding and OI trends for the regime note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.detectors.config import RegimeSettings
from monitor.detectors.hygiene import PriceBand
from monitor.detectors.regime import Regime, classify, funding_turned
from monitor.detectors.snapshots import opt_float
from monitor.detectors.windows import PriceTrail, RollingRange

_PRICE_BUCKET_MS = 10_000
_PRICE_LOOKBACK_MS = 3_600_000
# A new price is judged against the asset's price of at most this age.
PRICE_REFERENCE_MS = 300_000


class AssetContext:
    """What one asset looks like right now, fed by all three detectors."""

    __slots__ = (
        "base",
        "first_ms",
        "funding_now",
        "funding_range",
        "oi_change_pct",
        "oi_usd",
        "oi_usd_listener",
        "price_band",
        "prices",
        "regime_settings",
    )

    def __init__(self, base: str, first_ms: int, regime: RegimeSettings, *, price_band_pct: float = 30.0) -> None:
        self.base = base
        # Prices further than this from the recent price are bad prints.
        self.price_band = PriceBand(price_band_pct)
        self.first_ms = first_ms
        self.regime_settings = regime
        self.prices = PriceTrail(_PRICE_LOOKBACK_MS, _PRICE_BUCKET_MS)
        lookback = int(regime.funding_lookback_s * 1000)
        self.funding_range = RollingRange(lookback, 60_000)
        self.funding_now: float | None = None
        # Latest OI in USD per (venue, symbol): the funding weights. Written through set_oi_usd,
        # which tells the listener (the funding detector, to reweight its sums) about every change.
        self.oi_usd: dict[tuple[str, str], float] = {}
        self.oi_usd_listener: Callable[[tuple[str, str], float], None] | None = None
        # Asset-wide OI change from the window high, in percent (base units); None before any OI.
        self.oi_change_pct: float | None = None

    def snapshot(self) -> dict[str, Any]:
        """The context's state as plain JSON-ready values (the listener is wiring, not state)."""
        funding_high, funding_low = self.funding_range.snapshot()
        return {
            "first_ms": self.first_ms,
            "prices": self.prices.snapshot(),
            "funding_high": funding_high,
            "funding_low": funding_low,
            "funding_now": self.funding_now,
            "oi_usd": [[venue, symbol, usd] for (venue, symbol), usd in self.oi_usd.items()],
            "oi_change_pct": self.oi_change_pct,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot`, without telling the listener (its owner restores its own sums)."""
        self.first_ms = int(state["first_ms"])
        self.prices.restore(state["prices"])
        self.funding_range.restore(state["funding_high"], state["funding_low"])
        self.funding_now = opt_float(state["funding_now"])
        self.oi_usd = {(str(venue), str(symbol)): float(usd) for venue, symbol, usd in state["oi_usd"]}
        self.oi_change_pct = opt_float(state["oi_change_pct"])

    def reference_price(self, ts_ms: int) -> float | None:
        """The price a new print at ``ts_ms`` is judged against (None when nothing is recent)."""
        return self.prices.recent(ts_ms, PRICE_REFERENCE_MS)

    def note_price(self, ts_ms: int, price: float) -> bool:
        """Add ``price`` to the trail when it is plausible (within the band of the recent price)."""
        if not self.price_band.admits(price, self.reference_price(ts_ms)):
            return False
        self.prices.add(ts_ms, price)
        return True

    def set_oi_usd(self, key: tuple[str, str], usd: float) -> None:
        """Record the latest OI in USD of a (venue, symbol) source."""
        self.oi_usd[key] = usd
        if self.oi_usd_listener is not None:
            self.oi_usd_listener(key, usd)

    def note_funding(self, ts_ms: int, rate_8h: float | None) -> None:
        """Record the current OI-weighted funding (None when no venue is fresh)."""
        self.funding_now = rate_8h
        if rate_8h is not None:
            self.funding_range.add(ts_ms, rate_8h)
        # Expired here as well as when read: an asset that never cascades never reads it.
        self.funding_range.expire(ts_ms)

    def price_move_pct(self, since_ms: int) -> float | None:
        """Price change in percent from ``since_ms`` to now."""
        then = self.prices.at(since_ms)
        now = self.prices.last
        if then is None or now is None or then <= 0:
            return None
        return (now / then - 1.0) * 100.0

    def funding_turn(self, direction: str, now_ms: int) -> bool:
        """True when funding is moving against ``direction``'s positions (see :mod:`regime`)."""
        if self.funding_now is None:
            return False  # no fresh funding
        funding = self.funding_range
        funding.expire(now_ms)
        return funding_turned(direction, self.funding_now, funding.high(), funding.low(), self.regime_settings)

    def regime(self, direction: str, now_ms: int, since_ms: int) -> Regime:
        """The regime right now of a cascade of ``direction`` whose window starts at ``since_ms``."""
        return classify(
            direction,
            oi_change_pct=self.oi_change_pct,
            funding_turn=self.funding_turn(direction, now_ms),
            price_move_pct=self.price_move_pct(since_ms),
            settings=self.regime_settings,
        )
