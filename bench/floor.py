"""liqmon's parse cost per frame type over the floor: decoding the same frame into a msgspec Struct.

For every venue and every sample kind, ``--frames`` frames are generated from
the sample shapes (numbers varied, as in ``bench/parse.py``). The floor is
``msgspec.json.Decoder(T).decode(frame)`` where ``T`` is a Struct mirroring the
frame's shape (every key of the first frame, with its JSON type; nested objects
and arrays of objects become nested Structs), so it is the cost of a typed,
one-pass decode and nothing else. liqmon's cost is ``adapter.parse`` (or
``parse_rest``) on the same frames with the instrument fixtures loaded. The two
passes alternate, ``--rounds`` times (a shared machine's speed moves between
them), and each keeps its fastest. The ratio is liqmon over floor; the
summary gives the median and the largest ratio over all frame types.

``--baseline TREE`` compares two versions in one run: this tree's ``bench/floor.py``
and ``TREE``'s (an unpacked ``git archive``) run alternately in subprocesses,
``--pairs`` times each; per frame type each side keeps its best time, and the floor
is the lower of the two sides' best. It prints both ratios and the speed-up.

Run: ``.venv/bin/python bench/floor.py [--frames 20000] [--rounds 3] [--venues okx,bybit]``
or ``.venv/bin/python bench/floor.py --baseline /tmp/base --pairs 3 --frames 4000``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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


def best_alternating(passes: Sequence[Callable[[], float]], rounds: int) -> list[float]:
    """The fastest of ``rounds`` runs of each pass, the passes taking turns: all see the machine in the same states."""
    fastest = [float("inf")] * len(passes)
    for _ in range(rounds):
        for index, run_pass in enumerate(passes):
            fastest[index] = min(fastest[index], run_pass())
    return fastest


_ROW = re.compile(r"(\S+)\s+(.+?)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+x$")


def run_tree(tree: Path, args: argparse.Namespace) -> dict[tuple[str, str], tuple[float, float]]:
    """(floor µs, liqmon µs) per (venue, frame type) from ``tree``'s floor.py, run with ``tree`` on the path."""
    command = [sys.executable, "bench/floor.py", "--frames", str(args.frames), "--rounds", str(args.rounds)]
    command += ["--venues", args.venues]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    return {(m[1], m[2]): (float(m[3]), float(m[4])) for line in out.splitlines() if (m := _ROW.match(line))}


def compare(baseline: Path, args: argparse.Namespace) -> None:
    """Alternate the baseline tree and this one; per frame type each keeps its best pass."""
    trees = {"baseline": baseline.resolve(), "this tree": Path(__file__).resolve().parents[1]}
    best: dict[str, dict[tuple[str, str], list[float]]] = {name: {} for name in trees}
    for _ in range(args.pairs):
        for name, tree in trees.items():
            for key, (floor_us, liqmon_us) in run_tree(tree, args).items():
                kept = best[name].setdefault(key, [floor_us, liqmon_us])
                kept[0], kept[1] = min(kept[0], floor_us), min(kept[1], liqmon_us)
    print(f"machine: {machine()}; {args.frames} frames per type; best of {args.pairs} alternating runs per side")
    header = f"{'venue':<12}{'frame type':<26}{'floor µs':>9}{'base µs':>9}{'ratio':>7}{'new µs':>9}{'ratio':>7}"
    header += f"{'speed-up':>9}"
    print(header)
    print("-" * len(header))
    before: list[float] = []
    after: list[float] = []
    for key, (base_floor, base_us) in best["baseline"].items():
        if key not in best["this tree"]:
            continue
        new_floor, new_us = best["this tree"][key]
        floor_us = min(base_floor, new_floor)
        before.append(base_us / floor_us)
        after.append(new_us / floor_us)
        print(
            f"{key[0]:<12}{key[1]:<26}{floor_us:>9.2f}{base_us:>9.2f}{before[-1]:>6.1f}x"
            f"{new_us:>9.2f}{after[-1]:>6.1f}x{base_us / new_us:>8.2f}x"
        )
    print("-" * len(header))
    print(
        f"median ratio {statistics.median(before):.1f}x -> {statistics.median(after):.1f}x, largest "
        f"{max(before):.1f}x -> {max(after):.1f}x over {len(after)} frame types"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venues", default=",".join(VENUES))
    parser.add_argument("--baseline", type=Path, help="a tree of another version to compare with, alternating")
    parser.add_argument("--pairs", type=int, default=3, help="alternating runs per side with --baseline")
    args = parser.parse_args()
    if args.baseline is not None:
        compare(args.baseline, args)
        return
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

            floor_s, liqmon_s = (
                seconds / len(frames) for seconds in best_alternating([floor_pass, liqmon_pass], args.rounds)
            )
            ratio = liqmon_s / floor_s
            ratios.append(ratio)
            label = kind + (" (REST)" if (venue, kind) in REST_SAMPLES else "")
            print(f"{venue:<12}{label:<24}{floor_s * 1e6:>10.2f}{liqmon_s * 1e6:>11.2f}{ratio:>7.1f}x")
    print("-" * len(header))
    print(f"median ratio {statistics.median(ratios):.1f}x, largest {max(ratios):.1f}x over {len(ratios)} frame types")


if __name__ == "__main__":
    main()
