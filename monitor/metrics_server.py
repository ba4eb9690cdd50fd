"""The Prometheus endpoint, served from the daemon's own event loop (no thread).

A deliberately small HTTP/1.1 server on ``asyncio.start_server``:

* ``GET /metrics``  the registry in the Prometheus text format (or OpenMetrics when
  the scraper asks for it); scrape-time callbacks run here.
* ``GET /healthz``  200 while the event loop answers: a liveness probe.
* ``GET /readyz``   200 when every readiness check is true, else 503; the body is
  the JSON of the checks (``{"feeds": true, "bus": false}``).
* ``GET /state``    the JSON snapshot ``liqmon top`` draws (feeds, assets, open
  episodes, last alerts), when the process serves one (``liqmon run``, ``demo``).
* ``GET /alerts?since_ms=N``  the alerts raised in this process since epoch
  millisecond N, oldest first (``liqmon alerts``).

Every connection serves one request and is closed (``Connection: close``).
The request head is bounded in size and must arrive within a deadline, so a
slow or hostile client costs one small buffer for a few seconds at most.

At most ``max_connections`` are open at once. A new connection over the limit
closes the one that has waited longest on its client (for a request head that
is slow to come, or for a response it does not read), so slow clients cannot
crowd the probes out: a probe sends its request at once and is answered. Only
when every connection is being answered does a newcomer get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Protocol
from urllib.parse import parse_qs

import orjson
from prometheus_client.exposition import choose_encoder

from monitor.logs import Throttle, get_logger
from monitor.metrics import Metrics
from monitor.settings import MetricsSettings

log = get_logger(__name__)

Readiness = Callable[[], Awaitable[dict[str, bool]]]


class StateProvider(Protocol):
    """What ``/state`` and ``/alerts`` serve (see :mod:`monitor.top.live`)."""

    def state_json(self) -> bytes: ...

    def alerts_json(self, since_ms: int) -> bytes: ...


MAX_HEAD_BYTES: Final = 8192
HEAD_TIMEOUT_S: Final = 5.0
WRITE_TIMEOUT_S: Final = 10.0
READINESS_TIMEOUT_S: Final = 3.0
MAX_CONNECTIONS: Final = 128
EVICTION_LOG_INTERVAL_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of a request line the endpoint looks at."""

    method: str
    path: str
    accept: str
    query: str = ""


class BadRequest(Exception):
    """The request head is not valid HTTP/1.x; ``status`` says which error to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> Request:
    """Parse a request head (request line plus headers, CRLF separated)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(HTTPStatus.BAD_REQUEST, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"malformed request line {lines[0][:80]!r}")
    method, target, _version = parts
    accept = ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "accept":
            accept = value.strip()
    path, _, query = target.partition("?")
    return Request(method=method, path=path, accept=accept, query=query)


