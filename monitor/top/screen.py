"""Draw the view on the terminal until the operator quits (the I/O side of the view).

The view takes the terminal's alternate screen (``rich.live.Live`` with
``screen=True``): each refresh redraws the whole screen in place, nothing
scrolls, and the terminal comes back as it was on exit. While the view is up,
log lines go to a file instead of the terminal (see :func:`logs_to_file`), and
``q`` (read in cbreak mode) or Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import termios
import tty
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from monitor import logs
from monitor.aio import sleep_or_stop
from monitor.top.sources import SourceError
from monitor.top.state import Snapshot
from monitor.top.trend import Trend
from monitor.top.view import QUIT_HINT, render

QUIT_KEYS = frozenset(b"qQ")


def default_log_file(command: str) -> Path:
    """Where a full-screen command writes its log lines: ``$TMPDIR/liqmon-<command>-<pid>.log``."""
    return Path(tempfile.gettempdir()) / f"liqmon-{command}-{os.getpid()}.log"


@contextlib.contextmanager
def logs_to_file(path: Path, level: str) -> Iterator[Path]:
    """Send log lines to ``path`` (JSON lines) while the view is up, then back to stderr."""
    with path.open("a", encoding="utf-8") as stream:
        logs.configure(level, "json", stream=stream)
        try:
            yield path
        finally:
            logs.configure(level)


@contextlib.contextmanager
def quit_on_keys(on_quit: Callable[[], None]) -> Iterator[None]:
    """Call ``on_quit`` when ``q`` is typed or on SIGINT/SIGTERM, while inside the block."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None

    def on_input() -> None:
        assert fd is not None
        data = os.read(fd, 64)
        if not data or QUIT_KEYS & set(data):
            on_quit()

    if fd is not None:
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C still raises SIGINT
        loop.add_reader(fd, on_input)
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(RuntimeError, ValueError):  # a handler installed by the application stays
            loop.add_signal_handler(sig, on_quit)
            handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if fd is not None:
            loop.remove_reader(fd)
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def error_screen(message: str, hint: str = QUIT_HINT) -> RenderableType:
    """What the view shows while the deployment cannot be read."""
    return Text.assemble(
        ("liqmon top", "bold"),
        "   ",
        (hint, "reverse"),
        "\n\n",
        (message, "bold red"),
        "\n\nretrying every second…",
    )


async def run_view(
    snapshot: Callable[[], Awaitable[Snapshot]],
    stop: asyncio.Event,
    *,
    refresh_s: float = 1.0,
    console: Console | None = None,
    notes: tuple[str, ...] = (),
) -> None:
    """Redraw the view every ``refresh_s`` seconds until ``stop`` is set."""
    console = console or Console()
    trend = Trend()
    with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
        while not stop.is_set():
            try:
                snap = await snapshot()
            except SourceError as exc:
                screen: RenderableType = error_screen(str(exc))
            else:
                if notes:
                    snap = msgspec.structs.replace(snap, notes=[*snap.notes, *notes])
                screen = render(snap, trend.add(snap), height=console.size.height)
            live.update(screen, refresh=True)
            await sleep_or_stop(stop, refresh_s)
