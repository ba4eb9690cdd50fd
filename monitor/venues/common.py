"""Small pure helpers every venue parser uses: JSON loading, strict numbers, symbol splitting, event ids.

All of them raise :class:`~monitor.errors.ParseError` with a bounded ``reason``
(``json``, ``schema``, ``value``) naming the field, never a bare
``KeyError``/``ValueError``.

Frames are read by one typed reader per channel: :mod:`msgspec` decodes them
straight into small Structs (numeric strings become floats in C) whose fields
carry their bounds (:data:`Finite`, :data:`NonNegative`, :data:`Millis`, ...),
and :func:`decode_failed` turns a frame that does not fit into a ParseError
with msgspec's path to the field. The readers' Structs are declared ``gc=False``:
a decoded JSON tree holds no reference cycle, and objects the cycle collector
does not track cost it nothing (about 10 % of a Binance ``forceOrder`` decode).
The dict helpers (:func:`field`, :func:`num`, ...) remain for instrument lists
and control frames.
"""

from __future__ import annotations

import re
import reprlib
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec
import orjson
from xxhash import xxh3_64_hexdigest

from monitor.errors import ImplausibleEvent, ImplausibleValue, InvalidEvent, ParseError
from monitor.events import canonical_base
from monitor.venues.instruments import USD_QUOTES

# Longest first, so "USDT" wins over "USD" and "FDUSD" over "USD".
QUOTES: Final = ("FDUSD", "USDT", "USDC", "BUSD", "USDE", "USD", "BTC", "ETH", "EUR")
_INF: Final = float("inf")
_MAX_FLOAT: Final = sys.float_info.max
# Values quoted in error messages: shallow and short whatever the frame holds (a repr of a value nested
# 1,000 deep would exhaust the recursion limit; one of a megabyte string would flood the log).
_SHOWN: Final = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxdict, _SHOWN.maxlist = 3, 80, 80, 6, 6
# Integers up to 2**53 survive the trip through a float unchanged.
MAX_EXACT_INT: Final = 2**53


def load_json(frame: str | bytes) -> Any:
    """Parse a frame as JSON, or raise ParseError(reason="json")."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"frame is not JSON: {exc}", reason="json") from None


def field(obj: Any, key: str, where: str) -> Any:
    """``obj[key]``, or ParseError naming the missing field and where it was expected."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise ParseError(f"{where}: expected an object, got {type(obj).__name__}", reason="schema")
    try:
        return obj[key]
    except KeyError:
        raise ParseError(f"{where}: missing field {key!r}", reason="schema") from None


def shown(value: Any) -> str:
    """A bounded repr of a value taken from a frame, for error messages."""
    return _SHOWN.repr(value)


def _not_a_number(value: Any, name: str) -> ParseError:
    return ParseError(f"{name}: expected a number, got {shown(value)}", reason="value")


def num(value: Any, name: str) -> float:
    """A finite float from a JSON number or numeric string, else ParseError(reason="value").

    Negative zero comes back as 0.0: a sign on zero carries nothing, and ids hash the float's bytes.
    """
    cls = type(value)
    result: float
    if cls is float:  # the common case first, and no float() call: it would return the same object
        result = value
    elif cls is str:
        try:
            result = float(value)
        except ValueError:
            raise _not_a_number(value, name) from None
    elif cls is int:
        result = float(value)
    elif isinstance(value, bool):
        raise _not_a_number(value, name)
    elif isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise _not_a_number(value, name) from None
    else:
        raise _not_a_number(value, name)
    if -_INF < result < _INF:  # false for NaN too
        return result + 0.0
    raise ParseError(f"{name}: expected a finite number, got {shown(value)}", reason="value")