def render_response(
    status: HTTPStatus, body: bytes, content_type: str, *, head_only: bool = False, extra: dict[str, str] | None = None
) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "Connection": "close",
        **(extra or {}),
    }
    lines = [f"HTTP/1.1 {status.value} {status.phrase}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


TEXT: Final = "text/plain; charset=utf-8"
JSON: Final = "application/json"


class MetricsServer:
    """Serves /metrics, /healthz and /readyz on ``settings.host``:``settings.port``."""

    def __init__(
        self,
        settings: MetricsSettings,
        metrics: Metrics,
        readiness: Readiness,
        *,
        state: StateProvider | None = None,
        head_timeout_s: float = HEAD_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._settings = settings
        self._head_timeout_s = head_timeout_s
        self._max_connections = max_connections
        self._metrics = metrics
        self._readiness = readiness
        self._state = state
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        # Connections waiting on their client, longest first: closed to make room when full.
        self._waiting: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._evicted = 0
        self._eviction_log = Throttle(EVICTION_LOG_INTERVAL_S)
        self.port: int = settings.port

    @property
    def started(self) -> bool:
        """True once the listening socket is bound."""
        return self._server is not None

    @property
    def connections(self) -> int:
        """Connections being served right now."""
        return len(self._handlers)

    @property
    def waiting(self) -> int:
        """Connections waiting on their client (for a request head, or to read a response)."""
        return len(self._waiting)

    async def start(self) -> None:
        """Bind the listening socket; afterwards ``port`` is the real port (useful with port 0)."""
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(
                self._accept, self._settings.host, self._settings.port, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot listen on {self._settings.host}:{self._settings.port} for /metrics ({exc.strerror}); "
                "set metrics.port (LIQMON_METRICS__PORT) to a free port",
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics_endpoint_listening", host=self._settings.host, port=self.port)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening and end the connections in progress. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()
        log.info("metrics_endpoint_closed", port=self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - start_server always runs handlers in tasks
            return
        self._handlers.add(task)
        try:
            await self._serve_one(reader, writer, task, busy=not self._make_room())
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self._handlers.discard(task)
            self._waiting.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    def _make_room(self) -> bool:
        """Close the connection waiting longest on its client when over the limit; False if none waits."""
        if len(self._handlers) <= self._max_connections:
            return True
        if not self._waiting:
            return False
        oldest = next(iter(self._waiting))
        self._waiting.pop(oldest).transport.abort()  # its handler sees the connection lost and ends
        self._evicted += 1
        if self._eviction_log.allow("evicted") is not None:
            log.warning(
                "metrics_endpoint_full",
                closed=self._evicted,
                max_connections=self._max_connections,
                hint="slow or idle clients on the metrics port; see liqmon_metrics_clients_closed_total",
            )
        self._metrics.metrics_clients_closed.inc()
        return True

    async def _serve_one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, task: asyncio.Task[None], *, busy: bool
    ) -> None:
        if busy:
            response = render_response(HTTPStatus.SERVICE_UNAVAILABLE, b"too many connections\n", TEXT)
        else:
            self._waiting[task] = writer
            response = await self._respond(reader, task)
        writer.write(response)
        self._waiting[task] = writer
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await writer.drain()

    async def _respond(self, reader: asyncio.StreamReader, task: asyncio.Task[None]) -> bytes:
        try:
            async with asyncio.timeout(self._head_timeout_s):
                head = await reader.readuntil(b"\r\n\r\n")
            self._waiting.pop(task, None)  # answering it now: not to be closed for a newcomer
            request = parse_head(head[:-4])
        except TimeoutError:
            return render_response(HTTPStatus.REQUEST_TIMEOUT, b"request head not received in time\n", TEXT)
        except asyncio.LimitOverrunError:
            return render_response(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head over {MAX_HEAD_BYTES} bytes\n".encode(), TEXT
            )
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("client closed before sending a full request") from exc
        except BadRequest as exc:
            log.debug("metrics_bad_request", error=str(exc))
            return render_response(exc.status, f"{exc}\n".encode(), TEXT)
        return await self._route(request)

    async def _route(self, request: Request) -> bytes:
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            return render_response(HTTPStatus.METHOD_NOT_ALLOWED, b"use GET\n", TEXT, extra={"Allow": "GET, HEAD"})
        if request.path == "/metrics":
            return self._scrape(request.accept, head_only=head_only)
        if request.path == "/healthz":
            return render_response(HTTPStatus.OK, b"ok\n", TEXT, head_only=head_only)
        if request.path == "/readyz":
            checks = await self._checks()
            status = HTTPStatus.OK if all(checks.values()) else HTTPStatus.SERVICE_UNAVAILABLE
            body = orjson.dumps(checks, option=orjson.OPT_SORT_KEYS) + b"\n"
            return render_response(status, body, JSON, head_only=head_only)
        if self._state is not None and request.path in ("/state", "/alerts"):
            return self._serve_state(request, head_only=head_only)
        return render_response(HTTPStatus.NOT_FOUND, b"not found: try /metrics, /healthz or /readyz\n", TEXT)

    def _serve_state(self, request: Request, *, head_only: bool) -> bytes:
        assert self._state is not None
        if request.path == "/state":
            return render_response(HTTPStatus.OK, self._state.state_json(), JSON, head_only=head_only)
        raw = parse_qs(request.query).get("since_ms", ["0"])[-1]
        if not raw.isdigit():
            message = f"since_ms must be epoch milliseconds (digits), got {raw[:40]!r}\n".encode()
            return render_response(HTTPStatus.BAD_REQUEST, message, TEXT)
        return render_response(HTTPStatus.OK, self._state.alerts_json(int(raw)), JSON, head_only=head_only)

    def _scrape(self, accept: str, *, head_only: bool) -> bytes:
        encoder, content_type = choose_encoder(accept)
        try:
            body = encoder(self._metrics.registry)
        except Exception as exc:
            # A broken scrape-time callback must not take the endpoint (or the daemon) down.
            log.error("metrics_collection_failed", error=repr(exc))
            return render_response(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"metrics collection failed: {exc!r}\n".encode(), TEXT
            )
        return render_response(HTTPStatus.OK, body, content_type, head_only=head_only)

    async def _checks(self) -> dict[str, bool]:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                checks = await self._readiness()
        except TimeoutError:
            log.warning("readiness_checks_timed_out", timeout_s=READINESS_TIMEOUT_S)
            return {"readiness_checks": False}
        except Exception as exc:
            log.warning("readiness_checks_failed", error=repr(exc))
            return {"readiness_checks": False}
        return {str(name): bool(ok) for name, ok in checks.items()}
