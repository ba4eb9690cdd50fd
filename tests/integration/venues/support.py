"""Helpers for the venue integration tests: sample frames as capture records, fast options, bus draining."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from monitor.bus.memory import MemoryBus
from monitor.capture.format import CaptureRecord
from monitor.events import Event, Gap
from monitor.metrics import Metrics
from monitor.settings import Settings, load_settings
from monitor.venues.adapter import VenueAdapter
from monitor.venues.backoff import BackoffPolicy
from monitor.venues.base import LoopOptions
from monitor.venues.collector import Collector, CollectorOptions
from monitor.venues.governor import GovernorOptions
from monitor.venues.rest import RestOptions

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"

# Tests shrink time: the simulators' limit windows and the client's governor by the same factor.
LIMIT_SCALE = 0.01
FAST_GOVERNOR = GovernorOptions(scale=LIMIT_SCALE, connect_spacing_s=0.001, message_spacing_s=0.0, jitter_s=0.001)

FAST_BACKOFF = BackoffPolicy(initial_s=0.005, min_s=0.005, max_s=0.05, factor=2.0, healthy_after_s=5.0, rejected_s=0.2)


def sample(name: str, lines: Sequence[int] | None = None) -> list[str]:
    """Lines of a sample file (1-based line numbers; all when None)."""
    text = (SAMPLES / name).read_text().splitlines()
    return [text[i - 1] for i in lines] if lines is not None else [t for t in text if t.strip()]


def deribit_push(channel: str, data: str) -> str:
    """Wrap a Deribit data payload in its subscription notification."""
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": orjson.loads(data)}}
    ).decode()


def records(venue: str, frames: Sequence[str], start_ms: int = 1_738_771_200_000) -> list[CaptureRecord]:
    """Frames as capture records 100 ms apart."""
    return [CaptureRecord(recv_ms=start_ms + 100 * i, venue=venue, frame=f) for i, f in enumerate(frames)]


def fast_options(**loop: Any) -> CollectorOptions:
    """Collector options with millisecond backoff."""
    adapters: dict[str, type[VenueAdapter]] = loop.pop("adapters", {})
    return CollectorOptions(
        loop=LoopOptions(backoff=FAST_BACKOFF, open_timeout_s=5.0, close_timeout_s=0.5, governor=FAST_GOVERNOR, **loop),
        rest=RestOptions(timeout_s=5.0, backoff=FAST_BACKOFF),
        adapters=adapters,
        no_symbols_retry_s=0.05,
    )


def settings_for(overrides: dict[str, Any], tmp: Path, **extra: Any) -> Settings:
    """Settings from simulator overrides plus extra dotted keys; a private instrument cache."""
    return load_settings(environ={}, overrides={**overrides, "venues.cache_dir": str(tmp / "cache"), **extra})


async def drain(bus: MemoryBus, *, quiet_ms: int = 300) -> list[Event]:
    """Every event in the bus, reading until it stays empty for ``quiet_ms``."""
    events: list[Event] = []
    while True:
        batch = await bus.read_events(range(bus.shard_count), "test", count=1000, block_ms=quiet_ms)
        if not batch:
            return events
        events.extend(e for d in batch for e in d.events)


@asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[asyncio.Event]:
    """Run a collector in the background; stop it (and check it stopped cleanly) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


def market(events: Sequence[Event]) -> list[Event]:
    """The events that are not gap markers."""
    return [e for e in events if not isinstance(e, Gap)]


def projection(event: Event) -> tuple[Any, ...]:
    """An event without its receive-time-dependent fields (id, recv_ms; ts_ms when it is a receive time)."""
    fields = {k: getattr(event, k) for k in event.__struct_fields__ if k not in ("id", "recv_ms", "ts_ms")}
    return tuple(sorted(fields.items()))


def new_bus(metrics: Metrics) -> MemoryBus:
    """A one-shard memory bus."""
    return MemoryBus(metrics=metrics)
