"""The one "sleep until the delay or stop" every long-running task uses."""

from __future__ import annotations

import asyncio
import contextlib


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    """Sleep ``delay`` seconds or until ``stop`` is set, whichever comes first."""
    if delay <= 0 or stop.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            await stop.wait()
