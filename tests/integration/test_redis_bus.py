"""The Redis Streams bus against a real redis-server: delivery, order, alerts, leases, history, stats."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest

from monitor.bus.base import ENTRY_MAX_BYTES, ENTRY_MAX_EVENTS, shard_of, target_shards
from monitor.bus.codec import encode
from monitor.bus.factory import create_bus
from monitor.bus.keys import Keys
from monitor.bus.memory import MemoryBus
from monitor.bus.redis_link import backoff, describe_target, translate
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.errors import BusAuthError, BusError, BusUnavailable
from monitor.events import Gap
from monitor.metrics import Metrics
from monitor.settings import BusSettings
from tests.support.builders import alert, event_ids, liq, publish_entries
from tests.support.services import RedisServer

BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX")


def bus_settings(server: RedisServer, **overrides: Any) -> BusSettings:
    """Small, fast settings for tests."""
    values: dict[str, Any] = {
        "redis_url": server.url,
        "shard_count": 4,
        "batch_size": 200,
        "block_ms": 200,
        "claim_idle_ms": 200,
    }
    values.update(overrides)
    return BusSettings(**values)


@contextlib.asynccontextmanager
async def running(bus: RedisStreamsBus) -> AsyncIterator[RedisStreamsBus]:
    """The bus with its background work running; stopped and closed on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(bus.run(stop))
    try:
        yield bus
    finally:
        stop.set()
        await task
        await bus.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll an observable condition with a deadline (yielding to the loop between polls)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.02)


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The current value of one sample in the test registry."""
    return metrics.registry.get_sample_value(name, labels or {})


async def consume_all(
    bus: RedisStreamsBus, shards: Iterable[int], consumer: str, expected: int, seen: dict[int, list[str]]
) -> None:
    """Read and ack until ``expected`` events were seen on ``shards``."""
    shard_list = list(shards)
    got = 0
    while got < expected:
        batch = await bus.read_events(shard_list, consumer, count=500, block_ms=200)
        for d in batch:
            seen[d.shard].extend(e.id for e in d.events)
            got += len(d.events)
        await bus.ack_events(batch)


pytestmark = pytest.mark.integration


async def test_100k_events_all_consumed_in_order_per_shard(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, batch_size=500, claim_idle_ms=30_000)
    producer = RedisStreamsBus(settings, metrics)
    consumer = RedisStreamsBus(settings, metrics)
    total = 100_000
    sent: dict[int, list[str]] = defaultdict(list)
    events = [liq(i, BASES[i % len(BASES)]) for i in range(total)]
    for event in events:
        sent[shard_of(event.base, settings.shard_count)].append(event.id)
    seen: dict[int, list[str]] = defaultdict(list)
    async with running(producer):
        for start in range(0, total, 1000):
            producer.publish(events[start : start + 1000])
            await asyncio.sleep(0)
        halves = ([0, 1], [2, 3])
        readers = [
            consume_all(consumer, shards, f"c{i}", sum(len(sent[s]) for s in shards), seen)
            for i, shards in enumerate(halves)
        ]
        async with asyncio.timeout(90):
            await asyncio.gather(*readers)
        assert await producer.flush(5)
    for shard in range(settings.shard_count):
        assert seen[shard] == sent[shard], f"shard {shard}: order or content differs"
    assert sample(metrics, "liqmon_bus_published_total", {"stream": "events"}) == total
    assert sample(metrics, "liqmon_bus_overflow_total") == 0
    await consumer.refresh_stats()
    families = {f.name: f for f in consumer.collect()}
    lengths = {s.labels["stream"]: s.value for s in families["liqmon_bus_stream_length"].samples}
    assert 0 < sum(lengths[f"events:{s}"] for s in range(4)) <= total // 50  # batched: many events per entry
    pending = [s.value for s in families["liqmon_bus_pending_entries"].samples]
    lag = [s.value for s in families["liqmon_bus_lag_entries"].samples]
    assert pending == [0, 0, 0, 0]
    assert lag == [0, 0, 0, 0]
    await consumer.close()


async def test_pending_entries_are_redelivered_before_new_ones(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, shard_count=1)
    bus = RedisStreamsBus(settings, metrics)
    await publish_entries(bus, [liq(i) for i in range(10)])
    first = await bus.read_events([0], "w", count=4, block_ms=100)
    assert event_ids(first) == ["0", "1", "2", "3"]
    # Same consumer restarts (fresh bus, no cursor): its unacked entries come back first, counted.
    await bus.close()
    again = RedisStreamsBus(settings, metrics)
    replay = await again.read_events([0], "w", count=3, block_ms=100)
    assert event_ids(replay) == ["0", "1", "2"]
    assert all(d.deliveries == 2 for d in replay)
    rest = await again.read_events([0], "w", count=10, block_ms=100)
    assert event_ids(rest) == ["3"]
    fresh = await again.read_events([0], "w", count=10, block_ms=100)
    assert event_ids(fresh) == [str(i) for i in range(4, 10)]
    assert all(d.deliveries == 1 for d in fresh)
    await again.ack_events([*replay, *rest, *fresh])
    assert redis_server.command("XPENDING", Keys().events(0), "detectors").startswith(b"*4\r\n:0\r\n")
    await again.close()


async def test_gap_fans_out_to_its_shards(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server)
    bus = RedisStreamsBus(settings, metrics)
    everywhere = Gap(id="g1", venue="okx", reason="closed", ts_ms=1, recv_ms=1)
    only_btc = Gap(id="g2", venue="okx", reason="closed", ts_ms=2, recv_ms=2, bases=("BTC",))
    bus.publish([everywhere, only_btc])
    assert await bus.flush(5)
    got = await bus.read_events(range(4), "w", count=10, block_ms=100)
    by_id: dict[str, set[int]] = defaultdict(set)
    for d in got:
        for e in d.events:
            by_id[e.id].add(d.shard)
    assert by_id == {"g1": {0, 1, 2, 3}, "g2": {shard_of("BTC", 4)}}
    await bus.close()


async def test_a_mixed_chunk_keeps_each_shards_order_and_the_bound(redis_server: RedisServer, metrics: Metrics) -> None:
    """Assets of several shards interleaved and a gap in one publish: oldest dropped first, batches cut anywhere."""
    bus = RedisStreamsBus(bus_settings(redis_server, buffer_max_events=50, batch_size=7), metrics)
    gap = Gap(id="g", venue="okx", reason="closed", ts_ms=1, recv_ms=1)  # one copy per shard: 4
    events = [
        *(liq(i) for i in range(20)),  # one long run, cut by the bound
        *(liq(i, BASES[i % 3]) for i in range(20, 40)),
        gap,
        *(liq(i, BASES[i % 3]) for i in range(40, 60)),
    ]
    bus.publish(events)
    buffered = [(shard, event.id) for event in events for shard in target_shards(event, 4)][-50:]
    assert sample(metrics, "liqmon_bus_overflow_total") == 64 - 50
    assert await bus.flush(5)
    got: dict[int, list[str]] = defaultdict(list)
    for entry in await bus.read_events(range(4), "w", count=100, block_ms=100):
        got[entry.shard] += [event.id for event in entry.events]
    expected: dict[int, list[str]] = defaultdict(list)
    for shard, event_id in buffered:
        expected[shard].append(event_id)
    assert got == expected
    assert sample(metrics, "liqmon_bus_published_total", {"stream": "events"}) == 50
    await bus.close()


async def test_alerts_round_trip_and_dead_letters(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server), metrics)
    for n in range(3):
        await bus.publish_alert(alert(n))
    got = await bus.read_alerts("d1", count=10, block_ms=100)
    assert [d.item for d in got] == [alert(0), alert(1), alert(2)]
    assert all(d.shard == -1 for d in got)
    await bus.ack_alerts(got)
    assert await bus.read_alerts("d1", count=10, block_ms=50) == []
    await bus.dead_letter(alert(1), "slack", "404 no_service")
    raw = redis_server.command("XRANGE", Keys().dead_letters, "-", "+")
    assert b"slack" in raw
    assert b"404 no_service" in raw
    assert b'"id":"a1"' in raw
    await bus.close()


async def test_an_alert_is_appended_once_per_id(redis_server: RedisServer, metrics: Metrics) -> None:
    """A new owner re-raising what its predecessor published before dying (events unacknowledged) adds nothing."""
    predecessor = RedisStreamsBus(bus_settings(redis_server), metrics)
    await predecessor.publish_alert(alert(1))
    await predecessor.close()
    successor = RedisStreamsBus(bus_settings(redis_server), metrics)
    await successor.publish_alert(alert(1))
    await successor.publish_alert(alert(2))
    got = await successor.read_alerts("d1", count=10, block_ms=100)
    assert [d.item.id for d in got] == ["a1", "a2"]
    assert sample(metrics, "liqmon_bus_published_total", {"stream": "alerts"}) == 2
    ttl_ms = int(redis_server.command("PTTL", Keys().published("a1")).strip(b":\r\n"))
    assert 0 < ttl_ms <= bus_settings(redis_server).retention_hours * 3_600_000  # forgotten with the stream
    await successor.close()


async def test_claim_once_and_leases(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server), metrics)
    assert await bus.claim_once("a1:slack", 60_000) is True
    assert await bus.claim_once("a1:slack", 60_000) is False
    assert await bus.claim_once("a2:slack", 60_000) is True

    assert await bus.acquire_lease("shard:0", "alpha", 60_000) is True
    assert await bus.acquire_lease("shard:0", "beta", 60_000) is False
    assert await bus.acquire_lease("shard:0", "alpha", 60_000) is True  # renewal
    await bus.release_lease("shard:0", "beta")  # not the owner: no effect
    assert await bus.acquire_lease("shard:0", "beta", 60_000) is False
    await bus.release_lease("shard:0", "alpha")
    assert await bus.acquire_lease("shard:0", "beta", 60_000) is True

    assert await bus.acquire_lease("shard:1", "alpha", 50) is True
    await wait_until(lambda: redis_server.command("EXISTS", Keys().lease("shard:1")) == b":0\r\n")
    assert await bus.acquire_lease("shard:1", "beta", 60_000) is True
    await bus.close()


async def test_a_checkpoint_is_written_only_by_the_lease_holder(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server), metrics)
    assert await bus.store_checkpoint("shard:0", "alpha", b"nobody holds the lease") is False
    assert await bus.load_checkpoint("shard:0") is None

    assert await bus.acquire_lease("shard:0", "alpha", 60_000) is True
    assert await bus.store_checkpoint("shard:0", "alpha", b"alpha's state") is True
    assert await bus.load_checkpoint("shard:0") == b"alpha's state"
    # alpha's lease lapses while it is paused and beta takes the shard over and checkpoints it.
    redis_server.command("DEL", Keys().lease("shard:0"))
    assert await bus.acquire_lease("shard:0", "beta", 60_000) is True
    assert await bus.store_checkpoint("shard:0", "beta", b"beta's state") is True
    # alpha wakes up and writes the state it had: refused, beta's checkpoint stays.
    assert await bus.store_checkpoint("shard:0", "alpha", b"alpha's stale state") is False
    assert await bus.load_checkpoint("shard:0") == b"beta's state"
    assert await bus.load_checkpoint("shard:1") is None  # one checkpoint per lease
    await bus.close()


async def test_read_history_pages_through_retention(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1), metrics)
    await publish_entries(bus, [liq(i) for i in range(25)])
    pages: list[list[str]] = []
    after = "0"
    while page := await bus.read_history(0, after, 10):
        pages.append(event_ids(page))
        after = page[-1].entry_id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == [str(i) for i in range(25)]
    await bus.close()


async def test_bad_and_trimmed_entries_are_acked_and_counted(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, shard_count=1)
    bus = RedisStreamsBus(settings, metrics)
    key = Keys().events(0)
    bus.publish([liq(1)])
    assert await bus.flush(5)
    held = await bus.read_events([0], "w", count=10, block_ms=100)
    assert len(held) == 1
    # The pending entry's payload disappears (retention), then garbage and a good event arrive.
    redis_server.command("XTRIM", key, "MAXLEN", "0")
    redis_server.command("XADD", key, "*", "kind", "liquidation", "data", "{not json")
    redis_server.command("XADD", key, "*", "kind", "liquidation", "nodata", "x")
    bus.publish([liq(2)])
    assert await bus.flush(5)
    await bus.close()
    again = RedisStreamsBus(settings, metrics)
    got: list[str] = []
    for _ in range(5):
        got += event_ids(await again.read_events([0], "w", count=10, block_ms=50))
    assert got == ["2"]
    assert sample(metrics, "liqmon_bus_invalid_entries_total", {"stream": "events", "reason": "trimmed"}) == 2
    assert sample(metrics, "liqmon_bus_invalid_entries_total", {"stream": "events", "reason": "decode"}) == 1
    # Only the good event is still pending; the bad ones were acknowledged.
    assert redis_server.command("XPENDING", key, "detectors").startswith(b"*4\r\n:1\r\n")
    await again.close()


async def test_publishing_trims_entries_older_than_the_retention(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, shard_count=1, retention_hours=1.0)
    bus = RedisStreamsBus(settings, metrics)
    key = Keys().events(0)
    for ms in range(1, 1001):  # entries from 1970: far outside any retention
        redis_server.command("XADD", key, f"{ms}-0", "kind", "liquidation", "data", "{}")
    bus.publish([liq(i) for i in range(300)])
    assert await bus.flush(5)
    await bus.close()
    # MINID ~ trims whole stream nodes (100 entries each by default): every old entry but at most
    # one node's worth is gone, and all 300 new ones are there, in publish order.
    length = int(redis_server.command("XLEN", key).split(b":")[1])
    reader = RedisStreamsBus(settings, metrics)
    got: list[str] = []
    entries = 0
    while len(got) < 300:
        batch = await reader.read_events([0], "r", count=500, block_ms=100)
        got += event_ids(batch)
        entries += len(batch)
    assert got == [str(i) for i in range(300)]
    assert entries <= length < entries + 100
    await reader.close()


async def test_stream_gauges_are_exported_at_scrape_time(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=2), metrics, stats_interval_s=0.05)
    async with running(bus):
        await publish_entries(bus, [liq(i, "BTC") for i in range(5)])
        await bus.read_events([shard_of("BTC", 2)], "w", count=2, block_ms=100)
        shard = shard_of("BTC", 2)
        await wait_until(
            lambda: (
                sample(metrics, "liqmon_bus_stream_length", {"stream": f"events:{shard}"}) == 5
                and sample(metrics, "liqmon_bus_pending_entries", {"stream": f"events:{shard}", "group": "detectors"})
                == 2
            )
        )
        assert sample(metrics, "liqmon_bus_lag_entries", {"stream": f"events:{shard}", "group": "detectors"}) == 3
        text = generate_latest(metrics.registry).decode()
        assert 'liqmon_bus_stream_length{stream="alerts"}' in text
    # Once stopped, the callback is gone (no stale figures).
    assert "liqmon_bus_stream_length" not in generate_latest(metrics.registry).decode()


async def test_factory_picks_the_bus_from_settings(redis_server: RedisServer, metrics: Metrics) -> None:
    memory = create_bus(BusSettings(), metrics)
    assert isinstance(memory, MemoryBus)
    redis_bus = create_bus(bus_settings(redis_server), metrics)
    assert isinstance(redis_bus, RedisStreamsBus)
    assert await redis_bus.ping() is True
    await redis_bus.close()


@pytest.mark.parametrize(
    ("prefix", "shard", "key"), [("liqmon", 3, "liqmon:events:{3}"), ("prod-a", 0, "prod-a:events:{0}")]
)
def test_keys_carry_hash_tags_and_labels(prefix: str, shard: int, key: str) -> None:
    keys = Keys(prefix)
    assert keys.events(shard) == key
    assert keys.shard_of_key(key) == shard
    assert keys.label(key) == f"events:{shard}"
    assert keys.label(keys.alerts) == "alerts"
    assert keys.label(keys.dead_letters) == "alerts:dead"
    assert keys.sent("x") == f"{prefix}:sent:x"
    assert keys.lease("shard:1") == f"{prefix}:lease:shard:1"
    assert keys.checkpoint("shard:1") == f"{prefix}:checkpoint:{{{prefix}:lease:shard:1}}"
    assert keys.shard_of_key(keys.alerts) is None


def test_backoff_is_capped_and_jittered() -> None:
    delays = backoff(0.1, 1.0)
    values = [next(delays) for _ in range(20)]
    assert all(0.05 <= v <= 1.0 for v in values)
    assert values[-1] >= 0.5
    assert len(set(values)) > 1


def test_errors_are_translated_with_the_target_and_no_password() -> None:
    import redis.exceptions as rexc

    assert describe_target("redis://:hunter2@db.example:6380/0") == "redis://:********@db.example:6380/0"
    down = translate(rexc.ConnectionError("refused"), "XADD", "db:6379")
    assert isinstance(down, BusUnavailable)
    auth = translate(rexc.AuthenticationError("WRONGPASS invalid username-password pair"), "PING", "db:6379")
    assert type(auth) is BusAuthError
    assert "redis_password" in str(auth)
    other = translate(rexc.ResponseError("WRONGTYPE"), "XADD", "db:6379")
    assert type(other) is BusError


async def test_unacked_entries_come_back_after_claim_idle(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1, claim_idle_ms=100), metrics)
    await publish_entries(bus, [liq(i) for i in range(3)])
    first = await bus.read_events([0], "w", count=10, block_ms=100)
    assert event_ids(first) == ["0", "1", "2"]
    claimed = 0
    async with asyncio.timeout(10):
        while claimed == 0:  # the entries become claimable once idle for 100 ms
            claimed = await bus.claim_idle()
            await asyncio.sleep(0.02)
    again = await bus.read_events([0], "w", count=10, block_ms=100)
    assert event_ids(again) == ["0", "1", "2"]
    assert [d.deliveries for d in again] == [2, 2, 2]
    await bus.ack_events(again)
    assert await bus.read_events([0], "w", count=10, block_ms=50) == []
    await bus.close()


async def test_adopt_pending_hands_a_dead_consumers_entries_to_the_new_owner_first(
    redis_server: RedisServer, metrics: Metrics
) -> None:
    settings = bus_settings(redis_server, shard_count=1, claim_idle_ms=60_000)
    bus = RedisStreamsBus(settings, metrics)
    await publish_entries(bus, [liq(i) for i in range(6)])
    handled = await bus.read_events([0], "old", count=2, block_ms=100)
    await bus.ack_events(handled)  # 0 and 1 handled by the old owner
    in_flight = await bus.read_events([0], "old", count=2, block_ms=100)  # 2 and 3 read, never acknowledged
    successor = RedisStreamsBus(settings, metrics)
    adopted = await successor.adopt_pending(0, "new")
    assert adopted == {d.entry_id for d in in_flight}
    first = await successor.read_events([0], "new", count=10, block_ms=100)
    assert event_ids(first) == ["2", "3"]
    assert [d.deliveries for d in first] == [2, 2]
    await successor.ack_events(first)
    rest: list[str] = []
    async with asyncio.timeout(10):
        while len(rest) < 2:  # the successor's own pending list is re-read once, then new entries follow
            batch = await successor.read_events([0], "new", count=10, block_ms=100)
            rest += [i for i in event_ids(batch) if i not in ("2", "3")]
            await successor.ack_events(batch)
    assert rest == ["4", "5"]
    assert await successor.adopt_pending(0, "newer") == set()
    await bus.close()
    await successor.close()


def xrange_fields(server: RedisServer, key: str) -> list[dict[bytes, bytes]]:
    """Every entry of a stream as a field dict, through a plain client (what `XRANGE` shows an operator)."""
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return [fields for _, fields in client.xrange(key)]
    finally:
        client.close()


async def test_events_are_written_as_bounded_batched_entries(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1, batch_size=10_000), metrics)
    events = [liq(i) for i in range(ENTRY_MAX_EVENTS + 10)]
    bus.publish(events)
    assert await bus.flush(5)
    entries = xrange_fields(redis_server, Keys().events(0))
    assert [int(f[b"n"]) for f in entries] == [ENTRY_MAX_EVENTS, 10]
    assert all(set(f) == {b"n", b"data"} for f in entries)
    assert [e["id"] for f in entries for e in orjson.loads(f[b"data"])] == [e.id for e in events]
    # A large event makes a byte-bounded entry: 64 KiB at most, whatever the event count.
    big = [liq(i, "B" * 2_000) for i in range(100)]
    bus.publish(big)
    assert await bus.flush(5)
    later = xrange_fields(redis_server, Keys().events(shard_of("B" * 2_000, 1)))[2:]
    assert len(later) > 1
    assert all(len(f[b"data"]) <= ENTRY_MAX_BYTES for f in later)
    assert sum(int(f[b"n"]) for f in later) == 100
    await bus.close()


async def test_a_quiet_trickle_is_written_after_the_linger(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1, linger_ms=5), metrics)
    async with running(bus):
        bus.publish([liq(1)])
        got: list[str] = []
        async with asyncio.timeout(10):
            while not got:  # no flush(): the background writer sends the lone event once the linger is over
                got = event_ids(await bus.read_events([0], "w", count=10, block_ms=100))
        assert got == ["1"]


async def test_entries_of_the_previous_release_are_still_read(redis_server: RedisServer, metrics: Metrics) -> None:
    settings = bus_settings(redis_server, shard_count=1)
    key = Keys().events(0)
    for i in (0, 1):  # one event per entry, fields kind and data: what the previous release wrote
        redis_server.command("XADD", key, "*", "kind", "liquidation", "data", encode(liq(i)).decode())
    bus = RedisStreamsBus(settings, metrics)
    bus.publish([liq(2), liq(3)])
    assert await bus.flush(5)
    history = await bus.read_history(0, "0", 10)
    assert event_ids(history) == ["0", "1", "2", "3"]
    live = await bus.read_events([0], "w", count=10, block_ms=100)
    assert [event_ids([d]) for d in live] == [["0"], ["1"], ["2", "3"]]
    await bus.close()


async def test_a_bad_event_in_a_batch_costs_only_itself(redis_server: RedisServer, metrics: Metrics) -> None:
    bus = RedisStreamsBus(bus_settings(redis_server, shard_count=1), metrics)
    key = Keys().events(0)
    good = [orjson.loads(encode(liq(i))) for i in (0, 1)]
    bad = {**good[0], "id": "x", "price": -5.0}
    data = orjson.dumps([good[0], bad, good[1]]).decode()
    redis_server.command("XADD", key, "*", "n", "3", "data", data)
    redis_server.command("XADD", key, "*", "n", "1", "data", "[not json")
    got = await bus.read_events([0], "w", count=10, block_ms=100)
    assert event_ids(got) == ["0", "1"]
    assert sample(metrics, "liqmon_bus_invalid_entries_total", {"stream": "events", "reason": "event"}) == 1
    assert sample(metrics, "liqmon_bus_invalid_entries_total", {"stream": "events", "reason": "decode"}) == 1
    await bus.ack_events(got)
    assert redis_server.command("XPENDING", key, "detectors").startswith(b"*4\r\n:0\r\n")
    await bus.close()
