"""Feed samplers and venue frames, checked through the real venue adapters."""

from __future__ import annotations

import random

import pytest

from monitor.events import Liquidation
from monitor.sim.encode import encoder
from monitor.sim.encode.common import VenueView, batches, largest_per_second, largest_per_side_per_second
from monitor.sim.market import Liq, MarketPath
from monitor.venues.registry import VENUES, create_adapter


def _liq(ts: int, usd: float, side: str = "long") -> Liq:
    return Liq(ts_ms=ts, side=side, usd=usd, price=50_000.0)


def test_largest_per_second_keeps_one_per_second() -> None:
    liqs = [_liq(1_000, 5.0), _liq(1_400, 9.0), _liq(1_999, 2.0), _liq(2_000, 1.0)]
    kept = largest_per_second(liqs)
    assert [(q.ts_ms, q.usd) for q in kept] == [(1_400, 9.0), (2_000, 1.0)]


def test_bitget_sampler_keeps_the_largest_long_and_short() -> None:
    liqs = [_liq(1_000, 5.0), _liq(1_100, 7.0), _liq(1_200, 3.0, "short"), _liq(1_300, 4.0, "short")]
    kept = largest_per_side_per_second(liqs)
    assert sorted((q.side, q.usd) for q in kept) == [("long", 7.0), ("short", 4.0)]


def test_batches_group_by_push_interval() -> None:
    liqs = [_liq(100, 1), _liq(400, 1), _liq(600, 1), _liq(1_700, 1)]
    assert [(t, len(b)) for t, b in batches(liqs, 500)] == [(500, 2), (1_000, 1), (2_000, 1)]


def _view(venue: str, liqs: list[Liq]) -> VenueView:
    n = 120  # ten minutes of 5 s steps
    path = MarketPath(
        start_ms=1_770_249_600_000,
        step_ms=5_000,
        price=[50_000.0] * n,
        premium=[0.0002] * n,
        funding_8h=[-0.0001] * n,
        oi_base=[100_000.0] * n,
    )
    return VenueView(venue=venue, path=path, share=0.1, liqs=liqs, rng=random.Random(1))


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_frames_parse_to_the_modelled_market(venue: str) -> None:
    start = 1_770_249_600_000
    liqs = [
        Liq(
            ts_ms=start + 10_000 + i * 1_500,
            side="long" if i % 3 else "short",
            usd=50_000.0 + 1_000 * i,
            price=49_900.0,
            venue=venue,
        )
        for i in range(40)
    ]
    module = encoder(venue)
    adapter = create_adapter(venue)
    events = []
    for record in module.encode(_view(venue, liqs)):
        assert record.frame is not None
        if record.meta is not None:
            adapter.load_instruments(record.meta, record.frame)
        elif record.rest is not None:
            events += adapter.parse_rest(record.rest, record.frame, record.recv_ms)
        else:
            events += adapter.parse(record.frame, record.recv_ms)
    assert adapter.drain_issues() == []
    shown = module.sample(liqs)
    got = [e for e in events if isinstance(e, Liquidation)]
    assert len(got) == len(shown)
    for event, liq in zip(sorted(got, key=lambda e: e.ts_ms), shown, strict=True):
        assert event.side == liq.side
        assert event.base == "BTC"
        assert event.notional_usd == pytest.approx(liq.usd, rel=0.02)
    funding = [e for e in events if e.kind == "funding"]
    oi = [e for e in events if e.kind == "open_interest"]
    assert funding
    assert oi
    assert all(f.rate_8h == pytest.approx(-0.0001, abs=0.00003) for f in funding)
    assert all(o.oi_base == pytest.approx(10_000, rel=0.02) for o in oi)
