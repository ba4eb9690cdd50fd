"""Small pure helpers every venue parser uses: JSON loading, strict numbers, symbol splitting.

All of them raise :class:`~monitor.errors.ParseError` with a bounded ``reason``
(``json``, ``schema``, ``value``) naming the field, never a bare
``KeyError``/``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

import orjson

from monitor.errors import InvalidEvent, ParseError
from monitor.events import canonical_base

# Longest first, so "USDT" wins over "USD" and "FDUSD" over "USD".
QUOTES: Final = ("FDUSD", "USDT", "USDC", "BUSD", "USDE", "USD", "BTC", "ETH", "EUR")
USD_QUOTES: Final = frozenset(("USDT", "USDC", "USD", "BUSD", "FDUSD", "USDE"))


def load_json(frame: str | bytes) -> Any:
    """Parse a frame as JSON, or raise ParseError(reason="json")."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"frame is not JSON: {exc}", reason="json") from None


def field(obj: Any, key: str, where: str) -> Any:
    """``obj[key]``, or ParseError naming the missing field and where it was expected."""
    if not isinstance(obj, Mapping):
        raise ParseError(f"{where}: expected an object, got {type(obj).__name__}", reason="schema")
    try:
        return obj[key]
    except KeyError:
        raise ParseError(f"{where}: missing field {key!r}", reason="schema") from None


def num(value: Any, name: str) -> float:
    """A finite float from a JSON number or numeric string, else ParseError(reason="value")."""
    if isinstance(value, bool):
        raise ParseError(f"{name}: expected a number, got {value!r}", reason="value")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ParseError(f"{name}: expected a number, got {value!r}", reason="value") from None
    else:
        raise ParseError(f"{name}: expected a number, got {value!r}", reason="value")
    if not math.isfinite(result):
        raise ParseError(f"{name}: expected a finite number, got {value!r}", reason="value")
    return result


def opt_num(value: Any, name: str) -> float | None:
    """Like :func:`num`, but None and "" give None."""
    if value is None or value == "":
        return None
    return num(value, name)


def ms(value: Any, name: str) -> int:
    """Integer epoch milliseconds from a number or numeric string, else ParseError."""
    result = num(value, name)
    if result < 0:
        raise ParseError(f"{name}: negative timestamp {value!r}", reason="value")
    return int(result)


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a concatenated symbol like ``BTCUSDT``; ParseError if no known quote fits."""
    upper = symbol.upper().replace("-", "").replace("_", "")
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return canonical_base(upper[: -len(quote)]), quote
    raise ParseError(f"cannot tell base and quote apart in symbol {symbol!r}", reason="unknown_symbol")


def is_usd(quote: str) -> bool:
    """True for quotes counted as 1 USD (USD, USDT, USDC, ...)."""
    return quote.upper() in USD_QUOTES


def text(value: Any, name: str) -> str:
    """A non-empty string, else ParseError(reason="value") naming the field."""
    if not isinstance(value, str) or not value:
        raise ParseError(f"{name}: expected a non-empty string, got {value!r:.80}", reason="value")
    return value


def items(value: Any, name: str) -> list[Any]:
    """A JSON array, else ParseError(reason="schema") naming the field."""
    if not isinstance(value, list):
        raise ParseError(f"{name}: expected an array, got {type(value).__name__}", reason="schema")
    return value


def url_join(base: str, path: str) -> str:
    """``base`` followed by ``path``, unless ``base`` already ends with it (overrides may be full URLs)."""
    trimmed = base.rstrip("/")
    return trimmed if trimmed.endswith(path) else trimmed + path


def chunked(names: Sequence[str], max_count: int, max_chars: int | None = None) -> list[list[str]]:
    """Split ``names`` in order into groups of at most ``max_count`` names and, when given,
    ``max_chars`` characters of JSON-encoded array text (each name costs its length plus 3)."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 2
    for name in names:
        cost = len(name) + 3
        full = len(current) >= max_count or (max_chars is not None and size + cost > max_chars)
        if current and full:
            groups.append(current)
            current, size = [], 2
        current.append(name)
        size += cost
    if current:
        groups.append(current)
    return groups


# Python errors that mean "this frame is not shaped like the venue's documented messages".
SHAPE_ERRORS: Final = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    OverflowError,
    ZeroDivisionError,
    RecursionError,
)


@contextmanager
def frame_errors(venue: str) -> Iterator[None]:
    """Translate anything a frame can provoke into ParseError, so only ParseError leaves ``parse``.

    An event that fails validation gives reason ``value``; a frame of an unexpected shape, ``schema``.
    """
    try:
        yield
    except ParseError:
        raise
    except InvalidEvent as exc:
        raise ParseError(f"{venue}: {exc}", reason="value") from None
    except SHAPE_ERRORS:
        raise ParseError(f"{venue}: frame has an unexpected shape", reason="schema") from None
