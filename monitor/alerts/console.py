"""Console sink: one line per alert, coloured by severity on a terminal, a JSON line otherwise."""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Final

from rich.console import Console
from rich.text import Text

from monitor.alert import Alert, encode_alert
from monitor.alerts.config import SeverityName
from monitor.alerts.text import direction_words, facts, kind_title, where

STYLES: Final = {"info": "cyan", "warning": "bold yellow", "critical": "bold red"}


def console_line(alert: Alert, *, fact_limit: int = 4) -> str:
    """The plain text of the line: ``CRITICAL BTC liquidation cascade (longs liquidated): <summary> | facts``."""
    state = "RESOLVED" if alert.status == "resolved" else alert.severity.upper()
    head = f"{state} {where(alert)} {kind_title(alert.kind).lower()} ({direction_words(alert)}): {alert.summary}"
    shown = facts(alert)[:fact_limit]
    if shown:
        head += " | " + ", ".join(f"{k} {v}" for k, v in shown)
    return head


class ConsoleSink:
    """Prints alerts to a stream (stdout by default)."""

    def __init__(
        self,
        *,
        name: str = "console",
        min_severity: SeverityName = "info",
        stream: IO[str] | None = None,
        colour: bool | None = None,
    ) -> None:
        self.name = name
        self.min_severity: SeverityName = min_severity
        self._stream = stream or sys.stdout
        tty = self._stream.isatty() if colour is None else colour
        self._console = Console(file=self._stream, force_terminal=tty, highlight=False, soft_wrap=True) if tty else None

    async def send(self, alert: Alert) -> None:
        """Write the line (never fails on content)."""
        if self._console is None:
            self._stream.write(encode_alert(alert).decode() + "\n")
            self._stream.flush()
            return
        style = "bold green" if alert.status == "resolved" else STYLES[alert.severity]
        text = Text(console_line(alert), style=style)
        self._console.print(text)

    async def run(self, stop: asyncio.Event) -> None:
        """No background work."""
        await stop.wait()

    async def aclose(self) -> None:
        """Nothing to release."""
