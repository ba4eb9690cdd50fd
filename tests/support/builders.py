"""Small valid events and alerts for bus tests, numbered so a checker can match what went in and out."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alert import Alert
from monitor.bus.base import Bus, EventEntry
from monitor.events import Event, Liquidation


def liq(i: int, base: str = "BTC") -> Liquidation:
    """A valid liquidation whose id is ``i``."""
    return Liquidation(
        id=str(i),
        venue="binance",
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        contract="linear",
        ts_ms=1_700_000_000_000 + i,
        recv_ms=1_700_000_000_000 + i,
        side="long",
        price=100.0,
        qty_base=1.5,
        notional_usd=150.0,
    )


def alert(n: int) -> Alert:
    """A valid alert whose id is ``a<n>``."""
    return Alert(
        id=f"a{n}",
        kind="liquidation_cascade",
        status="firing",
        severity="warning",
        base="BTC",
        venue=None,
        direction="long",
        started_ms=1_700_000_000_000,
        ts_ms=1_700_000_000_000 + n,
        summary="test",
        values={"n": n},
    )


def event_ids(entries: Sequence[EventEntry], shard: int | None = None) -> list[str]:
    """The event ids carried by bus entries (of one shard when given), in order."""
    return [e.id for entry in entries if shard is None or entry.shard == shard for e in entry.events]


async def publish_entries(bus: Bus, events: Sequence[Event]) -> None:
    """Publish and write ``events`` one entry each (the granularity a test of entry handling needs)."""
    for event in events:
        bus.publish([event])
        assert await bus.flush(5)
