"""Mutation fuzzing of the venue parsers: ``make fuzz`` (not part of ``make test``).

Every real sample frame in ``tests/fixtures/samples`` (``<venue>_<channel>.jsonl``;
``*_rest.jsonl`` are polled REST bodies) is mutated at random, one to three times
over, and handed to the venue's public entry point (``VenueAdapter.parse`` or
``parse_rest``), with the venue's instrument lists from ``tests/fixtures/instruments``
loaded so that the parsers get past contract sizes. Samples become frames exactly as the
golden files make them (``tests/unit/venues/golden.py``), so run it from the repository root.
Mutations are structural (drop a key, retype or replace a value with a hostile one: huge, negative, zero, NaN text,
1e20, 1e29, a 10 KB string, a value nested 1,000 deep, a row list duplicated
hundreds of times) and textual (truncate, flip, insert or duplicate bytes).

The run passes when nothing but :class:`~monitor.errors.ParseError` came out of a
parser and every event it returned survives the wire codec (which re-checks every
field and its plausibility bound, docs/events.md). It prints the counts per venue and
exits 1 otherwise, with an example of each failure.

    PYTHONPATH=. .venv/bin/python scripts/fuzz_parsers.py [--frames 200000] [--seed 1] [--venues okx gate]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.bus.codec import decode, encode
from monitor.errors import InvalidEvent, ParseError
from monitor.events import Event
from monitor.venues.registry import VENUES
from tests.unit.venues.golden import loaded_adapter, rest_path, sample_files, socket_frame

RECV_MS = 1_738_771_200_000
DEEP = "[" * 1000 + "]" * 1000


class Raw:
    """A JSON token written as is (numbers past 64 bits, deep nesting: what orjson will not write)."""

    def __init__(self, text: str) -> None:
        self.text = text


HOSTILE: tuple[Callable[[random.Random], Any], ...] = (
    lambda r: None,
    lambda r: True,
    lambda r: 0,
    lambda r: -1,
    lambda r: "0",
    lambda r: "-1",
    lambda r: "",
    lambda r: "NaN",
    lambda r: "inf",
    lambda r: "-0",
    lambda r: "1e20",
    lambda r: 1e20,
    lambda r: -1e20,
    lambda r: 1e308,
    lambda r: Raw("1e29"),
    lambda r: Raw("1" + "0" * 30),
    lambda r: Raw("-" + "9" * 25),
    lambda r: "x" * 10_000,
    lambda r: [],
    lambda r: {},
    lambda r: Raw(DEEP),
    lambda r: r.uniform(-1e6, 1e6),
    lambda r: str(r.uniform(-1e6, 1e6)),
    lambda r: r.randint(-(2**40), 2**40),
    lambda r: "BTC_USDT",
    lambda r: "\u0000\ud7ff\U0001f600",
)


def _nodes(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to the nodes of ``obj``, down to 12 levels (a value nested 1,000 deep counts as one)."""
    out = [path]
    if len(path) >= 12:
        return out
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.extend(_nodes(value, (*path, key)))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            out.extend(_nodes(value, (*path, index)))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def mutate_structure(obj: Any, rng: random.Random) -> Any:
    """One structural change at a random node; returns the (possibly new) root."""
    path = rng.choice(_nodes(obj))
    if not path:
        return rng.choice(HOSTILE)(rng)
    parent, key = _get(obj, path[:-1]), path[-1]
    value = parent[key]
    choice = rng.random()
    if choice < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif choice < 0.25 and isinstance(value, list) and value:
        parent[key] = value * rng.randint(2, 400)  # rows duplicated
    elif choice < 0.35 and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = str(value)
    elif choice < 0.45 and isinstance(value, str):
        try:
            parent[key] = float(value)
        except ValueError:
            parent[key] = value[: rng.randint(0, len(value))]
    else:
        parent[key] = rng.choice(HOSTILE)(rng)
    return obj


