"""A small seeded market generator for detector tests: calm background, a crash, a short squeeze.

Figures follow the February 2026 BTC crash in shape, not in detail: calm hours
liquidate a few $100k-$1M of BTC per hour, the crash liquidates tens of
millions per minute at its peak while open interest (base units) falls and
funding turns negative, the squeeze liquidates shorts while price rebounds.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from monitor.events import Event, Funding, Gap, Liquidation, OpenInterest

VENUES = ("binance", "bybit", "okx")
SYMBOLS = {"binance": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
MINUTE = 60_000
T0 = 1_770_249_600_000  # 2026-02-05 00:00 UTC


def liq(
    ts: int,
    side: str,
    usd: float | None,
    *,
    price: float = 70_000.0,
    venue: str = "bybit",
    base: str = "BTC",
    ident: str | None = None,
) -> Liquidation:
    """One liquidation event (``usd`` None = unknown notional)."""
    qty = (usd or 1000.0) / price
    return Liquidation(
        id=ident or f"l-{venue}-{ts}-{side}-{usd}-{next(_ids)}",
        venue=venue,
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        side=side,
        price=price,  # type: ignore[arg-type]
        qty_base=qty,
        notional_usd=usd,
    )


def fund(
    ts: int,
    rate_8h: float,
    venue: str = "bybit",
    *,
    base: str = "BTC",
    mark: float | None = None,
    symbol: str | None = None,
) -> Funding:
    """One funding print."""
    return Funding(
        id=f"f-{venue}-{ts}-{next(_ids)}",
        venue=venue,
        symbol=symbol or f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        rate=rate_8h,
        interval_h=8.0,
        rate_8h=rate_8h,
        mark_price=mark,
    )


def oi(
    ts: int,
    base_units: float,
    venue: str = "bybit",
    *,
    base: str = "BTC",
    price: float | None = 70_000.0,
    symbol: str | None = None,
) -> OpenInterest:
    """One open-interest report."""
    return OpenInterest(
        id=f"o-{venue}-{ts}-{next(_ids)}",
        venue=venue,
        symbol=symbol or f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=ts,
        recv_ms=ts,
        oi_base=base_units,
        oi_usd=None if price is None else base_units * price,
    )


def gap(ts: int, venue: str, bases: tuple[str, ...] = ()) -> Gap:
    """A disconnect marker."""
    return Gap(id=f"g-{venue}-{ts}-{next(_ids)}", venue=venue, reason="disconnect", ts_ms=ts, recv_ms=ts, bases=bases)


_ids = itertools.count()


@dataclass
class Market:
    """A BTC market across three venues that advances minute by minute."""

    seed: int
    t: int = T0
    price: float = 73_100.0
    oi_base: dict[str, float] = field(default_factory=lambda: {"binance": 95_000.0, "bybit": 60_000.0, "okx": 30_000.0})
    funding: float = 0.0001
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def minute(
        self,
        *,
        long_usd: float = 8_000.0,
        short_usd: float = 6_000.0,
        liq_rate: float = 1.5,
        price_drift: float = 0.0,
        oi_drift: float = 0.0,
        funding_target: float | None = None,
    ) -> None:
        """One minute of events: OI every 10 s per venue, funding every 30 s, Poisson liquidations."""
        rng = self.rng
        if funding_target is not None:
            self.funding += (funding_target - self.funding) * 0.2
        for step in range(6):
            ts = self.t + step * 10_000
            self.price *= 1 + price_drift / 6 + rng.gauss(0, 0.0003)
            for venue in VENUES:
                self.oi_base[venue] *= 1 + oi_drift / 6 + rng.gauss(0, 0.0002)
                self.events.append(
                    oi(ts + rng.randrange(0, 900), self.oi_base[venue], venue, price=self.price, symbol=SYMBOLS[venue])
                )
                if step % 3 == 0:
                    rate = self.funding + rng.gauss(0, 0.000005)
                    self.events.append(
                        fund(ts + rng.randrange(0, 900), rate, venue, mark=self.price, symbol=SYMBOLS[venue])
                    )
        for side, usd in (("long", long_usd), ("short", short_usd)):
            count = _poisson(rng, liq_rate * (usd / max(long_usd, short_usd, 1.0)) if usd else 0)
            for _ in range(count):
                size = usd / max(liq_rate, 1e-9) * rng.lognormvariate(0, 0.5) / 1.13
                venue = rng.choice(VENUES)
                self.events.append(liq(self.t + rng.randrange(0, MINUTE), side, size, price=self.price, venue=venue))
        self.t += MINUTE

    def calm(self, minutes: int) -> None:
        """Background: a few $100k-$1M of liquidations per hour, funding +0.01 %/8 h, OI drifting."""
        for _ in range(minutes):
            self.minute(funding_target=0.0001)

    def crash(self, minutes: int) -> None:
        """Long liquidations of tens of $M per minute, price -0.5 %/min, OI -0.4 %/min, funding negative."""
        for _ in range(minutes):
            self.minute(
                long_usd=25_000_000.0,
                short_usd=50_000.0,
                liq_rate=60,
                price_drift=-0.005,
                oi_drift=-0.004,
                funding_target=-0.0002,
            )

    def squeeze(self, minutes: int) -> None:
        """Short liquidations of ~$10M per minute while price rebounds and funding turns positive."""
        for _ in range(minutes):
            self.minute(
                long_usd=50_000.0,
                short_usd=10_000_000.0,
                liq_rate=40,
                price_drift=0.006,
                oi_drift=-0.001,
                funding_target=0.0003,
            )

    def sorted_events(self) -> list[Event]:
        """Events in time order (the generator emits them per minute, slightly shuffled)."""
        return sorted(self.events, key=lambda e: e.ts_ms)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    count, threshold, product = 0, pow(2.718281828459045, -lam), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def heartbeat(ts: int) -> Funding:
    """A funding print of an unrelated, flat asset: advances event time without touching BTC."""
    return fund(ts, 0.0001, venue="okx", base="ZZZ")


def with_heartbeats(events: list[Event], until_ms: int, step_ms: int = 1000) -> list[Event]:
    """``events`` merged with a heartbeat every ``step_ms`` from the first event time to ``until_ms``."""
    start = min(e.ts_ms for e in events) if events else T0
    beats: list[Event] = [heartbeat(t) for t in range(start, until_ms + 1, step_ms)]
    return sorted([*events, *beats], key=lambda e: e.ts_ms)
