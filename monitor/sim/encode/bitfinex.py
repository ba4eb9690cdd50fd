"""Bitfinex: ``liq:global`` (every liquidation, as the position's execution) and ``deriv:tBTCF0:USTF0`` status.

Frames carry the channel ids the simulator assigns (a recording carries the
``subscribed`` events first, so a replay knows which channel is which).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.capture.format import CaptureRecord
from monitor.sim.encode.common import VenueView, everything, qty_steps, round_price
from monitor.sim.protocols.bitfinex import channel_id

SYMBOL: Final = "tBTCF0:USTF0"
STATUS_KEY: Final = f"deriv:{SYMBOL}"
LIQ_KEY: Final = "liq:global"
STATUS_EVERY_S: Final = 5.0
INSTRUMENTS_PATH: Final = "/v2/status/deriv?keys=ALL"
sample = everything


def _status(view: VenueView, k: int) -> list[object]:
    ts = view.t_ms(k)
    mark = view.mark(k)
    funding = round(view.funding_8h(k), 8)
    return [
        ts, None, round(mark, 1), round(view.index(k), 1), None, 5_000_000.0, None,
        view.next_funding_ms(ts), round(funding / 2, 8), 1, None, funding, None, None,
        round(mark, 1), None, None, round(view.oi_base(k), 5), None, None, None, None, 0.3,
    ]  # fmt: skip


def encode(view: VenueView) -> Iterator[CaptureRecord]:
    """The derivatives list, the subscription acks, liquidations and status pushes."""
    yield view.meta(INSTRUMENTS_PATH, [[SYMBOL, *_status(view, 0)]])
    for key in (LIQ_KEY, STATUS_KEY):
        ack = {"event": "subscribed", "channel": "status", "chanId": channel_id(key), "key": key}
        yield view.frame(view.path.start_ms, ack)
    for n, liq in enumerate(sample(view.liqs)):
        amount = qty_steps(liq.usd / liq.price, 0.0001)
        row = [
            "pos", 170_000_000 + n, liq.ts_ms, None, SYMBOL, amount if liq.side == "long" else -amount,
            round_price(liq.price * (1.02 if liq.side == "long" else 0.98)), None, 1, 1, None, round_price(liq.price),
        ]  # fmt: skip
        yield view.frame(view.recv(liq.ts_ms), [channel_id(LIQ_KEY), [row]])
    for k in view.ticks(STATUS_EVERY_S, offset_s=2.0):
        yield view.frame(view.recv(view.t_ms(k)), [channel_id(STATUS_KEY), _status(view, k)])
