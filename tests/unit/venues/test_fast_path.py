"""The typed fast paths of every venue that has one give exactly what the dict-based readers give.

Every frame is fed to two adapters with the same instrument book: one through
``parse`` (fast path, falling back to the generic reader), one through
``parse_generic`` only. After each frame the outcome must be identical: the
same events byte for byte once encoded (so ids, float bits and the sign of
zero count), or the same ParseError message and reason; the same issues; and
the same per-symbol state (mark prices, ticker snapshots, last published
values, resting orders). Inputs are every vendored sample frame, frames shaped
like live traffic, and Hypothesis variants of them with values replaced, keys
dropped and keys added.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.events import Event
from monitor.venues.bitmex import BitmexAdapter
from monitor.venues.common import event_id, num
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_738_771_200_000
VARIANTS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


FastAdapter = BitmexAdapter


def with_book(adapter: FastAdapter, files: list[tuple[str, str]]) -> FastAdapter:
    for path, name in files:
        adapter.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    adapter.drain_issues()
    return adapter


def bitmex() -> FastAdapter:
    return with_book(BitmexAdapter(), [("/api/v1/instrument/active", "bitmex_instrument_active.json")])


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


# Frames shaped like live traffic that the samples lack: combined-stream wrappers, an all-market array with a
# delivery contract (no funding, T 0), a symbol outside the book, both OKX position modes, a ticker delta.


def liquidation_table(action: str, *rows: dict[str, Any]) -> str:
    return orjson.dumps({"table": "liquidation", "action": action, "data": rows}).decode()


# New orders (known, unknown, quanto and non-USD contracts), updates that raise and lower what is left, a
# delete, an order that fails validation after another was read, the instrument table and control frames.
BITMEX_ORDER = {"orderID": "o-1", "symbol": "XBTUSDT", "side": "Sell", "price": 70000.5, "leavesQty": 2000}
BITMEX_FRAMES = [
    *lines("bitmex_liquidation.jsonl"),
    *lines("bitmex_instrument.jsonl"),
    liquidation_table("partial"),
    liquidation_table(
        "partial",
        BITMEX_ORDER,
        {**BITMEX_ORDER, "orderID": "o-2", "symbol": "ETHUSD", "side": "Buy", "price": "1900"},
        {**BITMEX_ORDER, "orderID": "o-3", "symbol": "NOSUCHUSDT"},
    ),
    liquidation_table("update", {"orderID": "o-1", "leavesQty": 2500}),
    liquidation_table("update", {"orderID": "o-2", "price": 1901, "leavesQty": 10}),
    liquidation_table("update", {"orderID": "o-9", "leavesQty": 1}),
    liquidation_table("insert", {**BITMEX_ORDER, "orderID": "o-4", "symbol": "TRXZ19"}, {**BITMEX_ORDER, "price": -1}),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": "o-9", "symbol": "XBTUSD"}),
    liquidation_table("insert", BITMEX_ORDER),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": ""}),
    '{"table":"liquidation","action":"insert","keys":["orderID"],"data":{"orderID":"o-5"}}',
    '{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"2026-02-05T12:00:00.000Z"}',
    '{"success":true,"subscribe":"liquidation","request":{"op":"subscribe","args":["liquidation"]}}',
    '{"status":400,"error":"Unknown table: liquidations","request":{"op":"subscribe","args":["liquidations"]}}',
    "pong",
]
# Result as a single object and as a nested array, times from the row, the envelope or the receive time,
# contracts outside the book, a zero size, an error field, acks, pongs and notices.
# Symbols from the row, the row's other key or the arg, a delivery contract, UTA tickers, symbols outside the
# book, a non-positive price, acks and errors.


def respelled(line: str, path: tuple[Any, ...], spellings: tuple[Any, ...]) -> list[str]:
    """``line`` once per spelling of the value at ``path``."""
    frames = []
    for spelling in spellings:
        doc = orjson.loads(line)
        at(doc, path[:-1])[path[-1]] = spelling
        frames.append(orjson.dumps(doc).decode())
    return frames


def each_respelled(line: str, *where: Any, paths: tuple[str, ...]) -> list[str]:
    """``line`` once per spelling in ZEROS of each value named in ``paths`` (keys of the object at ``where``)."""
    return [frame for key in paths for frame in respelled(line, (*where, key), ZEROS)]


def with_keys(frames: list[str], *extras: dict[str, Any]) -> list[str]:
    """Each object frame once per set of extra keys, added at the top and inside a combined-stream wrapper."""
    out = []
    for line in frames:
        for extra in extras:
            for nested in (False, True):
                doc = orjson.loads(line)
                target = doc.get("data") if nested and isinstance(doc, dict) else doc
                if isinstance(target, dict):
                    target.update(extra)
                    out.append(orjson.dumps(doc).decode())
    return out


# Values the two readers could tell apart only by their spelling: "0" (no funding time) against "0.0" or 0 (time
# zero), a signed zero, an integer past 2**53; and objects that the generic readers take for wrappers or answers.
ZEROS = ("0", "0.0", "-0", "-0.0", 0, 0.0, "9007199254740993", 9007199254740993)

BITMEX_FRAMES += [
    *each_respelled(liquidation_table("insert", BITMEX_ORDER), "data", 0, paths=("price", "leavesQty")),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("data", 0, "orderID"), ("", 1, None, "o-1")),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("data", 0, "side"), ("Buy", "buy", "", None)),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("action",), ("partial", "update", "delete", "x")),
]

VENUES: dict[str, tuple[Callable[[], FastAdapter], list[str]]] = {
    "bitmex": (bitmex, BITMEX_FRAMES),
}

# The sample frames of the channels the fast paths exist for: they must not fall back.
FAST_SAMPLES = {
    "bitmex": lines("bitmex_liquidation.jsonl"),
}


# What the adapters remember between frames: mark prices, ticker snapshots, last published values, merged
# instrument rows and resting liquidation orders.
STATE = ("_marks", "_tickers", "_last", "_rows", "_orders")


def state(adapter: FastAdapter) -> bytes:
    """What an adapter remembers between frames, in order and encoded so that -0.0 and 0.0 differ."""
    kept = {name: list(getattr(adapter, name).items()) for name in STATE if hasattr(adapter, name)}
    return msgspec.json.encode(kept)


def outcome(adapter: FastAdapter, read: Callable[[str | bytes, int], list[Event]], frame: str | bytes) -> Any:
    try:
        result: Any = ("events", msgspec.json.encode(read(frame, RECV)))
    except ParseError as exc:
        result = ("error", str(exc), exc.reason)
    return result, adapter.drain_issues(), state(adapter)


def assert_same(venue: str, frames: list[str | bytes]) -> None:
    """Feed ``frames`` in order to a fast-path adapter and a generic-only one; compare after every frame."""
    factory, _ = VENUES[venue]
    fast, generic = factory(), factory()
    for frame in frames:
        assert outcome(fast, fast.parse, frame) == outcome(generic, generic.parse_generic, frame), frame


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_sample_frame_reads_the_same_on_both_paths(venue: str) -> None:
    frames = VENUES[venue][1]
    assert_same(venue, list(frames))
    assert_same(venue, [frame.encode() for frame in frames])  # websockets hands over bytes for binary frames
    for frame in frames:  # and each on its own, where no earlier frame's state hides a difference
        assert_same(venue, [frame])


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_hot_channel_samples_take_the_fast_path(venue: str) -> None:
    factory, _ = VENUES[venue]
    for frame in FAST_SAMPLES[venue]:
        events = factory()._parse_fast(frame, RECV)
        assert events == factory().parse_generic(frame, RECV), frame


def test_event_ids_do_not_depend_on_the_process() -> None:
    # A literal, not a recomputation: an id that changed between versions or processes would break dedup.
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.0) == "e993891d50718f56c179"
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.5) != "e993891d50718f56c179"


@pytest.mark.parametrize("spelling", ["-0", "-0.0", "0", 0, -0.0])
def test_zero_is_read_without_a_sign_whatever_its_spelling(spelling: object) -> None:
    # The fast path's decoder reads "-0" as 0.0 but "-0.0" as -0.0; num() drops the sign so both readers agree.
    assert math.copysign(1.0, num(spelling, "x")) == 1.0


# -- Hypothesis variants -------------------------------------------------------------------------
# Spellings where number parsers tend to differ: signed zeros, bare dots, exponents, range limits, non-numbers.
awkward_numbers = st.sampled_from(
    [
        *("0", "-0", "0.0", "-0.0", "-0e3", "00", "1.", ".5", " 1", "1_0", "+1", "1e5", "1E-5", "nan", "inf"),
        *("-Infinity", "1e308", "1e309", "4.9e-324", "1e-400", "9007199254740993", "1568014460893.5", "1.5e12"),
        *("", "abc", "0x10"),
    ]
)
numeric_strings = st.one_of(
    awkward_numbers,
    st.from_regex(r"-?(0|[1-9]\d{0,6})(\.\d{1,9})?([eE][+-]?\d{1,3})?", fullmatch=True),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 1.5e12, 2**53, 2**53 + 1]),
)
other_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["SELL", "BUY", "Buy", "Sell", "long", "short", "net", "buy", "sell", "delta", "snapshot"]),
    st.sampled_from(["forceOrder", "markPriceUpdate", "tickers.BTCUSDT", "liquidation.BTCUSDT", "funding-rate"]),
    st.sampled_from([[], {}, [1], {"a": 1}, "BTCUSDT", "BTC-USDT-SWAP", "ROSEUSDT", "XRPUSD", "NOSUCHUSDT"]),
)
leaf_values = st.one_of(awkward_numbers, numeric_strings, numbers, other_values)
# Keys the generic readers give a meaning to, and a stranger.
extra_keys = st.sampled_from(
    ["stream", "data", "id", "result", "error", "event", "op", "topic", "type", "ts", "T", "E", "updateTime", "zz"]
)


def nodes(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value in a JSON document (the root is ``()``)."""
    found = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += nodes(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += nodes(value, (*path, index))
    return found


def fresh(value: Any) -> Any:
    """A copy of a drawn value: sampled lists and dicts are shared between examples and must not be mutated."""
    return copy.deepcopy(value)


@st.composite
def variant(draw: st.DrawFn, frames: list[str]) -> str:
    """A frame with a few values replaced (mostly numbers, respelled), keys dropped or keys added; or as it was."""
    line = draw(st.sampled_from([f for f in frames if f.startswith(("{", "["))]))
    doc = copy.deepcopy(orjson.loads(line))
    for _ in range(draw(st.integers(0, 4))):
        paths = nodes(doc)
        leaves = [
            p for p in paths if p and isinstance(at(doc, p), (str, int, float)) and not isinstance(at(doc, p), bool)
        ]
        action = draw(st.sampled_from(["respell", "respell", "respell", "set", "drop", "add"]))
        if action == "respell" and leaves:
            path = draw(st.sampled_from(leaves))
            at(doc, path[:-1])[path[-1]] = fresh(draw(leaf_values))
            continue
        path = draw(st.sampled_from(paths))
        target = at(doc, path)
        if action == "add" and isinstance(target, dict):
            target[draw(extra_keys)] = fresh(draw(leaf_values))
        elif action == "set" and path:
            at(doc, path[:-1])[path[-1]] = fresh(draw(leaf_values))
        elif action == "drop" and path:
            del at(doc, path[:-1])[path[-1]]
    return json.dumps(doc, separators=(",", ":"))  # integers beyond 64 bits too


@VARIANTS
@given(st.lists(variant(BITMEX_FRAMES), min_size=1, max_size=4))
def test_bitmex_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("bitmex", list(frames))
