"""The readers behind ``liqmon top`` / ``liqmon alerts``: Redis read-only, and a daemon that is not there."""

from __future__ import annotations

import pytest

from monitor.bus.redis_streams import RedisStreamsBus
from monitor.metrics import Metrics
from monitor.settings import load_settings
from monitor.top.live import wall_ms
from monitor.top.sources import HttpSource, RedisSource, SourceError
from tests.support.services import RedisServer, free_port
from tests.unit.top.builders import alert, liquidation

pytestmark = pytest.mark.integration


async def test_redis_source_reads_events_and_alerts_without_a_consumer_group(
    redis_server: RedisServer, metrics: Metrics
) -> None:
    settings = load_settings(None, overrides={"bus.redis_url": redis_server.url, "bus.shard_count": 2})
    writer = RedisStreamsBus(settings.bus, metrics)
    writer.publish([liquidation("bybit", "long", 1_000.0, n) for n in range(30)])
    writer.publish([liquidation("okx", "short", 500.0, n, base="ETH") for n in range(10)])
    assert await writer.flush(5.0)
    await writer.publish_alert(alert("firing"))
    redis_server.command("XADD", "liqmon:alerts", "*", "kind", "x", "data", "not json")  # a bad entry is skipped
    source = RedisSource(settings, lookback_s=600)
    try:
        snap = await source.snapshot()
        totals = {(r.venue, r.base, r.side): (r.count, r.usd) for r in snap.liquidations}
        assert totals == {("bybit", "BTC", "long"): (30, 30_000.0), ("okx", "ETH", "short"): (10, 5_000.0)}
        assert [a.status for a in snap.active] == ["firing"]
        assert source.skipped == 1
        # Only what is new is read at the next refresh; nothing is counted twice.
        writer.publish([liquidation("bybit", "long", 1_000.0, 99)])
        assert await writer.flush(5.0)
        again = await source.snapshot()
        assert {(r.venue, r.side): r.count for r in again.liquidations}[("bybit", "long")] == 31
        assert [a.id for a in await source.alerts_since(wall_ms() - 60_000)] == [alert("firing").id]
        assert await source.alerts_since(wall_ms() + 60_000) == []
    finally:
        await source.close()
        await writer.close()
    for key in ("liqmon:events:{0}", "liqmon:events:{1}", "liqmon:alerts"):
        assert redis_server.command("XINFO", "GROUPS", key) == b"*0\r\n"  # watching created no group


async def test_a_daemon_that_is_not_there_is_named_with_what_to_check() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    source = HttpSource(url)
    try:
        with pytest.raises(SourceError, match=r"cannot reach .*/state .*is `liqmon run` running"):
            await source.snapshot()
    finally:
        await source.close()
