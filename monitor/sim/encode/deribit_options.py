"""Deribit BTC options for the scenarios: ``markprice.options.btc_usd``, the price index, DVOL, book summaries.

The smile, open interest and DVOL come from :mod:`monitor.sim.options`; this
module writes them in Deribit's shapes (docs/options.md): mark IV frames with
``iv`` as a fraction every ``MARK_EVERY_S``, ``deribit_price_index`` every
``INDEX_EVERY_S``, ``deribit_volatility_index`` every ``DVOL_EVERY_S``, and a
``get_book_summary_by_currency`` body (``mark_iv`` in percent, open interest
in coins, the expiry's forward as ``underlying_price``) every ``BOOK_EVERY_S``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView
from monitor.sim.options import (
    SATURATION_PCT,
    Smile,
    black76,
    drawdowns,
    dvol,
    expiry_code,
    forward,
    listed_expiries,
    month_end,
    open_interest,
    smile,
    stress,
    strikes,
    t_years,
)
from monitor.venues.deribit_options import book_summary_path, index_name

CURRENCY: Final = "BTC"
INDEX: Final = index_name(CURRENCY)
MARK_EVERY_S: Final = 300.0
BOOK_EVERY_S: Final = 600.0
INDEX_EVERY_S: Final = 30.0
DVOL_EVERY_S: Final = 60.0
BOOK_PATH: Final = book_summary_path(CURRENCY)


@dataclass(frozen=True, slots=True)
class _Option:
    name: str
    expiry_ms: int
    strike: float
    is_call: bool


def _notify(channel: str, data: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def _chain(start_ms: int, start_price: float) -> list[_Option]:
    out = []
    for expiry in listed_expiries(start_ms):
        code = expiry_code(expiry)
        for strike in strikes(start_price, (expiry - start_ms) / 86_400_000):
            for is_call in (True, False):
                out.append(
                    _Option(f"{CURRENCY}-{code}-{strike:.0f}-{'C' if is_call else 'P'}", expiry, strike, is_call)
                )
    return out


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """The options frames and bodies of the whole scenario."""
    path = view.path
    rng = random.Random(view.rng.random())
    g = [stress(dd) for dd in drawdowns(path.price)]
    start_price = path.price[0]
    chain = _chain(path.start_ms, start_price)
    monthly = month_end(sorted({o.expiry_ms for o in chain}), path.start_ms)
    peak = [0.0] * len(g)
    running = 0.0
    for k, value in enumerate(g):
        running = max(running, value)
        peak[k] = running / SATURATION_PCT

    def priced(k: int) -> Iterator[tuple[_Option, float, float, float]]:
        """(option, IV, forward, t) for every option still listed at step ``k``."""
        ts = view.t_ms(k)
        index = view.index(k)
        noise = rng.gauss(0.0, 0.25)
        smiles: dict[int, tuple[float, float, Smile]] = {}
        for option in chain:
            if option.expiry_ms <= ts:
                continue
            held = smiles.get(option.expiry_ms)
            if held is None:
                t = t_years(option.expiry_ms, ts)
                held = smiles[option.expiry_ms] = (t, forward(index, t), smile(g[k], t * 365.0, noise))
            t, fwd, shape = held
            yield option, shape.at_strike(fwd, option.strike, t), fwd, t

    for k in view.ticks(INDEX_EVERY_S, offset_s=1.0):
        ts = view.t_ms(k)
        data = {"index_name": INDEX, "price": round(view.index(k), 2), "timestamp": ts}
        yield view.frame(view.recv(ts), _notify(f"deribit_price_index.{INDEX}", data))
    for k in view.ticks(DVOL_EVERY_S, offset_s=2.0):
        ts = view.t_ms(k)
        data = {"volatility": round(dvol(g[k], rng.gauss(0.0, 0.2)), 2), "timestamp": ts, "index_name": INDEX}
        yield view.frame(view.recv(ts), _notify(f"deribit_volatility_index.{INDEX}", data))
    for k in view.ticks(MARK_EVERY_S, offset_s=3.0):
        ts = view.t_ms(k)
        index = view.index(k)
        rows = [
            {
                "timestamp": ts,
                "mark_price": round(black76(fwd, o.strike, iv, t, o.is_call) / index, 4),
                "iv": round(iv, 4),
                "instrument_name": o.name,
            }
            for o, iv, fwd, t in priced(k)
        ]
        yield view.frame(view.recv(ts), _notify(f"markprice.options.{INDEX}", rows))
    for k in view.ticks(BOOK_EVERY_S, offset_s=153.0):
        ts = view.t_ms(k)
        index = view.index(k)
        rows = [
            {
                "instrument_name": o.name,
                "base_currency": CURRENCY,
                "quote_currency": CURRENCY,
                "underlying_index": "index_price",
                "underlying_price": round(fwd, 2),
                "estimated_delivery_price": round(index, 2),
                "mark_iv": round(iv * 100.0, 2),
                "open_interest": round(
                    open_interest(o.strike, o.is_call, start_price, peak[k], o.expiry_ms == monthly), 1
                ),
                "creation_timestamp": ts,
            }
            for o, iv, fwd, t in priced(k)
        ]
        yield view.rest(view.recv(ts), BOOK_PATH, {"jsonrpc": "2.0", "result": rows, "testnet": False})
