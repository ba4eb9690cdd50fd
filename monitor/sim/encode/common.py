"""What every venue encoder shares: the per-venue view of the market and the feed samplers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from monitor.capture.format import CaptureRecord
from monitor.sim.market import Liq, MarketPath

HOUR_MS = 3_600_000


def dumps(obj: object) -> str:
    """Compact JSON text, as venues send it."""
    return orjson.dumps(obj).decode()


def fmt(value: float, places: int) -> str:
    """A decimal string with ``places`` digits (venues send most numbers as strings)."""
    return f"{value:.{places}f}"


@dataclass(slots=True)
class VenueView:
    """One venue's slice of the simulated market.

    ``share`` is the venue's share of open interest; ``liqs`` the model's
    liquidations that happened on this venue (before the feed's sampling).
    Venue-specific funding offsets, open-interest noise and receive latency
    come from ``rng``, so each venue differs a little from the others.
    """

    venue: str
    path: MarketPath
    share: float
    liqs: list[Liq]
    rng: random.Random
    latency_ms: int = 60
    funding_offset: float = 0.0
    # Step -> factor on this venue's open interest at that step: a bad print (0.0 for a zero print).
    oi_glitches: dict[int, float] = field(default_factory=dict)
    _oi_noise: list[float] = field(default_factory=list)
    _f_noise: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.funding_offset = self.rng.uniform(-0.000006, 0.000006)
        noise = 0.0
        fnoise = 0.0
        for _ in range(len(self.path)):
            noise += -0.02 * noise + self.rng.gauss(0.0, 0.0002)
            fnoise += -0.05 * fnoise + self.rng.gauss(0.0, 0.000002)
            self._oi_noise.append(noise)
            self._f_noise.append(fnoise)

    def t_ms(self, k: int) -> int:
        """Event time of step ``k``."""
        return self.path.t_ms(k)

    def recv(self, ts_ms: int) -> int:
        """Receive time of a frame the venue stamped ``ts_ms``."""
        return ts_ms + self.latency_ms + int(self.rng.random() * 40)

    def index(self, k: int) -> float:
        """Index (spot) price at step ``k``."""
        return self.path.price[k]

    def mark(self, k: int) -> float:
        """Mark price at step ``k``: index plus the perpetual premium."""
        return self.path.price[k] * (1.0 + self.path.premium[k])

    def funding_8h(self, k: int) -> float:
        """This venue's current 8-hour funding rate estimate at step ``k``."""
        return self.path.funding_8h[k] + self.funding_offset + self._f_noise[k]

    def oi_base(self, k: int) -> float:
        """This venue's open interest in base units (one side) at step ``k``."""
        value = self.share * self.path.oi_base[k] * (1.0 + self._oi_noise[k])
        return value * self.oi_glitches[k] if k in self.oi_glitches else value

    def oi_face_usd(self, k: int) -> float:
        """An inverse venue's open interest as USD face value at step ``k``.

        Inverse positions are contracts of a fixed USD face: the model's positions (base
        units) are converted at the scenario's start price, so a price move alone leaves
        the number of contracts unchanged, as on the venues.
        """
        return self.oi_base(k) * self.path.price[0]

    def ticks(self, every_s: float, offset_s: float = 0.0) -> Iterator[int]:
        """Steps at a cadence of ``every_s`` seconds (never finer than the model grid)."""
        stride = max(1, round(every_s * 1000 / self.path.step_ms))
        first = min(len(self.path) - 1, round(offset_s * 1000 / self.path.step_ms))
        return iter(range(first, len(self.path), stride))

    def next_funding_ms(self, ts_ms: int, interval_h: float = 8.0) -> int:
        """The next funding settlement after ``ts_ms`` (intervals aligned to midnight UTC)."""
        step = int(interval_h * HOUR_MS)
        return (ts_ms // step + 1) * step

    def meta(self, path: str, body: object) -> CaptureRecord:
        """An instrument-list ``meta`` line, dated just before the first frame."""
        return CaptureRecord(recv_ms=self.path.start_ms - 5_000, venue=self.venue, meta=path, frame=dumps(body))

    def frame(self, recv_ms: int, body: object) -> CaptureRecord:
        """A websocket frame line."""
        return CaptureRecord(recv_ms=recv_ms, venue=self.venue, frame=body if isinstance(body, str) else dumps(body))

    def rest(self, recv_ms: int, path: str, body: object) -> CaptureRecord:
        """A polled REST body line."""
        return CaptureRecord(recv_ms=recv_ms, venue=self.venue, rest=path, frame=dumps(body))


# -- feed samplers --------------------------------------------------------------------------------


def everything(liqs: list[Liq]) -> list[Liq]:
    """A complete feed (Bybit ``allLiquidation``, Deribit trades, BitMEX)."""
    return list(liqs)


def nothing(liqs: list[Liq]) -> list[Liq]:
    """No public feed (Hyperliquid)."""
    return []


def largest_per_second(liqs: list[Liq]) -> list[Liq]:
    """At most one liquidation per symbol per second, the largest (Binance, OKX, Gate before 2026-08)."""
    best: dict[int, Liq] = {}
    for liq in liqs:
        slot = liq.ts_ms // 1000
        held = best.get(slot)
        if held is None or liq.usd > held.usd:
            best[slot] = liq
    return sorted(best.values(), key=lambda liq: liq.ts_ms)


def largest_per_side_per_second(liqs: list[Liq]) -> list[Liq]:
    """The largest long and the largest short per symbol per second (Bitget UTA)."""
    best: dict[tuple[int, str], Liq] = {}
    for liq in liqs:
        key = (liq.ts_ms // 1000, liq.side)
        held = best.get(key)
        if held is None or liq.usd > held.usd:
            best[key] = liq
    return sorted(best.values(), key=lambda liq: liq.ts_ms)


def batches(liqs: Iterable[Liq], every_ms: int) -> Iterator[tuple[int, list[Liq]]]:
    """Liquidations grouped into push batches of ``every_ms``; yields (push time, batch)."""
    current: list[Liq] = []
    slot = -1
    for liq in liqs:
        this = liq.ts_ms // every_ms
        if current and this != slot:
            yield (slot + 1) * every_ms, current
            current = []
        slot = this
        current.append(liq)
    if current:
        yield (slot + 1) * every_ms, current


def qty_steps(amount: float, step: float) -> float:
    """``amount`` rounded to a whole number of ``step`` (at least one step)."""
    return max(step, round(amount / step) * step)


Sampler = Callable[[list[Liq]], list[Liq]]


def round_price(price: float) -> float:
    """A price rounded to the 0.1 tick BTC perpetuals use."""
    return math.floor(price * 10 + 0.5) / 10
