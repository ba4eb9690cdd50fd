"""uvloop's error for a write to a reset connection is an outage of Redis, other RuntimeErrors are not."""

from __future__ import annotations

from monitor.bus.redis_link import connection_lost, translate
from monitor.errors import BusUnavailable

# What uvloop raises when redis-py writes to a pooled connection the peer reset while it sat idle.
UVLOOP_CLOSED = RuntimeError(
    "unable to perform operation on <TCPTransport closed=True reading=False 0x55852d734060>; the handler is closed"
)


def test_a_write_to_a_reset_connection_is_redis_unavailable() -> None:
    assert connection_lost(UVLOOP_CLOSED)
    error = translate(UVLOOP_CLOSED, "XAUTOCLAIM", "db:6379")
    assert isinstance(error, BusUnavailable)
    assert "Redis at db:6379 is unreachable (XAUTOCLAIM): connection reset" in str(error)


def test_other_runtime_errors_are_not_taken_for_an_outage() -> None:
    assert not connection_lost(RuntimeError("Event loop is closed"))
    assert not connection_lost(RuntimeError("read() called while another coroutine is already waiting"))
    assert not connection_lost(ValueError("the handler is closed"))
