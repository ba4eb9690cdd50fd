"""Console sink output."""

from __future__ import annotations

import io

import orjson

from monitor.alerts.console import ConsoleSink, console_line
from tests.unit.alerts.helpers import make_alert


async def test_json_line_when_not_a_terminal() -> None:
    out = io.StringIO()
    await ConsoleSink(stream=out).send(make_alert())
    line = out.getvalue()
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert orjson.loads(line)["id"] == "alert-1"


async def test_coloured_readable_line_on_a_terminal() -> None:
    out = io.StringIO()
    await ConsoleSink(stream=out, colour=True).send(make_alert())
    text = out.getvalue()
    assert "\x1b[" in text  # ANSI colour
    assert "CRITICAL BTC liquidation cascade (longs liquidated (downside))" in text
    assert "Liquidated $412M" in text


def test_resolved_line() -> None:
    assert console_line(make_alert(status="resolved", values={})).startswith("RESOLVED BTC liquidation cascade")
