"""Helpers for the detectors' ``snapshot()``/``restore()``: JSON has no infinity, so "never" travels as null."""

from __future__ import annotations

from typing import Any

_NEVER = float("inf")


def never_out(value: float) -> float | None:
    """``value`` for a snapshot: infinity (never) as None."""
    return None if value == _NEVER else value


def never_in(value: Any) -> float:
    """A snapshot value back: None is infinity (never); an int stays an int (event times)."""
    if value is None:
        return _NEVER
    return value if isinstance(value, int) else float(value)


def opt_float(value: Any) -> float | None:
    """An optional float from a snapshot."""
    return None if value is None else float(value)


def opt_int(value: Any) -> int | None:
    """An optional int from a snapshot."""
    return None if value is None else int(value)


__all__ = ["never_in", "never_out", "opt_float", "opt_int"]
