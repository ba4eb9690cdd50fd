"""structlog, configured once per process.

JSON lines when stderr is not a terminal, readable console output when it is.
The standard-library loggers of websockets, redis, httpx and aiomqtt are routed
through the same processors, so every line has one shape. Context such as
``venue``, ``symbol`` or ``shard`` is bound per task with :func:`bind`
(contextvars), and shows up on every line that task logs.

Level policy: ERROR = a bug or data loss; WARNING = degraded (reconnects,
dropped or skipped input, a broken sink); INFO = lifecycle (start, connect,
subscribe, shutdown); DEBUG = per-message detail.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Literal

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _json_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure(level: str = "info", fmt: Literal["auto", "json", "console"] = "auto", *, stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger. Safe to call again (tests, CLI)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.typing.Processor
    if use_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    numeric = _LEVELS[level]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Library chatter is useful only when debugging liqmon itself.
    for noisy in ("websockets", "httpx", "httpcore", "aiomqtt", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def bind(**context: Any) -> None:
    """Bind context (venue=, symbol=, shard=) to every line the current task logs."""
    structlog.contextvars.bind_contextvars(**context)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for module ``name``."""
    return structlog.get_logger(name)  # type: ignore[no-any-return]


class Throttle:
    """The one log throttle: one line per key per ``interval_s``; counts what it held back."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str, now: float | None = None) -> int | None:
        """None to stay quiet; otherwise how many lines were held back since the last one.

        ``now`` is monotonic seconds (the current time when not given).
        """
        if now is None:
            now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
