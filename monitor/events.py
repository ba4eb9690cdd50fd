"""Normalized events (DESIGN §3): the one model every venue is turned into.

Events are frozen :class:`msgspec.Struct` types: cheap to build (the parsers
make hundreds of thousands per second) and decoded from JSON in C. Numbers are
floats, times integer epoch milliseconds. Field names are the wire contract used
by the Redis streams, ``liqmon normalize`` and ``--events-out`` files; ``kind``
is the tag that tells the types apart (see :mod:`monitor.bus.codec`). Events
hold only strings, numbers and tuples of strings (an ``options_summary`` also a
small dict of tenor points and tuples of numbers), so they can never be part of
a reference cycle: ``gc=False`` keeps the hundreds of thousands in flight out of
the cycle collector's scans.

**The rules.** Every rule an event obeys is its field's annotation, and lives
nowhere else: a type (``float``, ``int``, a ``Literal``) and a
:class:`msgspec.Meta` bound (:data:`Price`, :data:`Millis`, ...). A NaN, an
infinity, a negative size or price, a bad enum value is
:class:`~monitor.errors.InvalidEvent`; a well-formed value beyond what any real
market has (the upper bounds, :data:`BOUNDS`, documented per field in
docs/events.md) is :class:`~monitor.errors.ImplausibleEvent`; both name the field.

**Checked once, where it is made.** The makers (:data:`make_liquidation`,
:data:`make_funding`, ..., generated from the annotations at import) check each
argument against its field's rule and build the event; the venue parsers make
their events through them (the factories on
:class:`~monitor.venues.instruments.Instrument`). The header of a liquidation,
funding or open-interest event (venue, symbol, base, quote, contract) is the
same for every event of an instrument, so it is checked once, by
:data:`make_header`, when the instrument is made, and those makers take the
checked :data:`Header` in its place. The constructors themselves
check nothing, as msgspec's never do, so an event read back from our own bus is
not checked again in Python: decoding it (:mod:`monitor.bus.codec`) checks the
same annotations in C, as part of the decode.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Final, Literal, NoReturn, TypeAlias, TypeVar

import msgspec
import msgspec.inspect as mi

from monitor.errors import ImplausibleEvent, InvalidEvent

Side: TypeAlias = Literal["long", "short"]
ContractType: TypeAlias = Literal["linear", "inverse"]

_BASE_ALIASES: Final = {"XBT": "BTC"}

# Plausibility bounds (inclusive maxima; docs/events.md gives the reasoning per field). A value past one is
# a venue bug or a forged frame, never a market move: one such event would swamp every USD sum downstream.
MAX_TS_MS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z
MAX_PRICE: Final = 1e8  # quote units
MAX_QTY_BASE: Final = 1e15  # base units (a meme coin's whole supply is about this)
MAX_NOTIONAL_USD: Final = 1e10  # one liquidation; the largest ever seen were about 1e8
MAX_OI_USD: Final = 1e12  # one venue's open interest in one instrument
MAX_FUNDING_RATE: Final = 1.0  # |rate| per interval and |rate_8h|: 100 %; venues cap funding at a few %
MAX_INTERVAL_H: Final = 24.0
MAX_IV: Final = 10.0  # options IV, |RR25|, |BF25| as fractions: 1000 vol points
MAX_DVOL: Final = 1000.0  # a volatility index in vol points
_MAX_FLOAT: Final = 1.7976931348623157e308

# -- the field types: each rule, once -------------------------------------------------------------
# Epoch milliseconds of venue time (ts_ms, next_funding_ms), and of our own clock (recv_ms: no upper bound).
Millis: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=MAX_TS_MS)]
ClockMillis: TypeAlias = Annotated[int, msgspec.Meta(ge=0)]
NonEmpty: TypeAlias = Annotated[str, msgspec.Meta(min_length=1)]
# A liquidation is a fill: its price is positive. A mark or index price may be 0 (unknown).
Price: TypeAlias = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_PRICE)]
QuotedPrice: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_PRICE)]
BaseQty: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_QTY_BASE)]
NotionalUsd: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_NOTIONAL_USD)]
OiUsd: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_OI_USD)]
Rate: TypeAlias = Annotated[float, msgspec.Meta(ge=-MAX_FUNDING_RATE, le=MAX_FUNDING_RATE)]
IntervalHours: TypeAlias = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_INTERVAL_H)]
Iv: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_IV)]
IvSpread: TypeAlias = Annotated[float, msgspec.Meta(ge=-MAX_IV, le=MAX_IV)]
Dvol: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_DVOL)]
Ratio: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX_FLOAT)]
Strike: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_PRICE, extra={"name": "strike"})]
StrikeOi: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_QTY_BASE, extra={"name": "oi_base"})]
TENOR_KEYS: Final = ("7", "30", "90")
TenorKey: TypeAlias = Literal["7", "30", "90"]


def canonical_base(asset: str) -> str:
    """Canonical asset name: upper case, ``XBT`` → ``BTC``."""
    upper = asset.upper()
    return _BASE_ALIASES.get(upper, upper)


# The empty hash stable ids start from (copied: cheaper than a new one with its digest size).
_STABLE_HASH: Final = hashlib.blake2b(digest_size=10)
# "%s|%s|...|%s" by number of parts: one formatting, the same text as joining each part's str().
_STABLE_TEXT: Final[dict[int, str]] = {}


def stable_id(*parts: object) -> str:
    """A short stable id from identifying fields, for venues that send no id of their own.

    The BLAKE2b digest (10 bytes) of the parts' ``str()`` joined by ``|``.
    """
    template = _STABLE_TEXT.get(len(parts))
    if template is None:
        template = _STABLE_TEXT[len(parts)] = "|".join(["%s"] * len(parts))
    digest = _STABLE_HASH.copy()
    digest.update((template % parts).encode())
    return digest.hexdigest()


class _Market(msgspec.Struct, frozen=True, gc=False, tag_field="kind", forbid_unknown_fields=True):
    """Fields common to the market events."""

    kind: ClassVar[str]
    id: NonEmpty
    venue: NonEmpty
    symbol: NonEmpty
    base: NonEmpty
    quote: str
    contract: ContractType
    ts_ms: Millis
    recv_ms: ClockMillis


class Liquidation(_Market, frozen=True, tag="liquidation"):
    """A forced close. ``side`` is the side of the liquidated *position*.

    ``qty_base`` and ``notional_usd`` are None when the instrument's contract
    size is unknown: liquidations in contracts are never converted by a guess.
    ``sampled`` is true when the venue's feed publishes at most one liquidation
    per symbol per interval (Binance, OKX), so sums over it are lower bounds.
    """

    kind: ClassVar[Literal["liquidation"]] = "liquidation"
    side: Side
    price: Price
    qty_base: BaseQty | None
    notional_usd: NotionalUsd | None
    sampled: bool = False


class Funding(_Market, frozen=True, tag="funding"):
    """A funding-rate print; ``rate`` is a fraction per ``interval_h`` hours."""

    kind: ClassVar[Literal["funding"]] = "funding"
    rate: Rate
    interval_h: IntervalHours
    rate_8h: Rate
    next_funding_ms: Millis | None = None
    mark_price: QuotedPrice | None = None
    index_price: QuotedPrice | None = None


class OpenInterest(_Market, frozen=True, tag="open_interest"):
    """Open interest of one side of the book, in base units (and USD when a price is known)."""

    kind: ClassVar[Literal["open_interest"]] = "open_interest"
    oi_base: BaseQty
    oi_usd: OiUsd | None


class TenorPoint(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One constant maturity of an ``options_summary``: ATM IV at the forward, RR25 and BF25 (fractions)."""

    atm_iv: Iv
    rr25: IvSpread
    bf25: IvSpread


