"""The fault proxy itself, against a local echo server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.chaos.proxy import HOST, FaultProxy

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


_OPEN: list[asyncio.StreamWriter] = []


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, HOST, 0)
    port = int(server.sockets[0].getsockname()[1])
    async with FaultProxy(port) as fault_proxy:
        yield fault_proxy
        for writer in _OPEN:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        _OPEN.clear()
    server.close()
    await server.wait_closed()


async def _connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, proxy.port)
    _OPEN.append(writer)
    return reader, writer


async def test_pass_and_delay_forward_both_ways(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
    proxy.set_mode("delay", delay_ms=20)
    writer.write(b"later")
    assert await asyncio.wait_for(reader.readexactly(5), 5) == b"later"
    writer.close()
    assert proxy.stats.bytes_passed == 20


async def test_blackhole_drops_bytes_then_resets_the_corrupt_link(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"a")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"
    proxy.set_mode("blackhole")
    writer.write(b"lost")
    await writer.drain()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while proxy.stats.bytes_dropped < 4:
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    proxy.set_mode("pass")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), 5)
    # A new connection works again.
    reader2, writer2 = await _connect(proxy)
    writer2.write(b"ok")
    assert await asyncio.wait_for(reader2.readexactly(2), 5) == b"ok"
    writer2.close()


async def test_reset_sends_rst_to_live_and_new_connections(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"x"
    proxy.set_mode("reset")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(1), 5)
    reader2, _ = await _connect(proxy)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader2.read(1), 5)
    assert proxy.stats.resets == 2


async def test_half_close_gives_the_client_eof_and_keeps_reading(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    proxy.set_mode("half_close")
    assert await asyncio.wait_for(reader.read(1), 5) == b""
    writer.write(b"still read")
    await writer.drain()
    writer.close()


async def test_byte_limit_closes_after_n_bytes(proxy: FaultProxy) -> None:
    proxy.set_mode("limit", byte_limit=10)
    reader, writer = await _connect(proxy)
    writer.write(b"0123456789abcdef")
    got = b""
    reset = False
    try:
        while chunk := await asyncio.wait_for(reader.read(100), 5):
            got += chunk
    except ConnectionResetError:
        reset = True
    assert reset
    assert b"0123456789".startswith(got)
    assert proxy.stats.bytes_passed <= 20


async def test_inject_writes_raw_bytes_to_clients_and_accepts_are_recorded(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"abc")
    assert await asyncio.wait_for(reader.readexactly(3), 5) == b"abc"
    assert len(proxy.upstream_ports()) == 1
    assert proxy.inject(b"\xff\x00junk") == 1
    assert await asyncio.wait_for(reader.readexactly(6), 5) == b"\xff\x00junk"
    writer.write(b"d")  # the link still forwards after the injection
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"d"
    await _connect(proxy)
    assert proxy.stats.accepted == len(proxy.stats.accepted_at) == 2
    assert proxy.stats.accepted_at == sorted(proxy.stats.accepted_at)
    assert proxy.stats.bytes_injected == 6