def opt_num(value: Any, name: str) -> float | None:
    """Like :func:`num`, but None and "" give None."""
    if value is None or value == "":
        return None
    return num(value, name)


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a concatenated symbol like ``BTCUSDT``; ParseError if no known quote fits."""
    upper = symbol.upper().replace("-", "").replace("_", "")
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return canonical_base(upper[: -len(quote)]), quote
    raise ParseError(f"cannot tell base and quote apart in symbol {shown(symbol)}", reason="unknown_symbol")


def is_usd(quote: str) -> bool:
    """True for quotes counted as 1 USD (USD, USDT, USDC, ...)."""
    return quote in USD_QUOTES or quote.upper() in USD_QUOTES


def text(value: Any, name: str) -> str:
    """A non-empty string, else ParseError(reason="value") naming the field."""
    if (type(value) is str or isinstance(value, str)) and value:
        return value
    raise ParseError(f"{name}: expected a non-empty string, got {shown(value)}", reason="value")


def items(value: Any, name: str) -> list[Any]:
    """A JSON array, else ParseError(reason="schema") naming the field."""
    if type(value) is list or isinstance(value, list):
        return value
    raise ParseError(f"{name}: expected an array, got {type(value).__name__}", reason="schema")


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


# -- event ids ---------------------------------------------------------------------------------
_PACK1, _PACK2, _PACK3 = (struct.Struct(f"<{n}d").pack for n in (1, 2, 3))
# The default of the numbers not given (a float would be hashed; None must still fail to pack, as before).
_NOT_GIVEN: Final[Any] = object()


def event_id(key: str, a: float, b: float = _NOT_GIVEN, c: float = _NOT_GIVEN) -> str:
    """A stable 16-hex-digit id from an event's identifying fields, for venues that send no id.

    ``key`` joins the text fields (venue, symbol, side, ...); the numbers (one to three) are the times
    and parsed floats, hashed as IEEE-754 doubles rather than formatted (epoch milliseconds are exact
    as doubles). Floats come from :func:`num` or a typed reader's ``+ 0.0``, so a zero is never
    negative. The hash is XXH3-64, a fixed published algorithm: the same frame gives the same id in
    every process and every release, so a re-sent frame dedups. It costs about a third of a blake2b
    digest; with 64 bits, the odds of any collision among a million events are about one in 40 million.
    The numbers are positional parameters, not ``*numbers``: no tuple is built per call.
    """
    if c is not _NOT_GIVEN:
        packed = _PACK3(a, b, c)
    elif b is not _NOT_GIVEN:
        packed = _PACK2(a, b)
    else:
        packed = _PACK1(a)
    return xxh3_64_hexdigest(key.encode() + packed)


# -- the typed readers' field types ----------------------------------------------------------------
# A float as num() reads it: a JSON number or a numeric string, finite (msgspec rejects "nan" and
# "inf" through the bounds). Callers add 0.0 to a value before using it, as num() does.
Finite: TypeAlias = Annotated[float, msgspec.Meta(ge=-_MAX_FLOAT, le=_MAX_FLOAT)]
# Epoch milliseconds, within the range a float holds exactly.
Millis: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=MAX_EXACT_INT)]
NonEmpty: TypeAlias = Annotated[str, msgspec.Meta(min_length=1)]
# A size or price: finite and not negative.
NonNegative: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
# An optional number as opt_num() reads it: "" and null are "not given"; read it with opt_finite().
OptFinite: TypeAlias = Finite | Literal[""] | None


def opt_finite(value: float | Literal[""] | None) -> float | None:
    """A decoded :data:`OptFinite` as :func:`opt_num` gives it."""
    return None if value is None or value == "" else value + 0.0


_NUMBER_GOT_TEXT: Final = re.compile(r"Expected `(?:int|float)[^`]*`, got `str`")


def decode_failed(venue: str, exc: msgspec.MsgspecError) -> ParseError:
    """The ParseError for a frame a typed reader refused, with msgspec's field path (``at `$[1][0][5]```):
    ``json`` for bad JSON; ``value`` for a value of the right kind that is not acceptable (a number out of its
    bounds, text that is not a number, an unknown enum value); ``schema`` for a wrong shape or a missing field."""
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return ParseError(f"{venue}: frame is not JSON: {text}", reason="json")
    value = any(mark in text for mark in (" >= ", " <= ", " > ", " < ", "length", "Invalid enum")) or bool(
        _NUMBER_GOT_TEXT.search(text)
    )
    reason = "value" if value else "schema"
    return ParseError(f"{venue}: {text}", reason=reason)


def rejected_event(venue: str, exc: InvalidEvent) -> ParseError:
    """The ParseError for an event that failed validation: reason ``value``, or ``implausible`` (with its field)."""
    if isinstance(exc, ImplausibleEvent):
        return ImplausibleValue(f"{venue}: {exc}", field=exc.field)
    return ParseError(f"{venue}: {exc}", reason="value")