class OptionsSummary(_Market, frozen=True, tag="options_summary"):
    """One snapshot of a venue's option chain on ``base`` (DESIGN §3).

    ``symbol`` is the venue's index name (Deribit ``btc_usd``). ``dvol`` is the
    venue's volatility index in vol points, as published. ``tenors`` maps the
    constant maturity in days (``"7"``, ``"30"``, ``"90"``) to its point; a
    tenor the listed expiries do not bracket is absent. ``put_oi_top`` is
    ``(strike, oi_base)`` of the largest put open interest summed over
    expiries, largest first, at most 10.
    """

    kind: ClassVar[Literal["options_summary"]] = "options_summary"
    index_price: QuotedPrice | None
    dvol: Dvol | None
    tenors: dict[TenorKey, TenorPoint]
    put_call_oi_ratio: Ratio | None
    put_oi_top: Annotated[tuple[tuple[Strike, StrikeOi], ...], msgspec.Meta(max_length=10)]


class Gap(msgspec.Struct, frozen=True, gc=False, tag_field="kind", tag="gap", forbid_unknown_fields=True):
    """A marker: data from ``venue`` may be missing between the last frame and ``ts_ms``.

    Emitted on every disconnect. ``bases`` lists the assets whose subscriptions
    the broken connection carried; empty means the whole venue. Detectors use it
    so that a silent venue never looks like a collapse.
    """

    kind: ClassVar[Literal["gap"]] = "gap"
    id: NonEmpty
    venue: NonEmpty
    reason: str
    ts_ms: ClockMillis
    recv_ms: ClockMillis
    bases: tuple[str, ...] = ()


