"""A very small HTTP/1.1 server for the simulators' REST endpoints (GET and POST, one request per connection)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A parsed request."""

    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response to write."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
MAX_BODY = 1 << 20


async def _handle(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
        body = await reader.readexactly(length) if length else b""
        response = await handler(HttpRequest(method.upper(), target, headers, body))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError):
        response = HttpResponse(400, b'{"error":"bad request"}')
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    out = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: close",
    ]
    out += [f"{k}: {v}" for k, v in response.headers.items()]
    with contextlib.suppress(ConnectionError):
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def start_http(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Serve ``handler`` on ``host:port`` (0: a free port); close the returned server to stop."""
    return await asyncio.start_server(lambda r, w: _handle(handler, r, w), host, port)
