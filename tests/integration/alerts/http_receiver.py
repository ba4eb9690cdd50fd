"""A small real HTTP/1.1 server on 127.0.0.1 for sink tests: records requests, answers from a script."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    """One received request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic seconds when the body was complete


@dataclass
class Reply:
    """What the server answers."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Request], Awaitable[Reply] | Reply]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HttpReceiver:
    """``async with HttpReceiver(responder) as rx:`` then POST to ``rx.url``."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder or (lambda _req: Reply())
        self.requests: list[Request] = []
        self.answered: list[tuple[Request, int, float]] = []  # request, status, monotonic time sent
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> HttpReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body, time.monotonic())
                async with self._changed:
                    self.requests.append(request)
                    self._changed.notify_all()
                reply = self.responder(request)
                if not isinstance(reply, Reply):
                    reply = await reply
                head = [
                    f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}",
                    f"Content-Length: {len(reply.body)}",
                    "Content-Type: text/plain",
                ]
                head += [f"{k}: {v}" for k, v in reply.headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
                await writer.drain()
                async with self._changed:
                    self.answered.append((request, reply.status, time.monotonic()))
                    self._changed.notify_all()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def wait_for(self, predicate: Callable[[HttpReceiver], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds (checked after every request/answer)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))
