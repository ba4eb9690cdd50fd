"""The log of a liqmon role run in the test's own process, kept in a file for the failure message.

:func:`logs_to` configures logging as the daemon does (``monitor.logs``, JSON
lines) for the duration of a block, writing to a file under the test's
``tmp_path`` and to the current stderr (which pytest captures), then restores
the previous configuration. A failed assertion can then quote the last lines
with :func:`tail`, whatever the capture settings or the tests run before did to
stderr. Errors the event loop reports (an unretrieved task exception, a failing
callback) go through the standard library's ``asyncio`` logger and land there too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import structlog

from monitor import logs


class _Tee:
    """A text stream writing to a file and to another stream (pytest's capture of stderr)."""

    def __init__(self, file: IO[str], other: IO[str]) -> None:
        self._file = file
        self._other = other

    def write(self, text: str) -> int:
        self._file.write(text)
        with contextlib.suppress(ValueError):  # the other stream may have been closed by its owner
            self._other.write(text)
        return len(text)

    def flush(self) -> None:
        self._file.flush()
        with contextlib.suppress(ValueError):
            self._other.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def logs_to(path: Path, level: str = "info") -> Iterator[Path]:
    """Log to ``path`` (and stderr) as JSON lines inside the block; the previous logging setup afterwards."""
    configured = structlog.is_configured()
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    with path.open("w", encoding="utf-8") as file:
        logs.configure(level, "json", stream=_Tee(file, sys.stderr))
        try:
            yield path
        finally:
            root.handlers[:] = handlers
            root.setLevel(root_level)
            if configured:
                structlog.configure(**saved)
            else:
                structlog.reset_defaults()


def _readable(line: str) -> str:
    """A JSON log line with its traceback (``exception``) moved below it, newlines restored."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "exception" not in record:
        return line
    exception = record.pop("exception")
    return f"{json.dumps(record)}\n{exception}"


def tail(path: Path, lines: int = 80) -> str:
    """The last ``lines`` lines of the log at ``path``, tracebacks readable (for an assertion message)."""
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    shown = [_readable(line) for line in text[-lines:]]
    return "\n".join([f"--- last {len(shown)} of {len(text)} log lines ({path}) ---", *shown])
