"""Bitfinex: channel ids per connection, the liquidation side rule, executions only, status pushes, bad input."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.bitfinex import BitfinexAdapter, names

RECV = 1_738_771_200_000
LIQ_ACK = '{"event":"subscribed","channel":"status","chanId":7,"key":"liq:global"}'
STATUS_ACK = '{"event":"subscribed","channel":"status","chanId":9,"key":"deriv:tETHF0:USTF0"}'


def position(amount: float, *, is_match: int = 1, price: float | None = 2000.0) -> str:
    row = ["pos", 42, 1_738_771_199_000, None, "tETHF0:USTF0", amount, 1900.0, None, is_match, 1, None, price]
    return orjson.dumps([7, [row]]).decode()


def subscribed() -> BitfinexAdapter:
    adapter = BitfinexAdapter()
    assert adapter.parse(LIQ_ACK, RECV) == []
    assert adapter.parse(STATUS_ACK, RECV) == []
    return adapter


@pytest.mark.parametrize(("amount", "side"), [(1.5, "long"), (-1.5, "short")])
def test_the_sign_of_the_position_amount_is_the_liquidated_side(amount: float, side: str) -> None:
    [event] = subscribed().parse(position(amount), RECV)
    assert isinstance(event, Liquidation)
    assert (event.side, event.qty_base, event.price, event.notional_usd) == (side, 1.5, 2000.0, 3000.0)
    assert (event.base, event.quote, event.id, event.ts_ms) == ("ETH", "USDT", "bfx-42", 1_738_771_199_000)


def test_a_trigger_is_not_counted_only_its_execution() -> None:
    assert subscribed().parse(position(1.0, is_match=0, price=None), RECV) == []


def test_status_gives_funding_per_8h_and_open_interest_at_the_mark() -> None:
    status = [1_738_771_199_000, None, 2001, 2000, None, 1e6, None, 1_738_800_000_000, 0.0001, 3, None, -0.0002,
              None, None, 2002.0, None, None, 1500.0]  # fmt: skip
    funding, oi = subscribed().parse(orjson.dumps([9, status]), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert (funding.rate, funding.interval_h, funding.next_funding_ms, funding.mark_price) == (
        -0.0002,
        8.0,
        1_738_800_000_000,
        2002.0,
    )
    assert (oi.oi_base, oi.oi_usd) == (1500.0, 1500.0 * 2002.0)


def test_channel_ids_are_forgotten_on_reconnect() -> None:
    adapter = subscribed()
    adapter.reset()
    with pytest.raises(ParseError) as info:
        adapter.parse(position(1.0), RECV)
    assert info.value.reason == "unknown_channel"


def test_heartbeats_and_pongs_are_control_frames_errors_are_issues() -> None:
    adapter = subscribed()
    assert adapter.parse('[7,"hb"]', RECV) == []
    assert adapter.parse('{"event":"pong","ts":1,"cid":1}', RECV) == []
    assert adapter.parse('{"event":"error","msg":"subscribe: invalid","code":10300}', RECV) == []
    assert [reason for reason, _ in adapter.drain_issues()] == ["subscription_rejected"]


@pytest.mark.parametrize(
    ("frame", "reason", "where"),
    [
        ("[7,[[", "json", ""),
        ('[7,[["pos",42,-1,null,"tETHF0:USTF0",1,1,null,1,1,null,2]]]', "value", "$[0][2]"),
        ('[7,[["pos",42,1,null,"tETHF0:USTF0","1",1,null,1,1,null,2]]]', "value", "$[0][5]"),
        ('[7,[["pos",42,1,null,"tETHF0:USTF0",[],1,null,1,1,null,2]]]', "schema", "$[0][5]"),
        ('[9,[1,null,2,2,null,1,null,5,0,1,null,"x"]]', "value", "$[11]"),
        ('"text"', "schema", ""),
    ],
)
def test_bad_frames_name_the_field(frame: str, reason: str, where: str) -> None:
    with pytest.raises(ParseError) as info:
        subscribed().parse(frame, RECV)
    assert info.value.reason == reason
    assert where in str(info.value)


def test_symbols_and_connections() -> None:
    assert names("tBTCF0:USTF0") == ("BTC", "USDT")
    assert names("tBSVUSD") == ("BSV", "USD")
    symbols = [f"tC{i}F0:USTF0" for i in range(30)]
    first, second = BitfinexAdapter().connections(symbols, "ws://127.0.0.1:1")
    assert first.url == second.url == "ws://127.0.0.1:1/ws/2"
    assert [orjson.loads(m)["key"] for m in first.subscribe][:2] == ["liq:global", "deriv:tC0F0:USTF0"]
    assert (len(first.subscribe), len(second.subscribe)) == (25, 6)
    assert first.bases == ()
    assert second.bases
