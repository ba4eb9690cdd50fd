"""Parser throughput per venue: frames/s and events/s on the samples and on generated frame sets.

For every venue adapter that imports, the instrument fixtures are loaded into
its book, then three sets are parsed:

* ``samples``: the venue's lines from the vendored ``tests/fixtures/samples``
  (bare docs payloads wrapped in their envelope), repeated to at least ``--sample-runs``
  frames;
* one generated set per sample kind (``forceOrder``, ``tickers``, ...):
  ``--frames`` frames built from the sample shapes with every decimal value
  varied, so ids and numbers differ from frame to frame;
* for Binance, all-market ``!markPrice@arr`` frames of 300 symbols each.

``--rounds N`` parses every set N times and keeps the fastest pass (the one
least disturbed on a shared machine).

Last, **capture order**: every generated frame of every venue, interleaved as a
capture interleaves them (a seeded shuffle), each parsed by its venue's
adapter. It is compared with the same frames parsed one type at a time (the
sum of the per-set times above), which is what the per-set figures flatter.

Run: ``.venv/bin/python bench/parse.py [--frames 100000] [--venues binance,okx] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from monitor.errors import ParseError
from monitor.venues.adapter import VenueAdapter
from monitor.venues.registry import VENUES, adapter_class

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
INSTRUMENTS = ROOT / "tests" / "fixtures" / "instruments"
# Samples that are REST bodies, and the path they answer.
REST_SAMPLES = {
    ("binance", "openInterest_rest"): "/fapi/v1/openInterest?symbol=BTCUSDT",
    ("deribit", "book_summary_option_rest"): "/api/v2/public/get_book_summary_by_currency?currency=ETH&kind=option",
}
Feed = Callable[[VenueAdapter, str], int]


def load_book(adapter: VenueAdapter) -> int:
    """Load every ``<venue>_*.json`` instrument fixture through whichever instrument path reads it."""
    loaded = 0
    for fixture in sorted(INSTRUMENTS.glob(f"{adapter.name}_*.json")):
        body = fixture.read_bytes()
        for path in [*(r.path for r in adapter.instrument_requests()), "instruments"]:
            try:
                count = adapter.load_instruments(path, body)
            except ParseError:
                continue
            if count:
                loaded += count
                break
    adapter.drain_issues()
    return loaded


def deribit_channel(kind: str, doc: Any) -> str:
    """The channel Deribit sends a ``kind`` sample on (the options channels are named by index, not instrument)."""
    first = doc[0] if isinstance(doc, list) and doc else doc
    item = first if isinstance(first, dict) else {}
    if kind in ("price_index", "volatility_index"):
        return f"deribit_{kind}.{item.get('index_name', 'btc_usd')}"
    if kind == "markprice_options":
        currency = str(item.get("instrument_name", "BTC")).split("-", 1)[0].lower()
        return f"markprice.options.{currency}_usd"
    return f"{kind}.{item.get('instrument_name', 'BTC-PERPETUAL')}.100ms"


def wrap_deribit(kind: str, line: str) -> str:
    """Deribit docs examples show only the notification's ``data``; put them in their envelope."""
    doc = orjson.loads(line)
    if isinstance(doc, dict) and "jsonrpc" in doc:
        return line
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": deribit_channel(kind, doc), "data": doc}}
    ).decode()


def sample_kinds(venue: str) -> dict[str, list[str]]:
    """Sample frames by kind (the file name after ``<venue>_``)."""
    kinds: dict[str, list[str]] = {}
    for path in sorted(SAMPLES.glob(f"{venue}_*.jsonl")):
        kind = path.stem[len(venue) + 1 :]
        frames = [line for line in path.read_text().splitlines() if line.strip()]
        if venue == "deribit":
            frames = [wrap_deribit(kind, line) for line in frames]
        kinds[kind] = frames
    return kinds


def feeder(venue: str, kind: str) -> Feed:
    """A function that parses one frame (or REST body) and returns the number of events."""
    rest = REST_SAMPLES.get((venue, kind))
    if rest is not None:
        return lambda adapter, frame: len(adapter.parse_rest(rest, frame, 1_738_771_200_000))
    return lambda adapter, frame: len(adapter.parse(frame, 1_738_771_200_000))