MarketEvent: TypeAlias = Liquidation | Funding | OpenInterest | OptionsSummary
Event: TypeAlias = Liquidation | Funding | OpenInterest | OptionsSummary | Gap

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "liquidation": Liquidation,
    "funding": Funding,
    "open_interest": OpenInterest,
    "options_summary": OptionsSummary,
    "gap": Gap,
}


def rate_8h(rate: float, interval_h: float) -> float:
    """A per-interval funding rate scaled to 8 hours (linear, as venues quote it)."""
    return rate * (8.0 / interval_h)


# -- the makers: each field's annotation compiled once into its check ------------------------------
_S = TypeVar("_S", bound=msgspec.Struct)
_MAKERS: Final[dict[type[Any], Callable[..., Any]]] = {}


def _named(t: mi.Type, name: str) -> str:
    """The name errors give a value: its Meta's ``extra["name"]`` (tuple positions), else the field's."""
    if isinstance(t, mi.Metadata) and t.extra and "name" in t.extra:
        return str(t.extra["name"])
    return name


def _rule(t: mi.Type) -> mi.Type:
    """A value's own rule: inside its Meta, and the member that is not None of an optional value."""
    if isinstance(t, mi.Metadata):
        return _rule(t.type)
    if isinstance(t, mi.UnionType):
        return _rule(next(m for m in t.types if not isinstance(m, mi.NoneType)))
    return t


def _test(t: mi.Type, var: str) -> str:
    """A Python expression true when ``var`` obeys the rule ``t`` (scalars only)."""
    if isinstance(t, mi.Metadata):
        return _test(t.type, var)
    if isinstance(t, mi.UnionType):
        # None first: one identity test settles an absent value, and costs a present one next to nothing.
        members = sorted(t.types, key=lambda m: not isinstance(m, mi.NoneType))
        return " or ".join(f"({_test(m, var)})" for m in members)
    if isinstance(t, mi.NoneType):
        return f"{var} is None"
    # Bounds as two comparisons joined by ``and``, not chained (a chained comparison costs more); either is
    # false for a NaN.
    if isinstance(t, mi.FloatType):
        low = f"{t.gt!r} < {var}" if t.gt is not None else f"{t.ge if t.ge is not None else -_MAX_FLOAT!r} <= {var}"
        high = f"{var} < {t.lt!r}" if t.lt is not None else f"{var} <= {t.le if t.le is not None else _MAX_FLOAT!r}"
        return f"(type({var}) is float or type({var}) is int) and {low} and {high}"
    if isinstance(t, mi.IntType):
        bounds = [f"{t.ge!r} <= {var}"] if t.ge is not None else []
        bounds += [f"{var} <= {t.le!r}"] if t.le is not None else []
        return " and ".join([f"type({var}) is int", *bounds])
    if isinstance(t, mi.StrType):
        return f"type({var}) is str" + (f" and {var} != ''" if t.min_length else "")
    if isinstance(t, mi.BoolType):
        return f"type({var}) is bool"
    if isinstance(t, mi.LiteralType):
        return f"{var} in {tuple(t.values)!r}"
    raise TypeError(f"no check for {t!r}")


# The fields every event of one instrument shares, checked once per instrument by make_header; the makers of
# the events built per instrument take the checked tuple in their place (see the module docstring).
HEADER_FIELDS: Final = ("venue", "symbol", "base", "quote", "contract")
Header: TypeAlias = tuple[str, str, str, str, ContractType]


