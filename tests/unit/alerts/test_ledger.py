"""Delivery markers: skip what was delivered, resend what a crash interrupted, never lose an alert."""

from __future__ import annotations

from monitor.alerts.ledger import Ledger
from monitor.bus.memory import MemoryBus


async def test_first_attempt_sends_and_a_later_copy_is_skipped() -> None:
    ledger = Ledger(MemoryBus(), ttl_s=60)
    first = await ledger.begin("slack", "a1")
    assert first.send
    assert first.generation == 1
    await ledger.done(first)
    again = await ledger.begin("slack", "a1")
    assert not again.send
    assert not (await ledger.begin("slack", "a1")).send  # and the one after that
    other_sink = await ledger.begin("mqtt", "a1")
    assert other_sink.send


async def test_an_attempt_that_never_finished_is_retried_even_after_a_second_crash() -> None:
    ledger = Ledger(MemoryBus(), ttl_s=60)
    crashed = await ledger.begin("slack", "a1")  # killed before done()
    assert crashed.send
    retry = await ledger.begin("slack", "a1")
    assert retry.send
    assert retry.generation == 2
    retry_again = await ledger.begin("slack", "a1")  # the retry was killed too
    assert retry_again.send
    assert retry_again.generation == 3
    await ledger.done(retry_again)
    assert not (await ledger.begin("slack", "a1")).send


async def test_a_skip_passes_the_done_state_on() -> None:
    ledger = Ledger(MemoryBus(), ttl_s=60)
    await ledger.done(await ledger.begin("s", "a"))
    skipped = await ledger.begin("s", "a")
    assert not skipped.send
    assert not (await ledger.begin("s", "a")).send
