"""A small asyncio TCP fault proxy for the chaos tests.

It listens on a free 127.0.0.1 port and forwards every connection to a target.
The mode can be switched at run time and applies to live connections at once:

* ``pass``       forward both ways.
* ``blackhole``  keep accepting and reading, forward nothing (bytes are dropped,
                 as on a partitioned link). A connection that dropped bytes has a
                 corrupt stream, so it is reset when the mode leaves ``blackhole``.
* ``delay``      forward each chunk after ``delay_ms``.
* ``reset``      reset every connection (close with ``SO_LINGER`` 0: the peer sees
                 an RST) and every new one as it arrives.
* ``half_close`` shut down the write side towards the client (it reads EOF) but
                 keep reading from it.
* ``limit``      close a connection once ``byte_limit`` bytes went through it.

:meth:`FaultProxy.inject` writes raw bytes towards every client in any mode
(garbage in the middle of a protocol stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "blackhole", "delay", "reset", "half_close", "limit"]
HOST = "127.0.0.1"
CHUNK = 65536


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close a connection with an RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One proxied connection: client side and upstream side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    passed: int = 0
    dropped: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        _rst(self.client)
        _rst(self.upstream)


@dataclass
class ProxyStats:
    """What went through the proxy."""

    accepted: int = 0
    resets: int = 0
    bytes_passed: int = 0
    bytes_dropped: int = 0
    bytes_injected: int = 0
    # time.monotonic() of every accepted connection, in order.
    accepted_at: list[float] = field(default_factory=list)


class FaultProxy:
    """A TCP proxy in front of ``target_host:target_port`` whose faults are switched at run time."""

    def __init__(self, target_port: int, target_host: str = HOST) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.delay_ms = 0.0
        self.byte_limit = 0
        self.stats = ProxyStats()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def url(self) -> str:
        """redis:// URL through the proxy (for a Redis target)."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def connections(self) -> int:
        """Connections currently open through the proxy."""
        return len(self._links)

    def upstream_ports(self) -> set[int]:
        """Local ports of the live connections towards the target (the target sees them as peer ports)."""
        ports = set()
        for link in self._links:
            name = link.upstream.get_extra_info("sockname")
            if name is not None:
                ports.add(int(name[1]))
        return ports

    def inject(self, data: bytes) -> int:
        """Write ``data`` towards every live client, whatever the mode; returns how many got it."""
        written = 0
        for link in list(self._links):
            if link.client.is_closing():
                continue
            link.client.write(data)
            self.stats.bytes_injected += len(data)
            written += 1
        return written

    async def start(self) -> FaultProxy:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.reset()
            for task in link.tasks:
                task.cancel()
        for link in list(self._links):
            await asyncio.gather(*link.tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def set_mode(self, mode: Mode, *, delay_ms: float = 0.0, byte_limit: int = 0) -> None:
        """Switch the fault mode; it applies to live connections at once."""
        previous, self.mode = self.mode, mode
        self.delay_ms, self.byte_limit = delay_ms, byte_limit
        if mode == "reset":
            self._reset_all()
        elif previous == "blackhole" and mode != "blackhole":
            for link in list(self._links):
                if link.dropped:
                    self._reset(link)
        elif mode == "half_close":
            for link in list(self._links):
                self._half_close(link)
        elif mode == "limit":
            for link in list(self._links):
                if link.passed >= byte_limit:
                    self._reset(link)

    def _reset_all(self) -> None:
        for link in list(self._links):
            self._reset(link)

    def _reset(self, link: _Link) -> None:
        self.stats.resets += 1
        link.reset()

    @staticmethod
    def _half_close(link: _Link) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if link.client.can_write_eof():
                link.client.write_eof()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        self.stats.accepted_at.append(time.monotonic())
        if self.mode == "reset":
            self.stats.resets += 1
            _rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _rst(writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer, upstream=True)),
            asyncio.create_task(self._pump(link, up_reader, writer, upstream=False)),
        ]
        if self.mode == "half_close":
            self._half_close(link)
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            for w in (writer, up_writer):
                w.close()

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        """Copy one direction of a link, applying the current mode to each chunk."""
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self.mode == "blackhole":
                    link.dropped += len(data)
                    self.stats.bytes_dropped += len(data)
                    continue
                if self.mode == "half_close" and not upstream:
                    link.dropped += len(data)
                    self.stats.bytes_dropped += len(data)
                    continue
                if self.mode == "delay" and self.delay_ms > 0:
                    await asyncio.sleep(self.delay_ms / 1000)
                if self.mode == "limit" and link.passed + len(data) > self.byte_limit:
                    data = data[: max(0, self.byte_limit - link.passed)]
                    writer.write(data)
                    link.passed += len(data)
                    self.stats.bytes_passed += len(data)
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
                    self._reset(link)
                    return
                writer.write(data)
                link.passed += len(data)
                self.stats.bytes_passed += len(data)
                await writer.drain()
            if upstream or self.mode != "half_close":
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
        except (ConnectionError, OSError):
            link.reset()
