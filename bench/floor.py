"""liqmon's parse cost per frame type over the floor: decoding the same frame into a msgspec Struct.

For every venue and every sample kind, ``--frames`` frames are generated from
the sample shapes (numbers varied, as in ``bench/parse.py``). The floor is
``msgspec.json.Decoder(T).decode(frame)`` where ``T`` is a Struct mirroring the
frame's shape (every key of the first frame, with its JSON type; nested objects
and arrays of objects become nested Structs), so it is the cost of a typed,
one-pass decode and nothing else. liqmon's cost is ``adapter.parse`` (or
``parse_rest``) on the same frames with the instrument fixtures loaded. Both
keep their fastest of ``--rounds`` passes. The ratio is liqmon over floor; the
summary gives the median and the largest ratio over all frame types.

Run: ``.venv/bin/python bench/floor.py [--frames 20000] [--rounds 3] [--venues okx,bybit]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from common import machine
from parse import REST_SAMPLES, feeder, generated, load_book, sample_kinds

from monitor.errors import ParseError
from monitor.venues.registry import VENUES, adapter_class

_names = iter(range(1_000_000))


def shape(value: Any) -> Any:
    """The msgspec type mirroring a JSON value's shape."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int | float
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    if value is None:
        return Any
    if isinstance(value, list):
        return list[shape(value[0])] if value else list[Any]
    if isinstance(value, dict):
        fields = [(key, shape(item) | None, None) for key, item in value.items()]
        return msgspec.defstruct(f"Floor{next(_names)}", fields, kw_only=True)
    return Any


def floor_decoder(frame: str) -> Callable[[str], Any]:
    """A decoder of frames shaped like ``frame`` into Structs (falls back to untyped for odd shapes)."""
    decoder = msgspec.json.Decoder(shape(orjson.loads(frame)))
    untyped = msgspec.json.Decoder()

    def decode(text: str) -> Any:
        try:
            return decoder.decode(text)
        except msgspec.ValidationError:
            return untyped.decode(text)

    return decode


def best(fn: Callable[[], float], rounds: int) -> float:
    return min(fn() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venues", default=",".join(VENUES))
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.frames} frames per type; best of {args.rounds} passes")
    header = f"{'venue':<12}{'frame type':<24}{'floor µs':>10}{'liqmon µs':>11}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    for venue in args.venues.split(","):
        cls = adapter_class(venue)
        for kind, samples in sample_kinds(venue).items():
            frames = generated(samples, args.frames)
            decode = floor_decoder(frames[0])
            feed = feeder(venue, kind)
            adapter = cls()
            load_book(adapter)

            def floor_pass(frames: list[str] = frames, decode: Callable[[str], Any] = decode) -> float:
                start = time.perf_counter()
                for frame in frames:
                    decode(frame)
                return time.perf_counter() - start

            def liqmon_pass(frames: list[str] = frames, feed: Any = feed, adapter: Any = adapter) -> float:
                start = time.perf_counter()
                for frame in frames:
                    try:
                        feed(adapter, frame)
                    except ParseError:
                        pass
                elapsed = time.perf_counter() - start
                adapter.drain_issues()
                return elapsed

            floor_s = best(floor_pass, args.rounds) / len(frames)
            liqmon_s = best(liqmon_pass, args.rounds) / len(frames)
            ratio = liqmon_s / floor_s
            ratios.append(ratio)
            label = kind + (" (REST)" if (venue, kind) in REST_SAMPLES else "")
            print(f"{venue:<12}{label:<24}{floor_s * 1e6:>10.2f}{liqmon_s * 1e6:>11.2f}{ratio:>7.1f}x")
    print("-" * len(header))
    print(f"median ratio {statistics.median(ratios):.1f}x, largest {max(ratios):.1f}x over {len(ratios)} frame types")


if __name__ == "__main__":
    main()