def dumps(obj: Any) -> str:
    """JSON text of ``obj``, with each Raw token written in place."""
    raws: list[str] = []

    def default(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\u0001RAW{len(raws) - 1}\u0001"
        raise TypeError

    text = orjson.dumps(obj, default=default).decode()
    for index, raw in enumerate(raws):
        text = text.replace(f'"\\u0001RAW{index}\\u0001"', raw)
    return text


def mutate_text(text: str, rng: random.Random) -> str:
    """One textual change: truncate, flip, insert, delete or duplicate a stretch."""
    if not text:
        return text
    at = rng.randrange(len(text))
    choice = rng.random()
    if choice < 0.2:
        return text[:at]
    if choice < 0.4:
        return text[:at] + chr(rng.randrange(32, 0x3000)) + text[at + 1 :]
    if choice < 0.6:
        return text[:at] + rng.choice('{}[]",:0-.e\\') + text[at:]
    if choice < 0.8:
        end = min(len(text), at + rng.randint(1, 40))
        return text[:at] + text[end:]
    end = min(len(text), at + rng.randint(1, 200))
    return text[:end] + text[at:end] * rng.randint(1, 50) + text[end:]


def mutate(seed: str, rng: random.Random) -> str:
    """The seed frame with one to three mutations, structural more often than textual."""
    text = seed
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.75:
            try:
                text = dumps(mutate_structure(orjson.loads(text), rng))
            except (orjson.JSONDecodeError, TypeError):  # not JSON any more, or too deep for orjson to write
                text = mutate_text(text, rng)
        else:
            text = mutate_text(text, rng)
    return text


@dataclass
class Seed:
    frame: str
    rest_path: str | None = None


@dataclass
class Tally:
    frames: int = 0
    events: int = 0
    parse_errors: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    implausible: int = 0
    examples: list[str] = field(default_factory=list)


def seeds(venue: str) -> list[Seed]:
    """Every vendored sample of ``venue`` as the socket (or the REST poll) delivers it."""
    out: list[Seed] = []
    for sample in sample_files(venue):
        rest = sample.stem.endswith("_rest")
        for line in sample.read_text().splitlines():
            if line.strip():
                out.append(Seed(line, rest_path(venue, line)) if rest else Seed(socket_frame(venue, sample, line)))
    return out


def fuzz_venue(venue: str, frames: int, rng: random.Random) -> Tally:
    adapter = loaded_adapter(venue)
    pool = seeds(venue)
    tally = Tally()
    for n in range(frames):
        seed = rng.choice(pool)
        frame = mutate(seed.frame, rng)
        if n % 10_000 == 0:
            adapter.reset()
        tally.frames += 1
        try:
            if seed.rest_path is not None:
                events: list[Event] = adapter.parse_rest(seed.rest_path, frame, RECV_MS)
            else:
                events = adapter.parse(frame, RECV_MS)
        except ParseError as exc:
            tally.parse_errors[exc.reason] += 1
            continue
        except Exception as exc:  # what the run exists to find
            tally.other[type(exc).__name__] += 1
            if len(tally.examples) < 5:
                tally.examples.append(f"{type(exc).__name__}: {str(exc)[:200]} <- {frame[:300]}")
            continue
        finally:
            adapter.drain_issues()
        tally.events += len(events)
        for event in events:
            try:
                decode(encode(event))  # re-validates every field and its plausibility bound
            except InvalidEvent as exc:
                tally.implausible += 1
                if len(tally.examples) < 5:
                    tally.examples.append(f"event not valid on the wire: {exc} <- {frame[:300]}")
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000, help="mutated frames per venue (default 200,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same frames)")
    parser.add_argument("--venues", nargs="+", choices=VENUES, default=list(VENUES))
    args = parser.parse_args(argv)
    sys.setrecursionlimit(1000)  # the interpreter's default: what the daemon runs with
    failed = False
    print(f"{'venue':12} {'frames':>9} {'events':>9} {'parse errors':>13} {'other':>6} {'bad events':>10}  seconds")
    for venue in args.venues:
        rng = random.Random(f"{args.seed}:{venue}")
        started = time.perf_counter()
        tally = fuzz_venue(venue, args.frames, rng)
        elapsed = time.perf_counter() - started
        errors = sum(tally.parse_errors.values())
        other = sum(tally.other.values())
        print(
            f"{venue:12} {tally.frames:>9,} {tally.events:>9,} {errors:>13,} {other:>6,} {tally.implausible:>10,}"
            f"  {elapsed:7.1f}"
        )
        top = ", ".join(f"{reason} {count:,}" for reason, count in tally.parse_errors.most_common())
        print(f"{'':12} parse errors by reason: {top}")
        if other or tally.implausible:
            failed = True
            print(f"{'':12} FAILED: {dict(tally.other)}; {tally.implausible} events not valid on the wire")
            for example in tally.examples:
                print(f"{'':14}{example}")
    print("fuzz: FAILED" if failed else "fuzz: only ParseError, every event valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