class _Checks:
    """The source of one maker: a check line per value, each naming the rule it refuses with."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_refuse": _refuse, "_astuple": msgspec.structs.astuple}

    def _ref(self, name: str, t: mi.Type) -> str:
        ref = f"_r{len(self.names)}"
        self.names[ref] = (self.owner, name, t)
        return ref

    def value(self, t: mi.Type, var: str, name: str, depth: int = 1) -> None:
        pad, name, rule = "    " * depth, _named(t, name), _rule(t)
        containers = (mi.VarTupleType, mi.TupleType, mi.DictType, mi.StructType)
        if isinstance(rule, containers) and rule is not (t.type if isinstance(t, mi.Metadata) else t):
            raise TypeError(f"{self.owner}.{name}: an optional container has no check")
        if isinstance(rule, mi.VarTupleType):
            bound = "" if rule.max_length is None else f" and len({var}) <= {rule.max_length}"
            self.lines.append(f"{pad}if not (type({var}) is tuple{bound}): _refuse({self._ref(name, rule)}, {var})")
            self.lines.append(f"{pad}for _v{depth} in {var}:")
            self.value(rule.item_type, f"_v{depth}", name, depth + 1)
        elif isinstance(rule, mi.TupleType):
            size = len(rule.item_types)
            ref = self._ref(name, rule)
            self.lines.append(f"{pad}if not (type({var}) is tuple and len({var}) == {size}): _refuse({ref}, {var})")
            for index, item in enumerate(rule.item_types):
                self.value(item, f"{var}[{index}]", name, depth)
        elif isinstance(rule, mi.DictType):
            self.lines.append(f"{pad}if type({var}) is not dict: _refuse({self._ref(name, rule)}, {var})")
            self.lines.append(f"{pad}for _k{depth}, _v{depth} in {var}.items():")
            self.value(rule.key_type, f"_k{depth}", f"{name} key", depth + 1)
            self.value(rule.value_type, f"_v{depth}", name, depth + 1)
        elif isinstance(rule, mi.StructType):
            maker = f"_m{len(self.names)}"
            self.names[maker] = _maker(rule.cls)
            ref = self._ref(name, rule)
            self.lines.append(f"{pad}if type({var}) is not {maker}.cls: _refuse({ref}, {var})")
            self.lines.append(f"{pad}{maker}(*_astuple({var}))")
        else:
            self.lines.append(f"{pad}if not ({_test(t, var)}): _refuse({self._ref(name, rule)}, {var})")


def _maker(cls: type[_S], header: bool = False) -> Callable[..., _S]:
    """``cls``'s maker: its fields as arguments (defaults kept), each checked, then the event built.

    With ``header``, the :data:`HEADER_FIELDS` arrive as one argument, ``header``, in the first one's place:
    a tuple :data:`make_header` made, so already checked.
    """
    known = _MAKERS.get(cls)
    if known is not None:
        return known
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    checks = _Checks(str(cls.__struct_config__.tag or cls.__name__))
    params = []
    for field in info.fields:
        if header and field.name in HEADER_FIELDS:
            if field.name == HEADER_FIELDS[0]:
                params.append("header")
                checks.lines.append(f"    {', '.join(HEADER_FIELDS)} = header")
            continue
        if field.default is msgspec.NODEFAULT:
            params.append(field.name)
        else:
            checks.names[f"_d_{field.name}"] = field.default
            params.append(f"{field.name}=_d_{field.name}")
        checks.value(field.type, field.name, field.name)
    names = ", ".join(f.name for f in info.fields)
    source = "\n".join([f"def make({', '.join(params)}):", *checks.lines, f"    return _cls({names})"])
    checks.names["_cls"] = cls
    exec(source, checks.names)  # the source is built above from the field annotations only
    made: Callable[..., _S] = checks.names["make"]
    made.cls = cls  # type: ignore[attr-defined]
    made.header = header  # type: ignore[attr-defined]
    made.__doc__ = f"A checked {cls.__name__}: each argument obeys its field's annotation, else InvalidEvent."
    _MAKERS[cls] = made
    return made


def _header_maker() -> Callable[..., Header]:
    """:data:`make_header`: the :data:`HEADER_FIELDS`, each checked against its annotation on the events."""
    info = mi.type_info(_Market)
    assert isinstance(info, mi.StructType)
    fields = {f.name: f for f in info.fields}
    checks = _Checks("market")
    for name in HEADER_FIELDS:
        checks.value(fields[name].type, name, name)
    names = ", ".join(HEADER_FIELDS)
    exec("\n".join([f"def make_header({names}):", *checks.lines, f"    return ({names})"]), checks.names)
    made: Callable[..., Header] = checks.names["make_header"]
    made.__doc__ = "The checked header of an instrument's events (venue, symbol, base, quote, contract)."
    return made


def _refuse(ref: tuple[str, str, mi.Type], value: object) -> NoReturn:
    """Raise the error for ``value`` failing the rule ``ref`` = (event kind, value name, rule)."""
    owner, name, rule = ref
    shown = f"{value!r:.80}"
    if isinstance(rule, mi.FloatType):
        if type(value) not in (int, float):
            raise InvalidEvent(f"{name} must be a number, got {shown}")
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number):
            raise InvalidEvent(f"{name} must be finite, got {shown}")
        low = rule.gt if rule.gt is not None else rule.ge
        if low == 0 and number < 0:
            raise InvalidEvent(f"{name} must not be negative, got {shown}")
        if low == 0 and number == 0:
            raise ImplausibleEvent(f"{name} must be positive, got {shown}", field=name)
        high = rule.le if rule.le is not None else rule.lt
        raise ImplausibleEvent(f"{name} {shown} is implausible (|{name}| at most {high:g})", field=name)
    if isinstance(rule, mi.IntType):
        if type(value) is int and value >= 0:
            raise ImplausibleEvent(f"{name} {shown} is implausible (|{name}| at most {rule.le:g})", field=name)
        raise InvalidEvent(f"{name} must be a non-negative integer of epoch milliseconds, got {shown}")
    if isinstance(rule, mi.StrType):
        raise InvalidEvent(f"{owner} event has an empty {name}" if value == "" else f"{name} must be text, got {shown}")
    if isinstance(rule, mi.LiteralType):
        raise InvalidEvent(f"{name} must be {' or '.join(map(repr, rule.values))}, got {shown}")
    if isinstance(rule, mi.BoolType):
        raise InvalidEvent(f"{name} must be true or false, got {shown}")
    if isinstance(rule, mi.VarTupleType) and type(value) is tuple:
        raise InvalidEvent(f"{name} holds at most {rule.max_length} items, got {len(value)}")
    kinds = {mi.VarTupleType: "an array", mi.TupleType: "a pair", mi.DictType: "an object", mi.StructType: "an object"}
    raise InvalidEvent(f"{name} must be {kinds.get(type(rule), 'valid')}, got {shown}")


make_header: Final = _header_maker()
make_liquidation: Final = _maker(Liquidation, header=True)
make_funding: Final = _maker(Funding, header=True)
make_open_interest: Final = _maker(OpenInterest, header=True)
make_options_summary: Final = _maker(OptionsSummary)
make_gap: Final = _maker(Gap)


def validated(event: _S) -> _S:
    """``event`` checked as its maker checks (for an event built with its plain constructor)."""
    maker = _maker(type(event))
    values = msgspec.structs.astuple(event)
    if maker.header:  # type: ignore[attr-defined]
        size = len(HEADER_FIELDS)
        return maker(values[0], make_header(*values[1 : 1 + size]), *values[1 + size :])
    return maker(*values)


def _bounds() -> dict[str, float]:
    """Each value's plausibility bound (the upper bounds of the annotations), by name: docs/events.md."""
    found: dict[str, float] = {}

    def visit(t: mi.Type, name: str) -> None:
        name, rule = _named(t, name), _rule(t)
        if isinstance(rule, (mi.FloatType, mi.IntType)) and rule.le is not None and rule.le < _MAX_FLOAT:
            found[name] = rule.le
        elif isinstance(rule, mi.VarTupleType):
            visit(rule.item_type, name)
        elif isinstance(rule, mi.TupleType):
            for item in rule.item_types:
                visit(item, name)
        elif isinstance(rule, mi.DictType):
            visit(rule.value_type, name)
        elif isinstance(rule, mi.StructType):
            for field in rule.fields:
                visit(field.type, field.name)

    for cls in EVENT_TYPES.values():
        visit(mi.type_info(cls), cls.__name__)
    return found


BOUNDS: Final[dict[str, float]] = _bounds()