def vary(value: Any, index: int) -> Any:
    """``value`` with every decimal number scaled by a factor that depends on ``index``."""
    factor = 1.0 + (index % 997) * 1e-4
    if isinstance(value, dict):
        return {k: vary(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [vary(v, index) for v in value]
    if isinstance(value, float):
        return value * factor
    if isinstance(value, str) and "." in value:
        try:
            return repr(float(value) * factor)
        except ValueError:
            return value
    return value


def generated(frames: list[str], count: int) -> list[str]:
    docs = [orjson.loads(f) for f in frames]
    return [orjson.dumps(vary(docs[i % len(docs)], i)).decode() for i in range(count)]


def binance_mark_arrays(count: int, width: int = 300) -> list[str]:
    row = orjson.loads((SAMPLES / "binance_markPrice.jsonl").read_text().splitlines()[2])[0]
    frames = []
    for i in range(count):
        rows = [dict(vary(row, i + j), s=f"C{j}USDT") for j in range(width)]
        frames.append(orjson.dumps({"stream": "!markPrice@arr@1s", "data": rows}).decode())
    return frames


def run(adapter: VenueAdapter, frames: Iterable[str], feed: Feed) -> tuple[int, int, int, float]:
    """(frames, events, parse errors, seconds) for one pass over ``frames``."""
    n = events = errors = 0
    start = time.perf_counter()
    for frame in frames:
        n += 1
        try:
            events += feed(adapter, frame)
        except ParseError:
            errors += 1
    elapsed = time.perf_counter() - start
    adapter.drain_issues()
    return n, events, errors, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="generated frames per sample kind")
    parser.add_argument("--sample-runs", type=int, default=20_000, help="sample frames parsed per venue")
    parser.add_argument("--venues", default=",".join(VENUES), help="comma-separated venues")
    parser.add_argument("--rounds", type=int, default=1, help="passes per set; the fastest is reported")
    args = parser.parse_args()

    header = (
        f"{'venue':<12}{'set':<26}{'frames':>10}{'events':>10}{'errors':>8}"
        f"{'frames/s':>12}{'events/s':>12}{'µs/frame':>10}"
    )
    print(header)
    print("-" * len(header))
    mixed: list[tuple[VenueAdapter, Feed, str]] = []
    one_type_s = 0.0
    for venue in args.venues.split(","):
        try:
            cls = adapter_class(venue)
        except (ImportError, AttributeError) as exc:
            print(f"{venue:<12}not available: {exc}")
            continue
        kinds = sample_kinds(venue)
        sets: list[tuple[str, list[str], Feed]] = []
        for kind, frames in kinds.items():
            repeat = max(1, args.sample_runs // max(1, sum(len(f) for f in kinds.values())))
            sets.append((f"samples:{kind}", frames * repeat, feeder(venue, kind)))
        for kind, frames in kinds.items():
            sets.append((f"generated:{kind}", generated(frames, args.frames), feeder(venue, kind)))
        if venue == "binance":
            sets.append(
                (
                    "generated:markPrice@arr×300",
                    binance_mark_arrays(max(1, args.frames // 100)),
                    feeder(venue, "markPrice"),
                )
            )
        adapter = cls()
        books = load_book(adapter)
        total = [0, 0, 0, 0.0]
        for label, frames, feed in sets:
            n, events, errors, seconds = min(
                (run(adapter, frames, feed) for _ in range(max(1, args.rounds))), key=lambda result: result[3]
            )
            if label.startswith("generated:"):
                mixed.extend((adapter, feed, frame) for frame in frames)
                one_type_s += seconds
            total = [total[0] + n, total[1] + events, total[2] + errors, total[3] + seconds]
            print(
                f"{venue:<12}{label:<26}{n:>10}{events:>10}{errors:>8}{n / seconds:>12,.0f}"
                f"{events / seconds:>12,.0f}{seconds / n * 1e6:>10.1f}"
            )
        n, events, errors, seconds = int(total[0]), int(total[1]), int(total[2]), float(total[3])
        if n:
            print(
                f"{venue:<12}{f'ALL ({books} instruments)':<26}{n:>10}{events:>10}{errors:>8}"
                f"{n / seconds:>12,.0f}{events / seconds:>12,.0f}{seconds / n * 1e6:>10.1f}"
            )
        print()
    capture_order(mixed, one_type_s, args.rounds)


def capture_order(mixed: list[tuple[VenueAdapter, Feed, str]], one_type_s: float, rounds: int) -> None:
    """Parse every generated frame interleaved across venues; compare with one type at a time."""
    if not mixed:
        return
    random.Random(1).shuffle(mixed)

    def one_pass() -> float:
        start = time.perf_counter()
        for adapter, feed, frame in mixed:
            try:
                feed(adapter, frame)
            except ParseError:
                pass
        return time.perf_counter() - start

    seconds = min(one_pass() for _ in range(max(1, rounds)))
    n = len(mixed)
    print(
        f"capture order (venues interleaved): {n} frames, {n / seconds:,.0f} frames/s, "
        f"{seconds / n * 1e6:.2f} µs/frame; one type at a time {one_type_s / n * 1e6:.2f} µs/frame "
        f"(interleaved costs {seconds / one_type_s:.2f}x)"
    )


if __name__ == "__main__":
    main()
