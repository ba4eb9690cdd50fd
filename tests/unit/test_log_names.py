"""Every structlog event name and key in monitor/ is snake_case (one naming convention).

The check reads the source (an AST walk, nothing imported or run): the first argument of every
``.debug/.info/.warning/.error/.exception/.critical(...)`` call that is a string literal, every keyword
name of such a call (and string keys of a ``**{...}`` literal), and the keywords of ``bind(...)`` calls.
The events the Logs section of docs/operations.md names must still be logged.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import monitor

PACKAGE = Path(monitor.__file__).parent
OPERATIONS_DOC = PACKAGE.parent / "docs" / "operations.md"
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
BIND_FUNCTIONS = frozenset({"bind", "bind_contextvars"})
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _keys(call: ast.Call) -> Iterator[tuple[str, int]]:
    for keyword in call.keywords:
        if keyword.arg is not None:
            yield keyword.arg, keyword.value.lineno
        elif isinstance(keyword.value, ast.Dict):
            for key in keyword.value.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value, key.lineno


def event_names(source: str) -> set[str]:
    """The literal event names of the log calls in ``source``."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOG_METHODS
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def violations(source: str, filename: str) -> list[str]:
    """``file:line: what`` for each event name or key in ``source`` that is not snake_case."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        is_log = isinstance(node.func, ast.Attribute) and name in LOG_METHODS
        if not is_log and name not in BIND_FUNCTIONS:
            continue
        if is_log and node.args:
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if literal and not SNAKE_CASE.fullmatch(first.value):
                found.append(f"{filename}:{first.lineno}: event {first.value!r}")
        for key, line in _keys(node):
            if not SNAKE_CASE.fullmatch(key):
                found.append(f"{filename}:{line}: key {key!r}")
    return found


def test_every_event_name_and_key_in_the_package_is_snake_case() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50  # the walk sees the whole package
    found = [v for path in files for v in violations(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert found == [], "log event names and keys must be snake_case:\n" + "\n".join(found)


def test_the_check_sees_sentences_and_bad_keys() -> None:
    source = """
log.info("detector shard acquired", shard=3)
self._log.warning("venue_stale", **{"silent for": 5})
owner._log.error(
    "Broken " "sink",
)
structlog.contextvars.bind_contextvars(venueName="okx")
log.info("detector_shard_acquired", shard=3, exc_info=True)
log.warning(event, venue="okx")
metric.info({"version": "1"})
"""
    assert violations(source, "sample.py") == [
        "sample.py:2: event 'detector shard acquired'",
        "sample.py:3: key 'silent for'",
        "sample.py:5: event 'Broken sink'",
        "sample.py:7: key 'venueName'",
    ]


def test_the_events_the_operations_guide_names_are_logged() -> None:
    logs_section = OPERATIONS_DOC.read_text().split("## Logs\n", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in logs_section.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}
    logged = set().union(*(event_names(path.read_text()) for path in PACKAGE.rglob("*.py")))
    assert len(documented) > 10
    assert sorted(documented - logged) == []
