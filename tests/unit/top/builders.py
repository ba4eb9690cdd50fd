"""Events, alerts and snapshots for the tests of the view."""

from __future__ import annotations

from monitor.alert import Alert
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.market_metrics import MarketTally
from monitor.top.state import AlertBook, FeedHealth, Snapshot, build_snapshot

T0 = 1_770_249_600_000  # 2026-02-05 00:00 UTC


def liquidation(
    venue: str, side: str, usd: float, n: int = 1, base: str = "BTC", *, sampled: bool = False
) -> Liquidation:
    return Liquidation(
        id=f"{venue}-{side}-{n}-{usd}",
        venue=venue,
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=T0 + n,
        recv_ms=T0 + n,
        side=side,  # type: ignore[arg-type]
        price=70_000.0,
        qty_base=usd / 70_000.0,
        notional_usd=usd,
        sampled=sampled,
    )


def funding(venue: str, rate_8h: float, base: str = "BTC") -> Funding:
    return Funding(
        id=f"{venue}-f-{rate_8h}",
        venue=venue,
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=T0,
        recv_ms=T0,
        rate=rate_8h,
        interval_h=8.0,
        rate_8h=rate_8h,
        mark_price=70_100.0,
    )


def open_interest(venue: str, oi_base: float, oi_usd: float | None, symbol: str = "BTCUSDT") -> OpenInterest:
    return OpenInterest(
        id=f"{venue}-oi-{symbol}",
        venue=venue,
        symbol=symbol,
        base="BTC",
        quote="USDT",
        contract="linear",
        ts_ms=T0,
        recv_ms=T0,
        oi_base=oi_base,
        oi_usd=oi_usd,
    )


def alert(
    status: str, *, severity: str = "warning", direction: str = "long", ts_ms: int = T0, summary: str = ""
) -> Alert:
    return Alert(
        id=f"a-{status}-{direction}-{ts_ms}",
        kind="liquidation_cascade",
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        base="BTC",
        venue=None,
        direction=direction,  # type: ignore[arg-type]
        started_ms=T0,
        ts_ms=ts_ms,
        summary=summary or f"BTC {direction} cascade {status}",
    )


def snapshot(
    tally: MarketTally,
    *,
    now_ms: int = T0 + 60_000,
    since_ms: int = T0,
    book: AlertBook | None = None,
    venues: tuple[str, ...] = ("binance", "bybit"),
    last_seen_ms: dict[str, float] | None = None,
    health: dict[str, FeedHealth] | None = None,
) -> Snapshot:
    return build_snapshot(
        source="embedded",
        label="test",
        now_ms=now_ms,
        since_ms=since_ms,
        venues=venues,
        tally=tally,
        last_seen_ms=last_seen_ms if last_seen_ms is not None else dict.fromkeys(venues, now_ms - 1000),
        book=book or AlertBook(),
        health=health,
    )
