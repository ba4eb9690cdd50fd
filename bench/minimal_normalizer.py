"""How close to the decode floor any pure-Python normalizer can come, next to liqmon's own parsers.

For three single-event frame types this times, alternately and on the same
generated frames as ``bench/floor.py``:

* the **floor**: ``bench/floor.py``'s bare msgspec decode of the frame;
* a **minimal normalizer**: liqmon's typed reader for the frame, the event's id
  (``event_id``) and the event struct built with its constructor. Nothing else:
  no instrument lookup, no side mapping, no unit conversion, no checks, the
  header fixed. No parser that emits liqmon's events with ids can do less;
* **liqmon**: ``adapter.parse`` / ``parse_rest`` with the instrument fixtures loaded.

It prints each one's µs per frame and its ratio to the floor, so the floor
targets can be read against what the Python side of any normalizer costs.

Run: ``.venv/bin/python bench/minimal_normalizer.py [--frames 20000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any

from common import machine
from floor import best_alternating, floor_decoder
from parse import feeder, generated, load_book, sample_kinds

from monitor.events import Event, Liquidation, OpenInterest
from monitor.venues import binance, bybit
from monitor.venues.common import event_id
from monitor.venues.registry import adapter_class

# One instrument's header, taken as given (a real parser looks it up per frame).
HEADER = ("binance", "BTCUSDT", "BTC", "USDT", "linear")
RECV_MS = 1_738_771_200_000


def binance_force_order(frame: str) -> list[Event]:
    order = binance._PAYLOADS.decode(frame).o
    qty, price = order.q + 0.0, order.p + 0.0
    ts = order.T
    event_key = f"binance|{order.s}|{order.S}"
    return [Liquidation(event_id(event_key, ts, qty, price), *HEADER, ts, RECV_MS, "long", price, qty, qty * price)]


def bybit_all_liquidation(frame: str) -> list[Event]:
    events: list[Event] = []
    for row in bybit._ALL_LIQUIDATIONS.decode(bybit._FRAME.decode(frame).data):
        size, price = row.v + 0.0, row.p + 0.0
        ident = event_id(f"bybit|{row.s}|{row.S}", row.T, size, price)
        events.append(Liquidation(ident, *HEADER, row.T, RECV_MS, "long", price, size, size * price))
    return events


def binance_open_interest(body: str) -> list[Event]:
    reply = binance._OPEN_INTEREST.decode(body)
    size = reply.openInterest + 0.0
    ident = event_id(f"binance|{reply.symbol}|oi", reply.time, size)
    return [OpenInterest(ident, *HEADER, reply.time, RECV_MS, size, None)]


CASES: list[tuple[str, str, Callable[[str], list[Event]]]] = [
    ("binance", "forceOrder", binance_force_order),
    ("bybit", "allLiquidation", bybit_all_liquidation),
    ("binance", "openInterest_rest", binance_open_interest),
]


def timed(fn: Callable[[str], Any], frames: list[str]) -> float:
    start = time.perf_counter()
    for frame in frames:
        fn(frame)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.frames} frames per type; best of {args.rounds} alternating rounds")
    print(f"{'venue':<9}{'frame type':<19}{'floor µs':>9}{'minimal µs':>11}{'ratio':>7}{'liqmon µs':>10}{'ratio':>7}")
    for venue, kind, minimal in CASES:
        frames = generated(sample_kinds(venue)[kind], args.frames)
        adapter = adapter_class(venue)()
        load_book(adapter)
        feed = feeder(venue, kind)
        sides: list[Callable[[str], Any]] = [floor_decoder(frames[0]), minimal, functools.partial(feed, adapter)]
        passes = [functools.partial(timed, side, frames) for side in sides]
        floor_us, minimal_us, liqmon_us = (s / len(frames) * 1e6 for s in best_alternating(passes, args.rounds))
        print(
            f"{venue:<9}{kind:<19}{floor_us:>9.2f}{minimal_us:>11.2f}{minimal_us / floor_us:>6.1f}x"
            f"{liqmon_us:>10.2f}{liqmon_us / floor_us:>6.1f}x"
        )


if __name__ == "__main__":
    main()
