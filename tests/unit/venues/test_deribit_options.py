"""Deribit options: doc samples, a known smile through frames and bodies, throttling, shared state, bad input."""

from __future__ import annotations

import calendar
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.events import OptionsSummary
from monitor.venues.deribit import DeribitAdapter
from monitor.venues.deribit_options import book_summary_path, parse_option_name
from monitor.venues.instruments import InstrumentBook
from tests.conftest import SAMPLES
from tests.unit.options.test_computation import quadratic, strike_iv
from tests.unit.venues.test_fuzz_parsers_a import FUZZ, check, mutate

NOW = 1_770_249_600_000  # 2026-02-05 00:00 UTC
DAY = 86_400_000
BTC_BOOK = book_summary_path("BTC")
EXPIRIES = ("6FEB26", "13FEB26", "27FEB26", "27MAR26", "26JUN26")


def sample(name: str) -> Any:
    return orjson.loads((SAMPLES / name).read_text().splitlines()[0])


def notification(channel: str, data: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})


def summaries(events: list[Any]) -> list[OptionsSummary]:
    assert all(isinstance(e, OptionsSummary) for e in events)
    return events


def expiry_ms(code: str) -> int:
    name = parse_option_name(f"BTC-{code}-1-C")
    assert name is not None
    return name.expiry_ms


def smile_chain(forward: float, a: float = 0.55, b: float = 0.26, c: float = 0.4) -> list[tuple[str, float]]:
    """(instrument, IV) for calls and puts on 1000-wide strikes of every expiry, IVs from a smile in delta."""
    vol = quadratic(a, b, c)
    out = []
    for code in EXPIRIES:
        t = (expiry_ms(code) - NOW) / (365 * DAY)
        for strike in range(int(forward * 0.5) // 1000 * 1000, int(forward * 2), 1000):
            iv = strike_iv(vol, forward, float(strike), t)
            out += [(f"BTC-{code}-{strike}-C", iv), (f"BTC-{code}-{strike}-P", iv)]
    return out


def book_body(chain: list[tuple[str, float]], forward: float, index: float, ts: int, oi: float = 1.0) -> bytes:
    rows = [
        {
            "instrument_name": name,
            "mark_iv": round(iv * 100, 4),
            "underlying_price": forward,
            "open_interest": oi * (3.0 if name.endswith("-P") and "-60000-" in name else 1.0),
            "estimated_delivery_price": index,
            "creation_timestamp": ts,
            "base_currency": "BTC",
            "quote_currency": "USD",
        }
        for name, iv in chain
    ]
    return orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": rows})


def marks(chain: list[tuple[str, float]], ts: int, shift: float = 0.0) -> bytes:
    rows = [{"timestamp": ts, "mark_price": 0.01, "iv": round(iv + shift, 6), "instrument_name": n} for n, iv in chain]
    return notification("markprice.options.btc_usd", rows)


def test_option_names() -> None:
    name = parse_option_name("BTC-27FEB26-60000-P")
    assert name is not None
    assert (name.base, name.strike, name.is_call) == ("BTC", 60_000.0, False)
    assert name.expiry_ms == calendar.timegm((2026, 2, 27, 8, 0, 0)) * 1000
    assert parse_option_name("XRP_USDC-6FEB26-0d625-C") is not None
    assert parse_option_name("XRP_USDC-6FEB26-0d625-C").strike == 0.625  # type: ignore[union-attr]
    for bad in ("BTC-PERPETUAL", "BTC-27MAR26", "BTC-31XYZ26-1000-C", "BTC-27FEB26-abc-P", "BTC-27FEB26-100-X"):
        assert parse_option_name(bad) is None


def test_docs_samples_of_the_three_channels_and_the_book_summary() -> None:
    adapter = DeribitAdapter()
    # Mark IVs, index and DVOL alone give no summary: forwards and open interest come with the book.
    assert adapter.parse(notification("markprice.options.btc_usd", sample("deribit_markprice_options.jsonl")), 1) == []
    assert (
        adapter.parse(notification("deribit_volatility_index.btc_usd", sample("deribit_volatility_index.jsonl")), 1)
        == []
    )
    assert adapter.parse(notification("deribit_price_index.btc_usd", sample("deribit_price_index.jsonl")), 1) == []
    chain = adapter.options.chain("BTC")
    assert (chain.iv_ms["BTC-2JUN21-37000-P"], chain.iv["BTC-2JUN21-37000-P"]) == (1622470378005, 0.9)  # a fraction
    assert (chain.dvol, chain.index) == (129.36, 3937.89)
    body = (SAMPLES / "deribit_book_summary_option_rest.jsonl").read_bytes()
    [event] = summaries(adapter.parse_rest(book_summary_path("ETH"), body, 1_550_227_953_000))
    # One ETH put, 0.55 coins of open interest, no mark_iv in the sample: no tenor, no calls.
    assert (event.base, event.symbol, event.venue, event.contract) == ("ETH", "eth_usd", "deribit", "inverse")
    assert event.ts_ms == 1550227952163
    assert event.put_oi_top == ((140.0, 0.55),)
    assert event.put_call_oi_ratio is None
    assert event.tenors == {}
    assert event.dvol is None


def test_a_known_smile_through_the_book_and_mark_frames_gives_its_risk_reversal() -> None:
    forward = 70_000.0
    chain = smile_chain(forward)
    adapter = DeribitAdapter()
    [event] = summaries(adapter.parse_rest(BTC_BOOK, book_body(chain, forward, 69_800.0, NOW), NOW + 50))
    vol = quadratic(0.55, 0.26, 0.4)
    assert set(event.tenors) == {"7", "30", "90"}
    for point in event.tenors.values():
        assert point.rr25 == pytest.approx(-0.13, abs=0.001)  # RR25 = −b/2 at every tenor of a flat term structure
        assert point.bf25 == pytest.approx(0.5 * (vol(0.25) + vol(0.75)) - point.atm_iv, abs=0.001)
    assert event.index_price == 69_800.0
    assert event.put_oi_top[0][0] == 60_000.0
    assert event.put_call_oi_ratio == pytest.approx(1.0 + 2.0 * len(EXPIRIES) / (len(chain) / 2))
    # Mark IVs 5 vol points higher everywhere, 20 s later: ATM up 5; the skew stays near −13 (each strike's
    # delta moved with its IV, so the 25Δ points sit at other strikes).
    [later] = summaries(adapter.parse(marks(chain, NOW + 20_000, shift=0.05), NOW + 20_050))
    assert later.ts_ms == NOW + 20_000
    assert later.tenors["30"].atm_iv == pytest.approx(event.tenors["30"].atm_iv + 0.05, abs=0.002)
    assert later.tenors["30"].rr25 == pytest.approx(-0.13, abs=0.01)


def test_mark_frames_give_a_summary_at_most_every_ten_seconds_and_forwards_follow_the_index() -> None:
    forward = 70_000.0
    chain = smile_chain(forward)
    adapter = DeribitAdapter()
    adapter.parse_rest(BTC_BOOK, book_body(chain, forward, 70_000.0, NOW), NOW)
    assert adapter.parse(marks(chain, NOW + 4_000), NOW + 4_000) == []
    assert len(adapter.parse(marks(chain, NOW + 10_000), NOW + 10_000)) == 1
    assert adapter.parse(marks(chain, NOW + 15_000), NOW + 15_000) == []
    # The index falls 10 %: forwards move with it, so the same IVs now sit at higher deltas.
    index = {"index_name": "btc_usd", "price": 63_000.0, "timestamp": NOW + 16_000}
    adapter.parse(notification("deribit_price_index.btc_usd", index), NOW + 16_000)
    assert adapter.options.chain("BTC").forwards_now()[expiry_ms("27FEB26")] == pytest.approx(63_000.0)
    [moved] = summaries(adapter.parse(marks(chain, NOW + 21_000), NOW + 21_000))
    assert moved.index_price == 63_000.0
    assert moved.tenors["30"].rr25 != pytest.approx(-0.13, abs=0.001)


def test_options_listed_after_the_book_summary_and_expiries_that_pass_change_the_next_summary() -> None:
    forward = 70_000.0
    chain = smile_chain(forward)
    adapter = DeribitAdapter()
    [first] = summaries(adapter.parse_rest(BTC_BOOK, book_body(chain, forward, forward, NOW), NOW))
    # A mark frame that lists a strike the book did not have yet (next to the front expiry's 25Δ call, with a
    # far lower IV): it enters the smile at once.
    front = min(EXPIRIES, key=expiry_ms)
    extra = [(f"BTC-{front}-71500-C", 0.2), (f"BTC-{front}-71500-P", 0.2)]
    [with_extra] = summaries(adapter.parse(marks(chain + extra, NOW + 10_000), NOW + 10_000))
    other = DeribitAdapter()
    other.parse_rest(BTC_BOOK, book_body(chain, forward, forward, NOW), NOW)
    [without] = summaries(other.parse(marks(chain, NOW + 10_000), NOW + 10_000))
    assert with_extra.tenors["7"].rr25 < without.tenors["7"].rr25 - 0.002
    assert with_extra.tenors["90"] == without.tenors["90"]
    # Once the front expiry has passed, its options count neither in the smile nor in the open interest.
    after = expiry_ms(front) + 1
    [later] = summaries(adapter.parse(marks(chain, after), after))
    # A strike listed in every expiry with 1 coin of put OI each: the sum over expiries loses the front one.
    assert first.put_oi_top[-1] == (43_000.0, float(len(EXPIRIES)))
    assert later.put_oi_top[-1] == (43_000.0, float(len(EXPIRIES) - 1))
    assert "7" not in later.tenors or later.tenors["7"] != with_extra.tenors["7"]
    # The next book summary lists the same options with twice the open interest: the figures follow it.
    body = book_body(chain + extra, forward, forward, after, oi=2.0)
    [doubled] = summaries(adapter.parse_rest(BTC_BOOK, body, after + 1))
    assert doubled.put_oi_top[-1] == (43_000.0, 2.0 * (len(EXPIRIES) - 1))


def test_adapters_on_one_instrument_book_share_the_chain() -> None:
    book = InstrumentBook("deribit")
    poller, socket = DeribitAdapter(book), DeribitAdapter(book)
    chain = smile_chain(70_000.0)
    poller.parse_rest(BTC_BOOK, book_body(chain, 70_000.0, 70_000.0, NOW), NOW)
    assert len(socket.parse(marks(chain, NOW + 30_000), NOW + 30_000)) == 1
    assert DeribitAdapter().parse(marks(chain, NOW + 30_000), NOW + 30_000) == []  # another book: no chain


def test_options_are_polled_and_subscribed_only_for_btc_and_eth() -> None:
    adapter = DeribitAdapter()
    assert [p.path for p in adapter.rest_polls(["BTC-PERPETUAL", "SOL_USDC-PERPETUAL"])] == [BTC_BOOK]
    assert all(p.interval_s >= 10 for p in adapter.rest_polls(["BTC-PERPETUAL", "ETH-PERPETUAL"]))
    assert [c.label for c in adapter.connections(["SOL_USDC-PERPETUAL"])] == ["instruments-1"]


def test_bad_rows_are_skipped_and_counted_bad_frames_rejected() -> None:
    adapter = DeribitAdapter()
    chain = smile_chain(70_000.0)
    adapter.parse_rest(BTC_BOOK, book_body(chain, 70_000.0, 70_000.0, NOW), NOW)
    rows = orjson.loads(marks(chain, NOW + 10_000))["params"]["data"]
    rows[0]["iv"] = 55.0  # 5500 %: a broken print
    rows[1]["instrument_name"] = "BTC-PERPETUAL"
    assert len(adapter.parse(notification("markprice.options.btc_usd", rows), NOW + 10_000)) == 1
    assert adapter.drain_issues() == [
        ("value", "deribit markprice.options.btc_usd: 2 row(s) with a bad name or IV skipped")
    ]
    assert adapter.options.chain("BTC").iv[chain[0][0]] == pytest.approx(chain[0][1], abs=1e-6)
    for data, reason in (
        ([{"timestamp": NOW, "iv": "high", "instrument_name": chain[0][0]}], "value"),  # text, not a number
        ({"iv": 0.5}, "schema"),
    ):
        with pytest.raises(ParseError) as caught:
            adapter.parse(notification("markprice.options.btc_usd", data), NOW)
        assert caught.value.reason == reason
    with pytest.raises(ParseError, match="volatility out of range"):
        adapter.parse(
            notification(
                "deribit_volatility_index.btc_usd", {"volatility": -3, "timestamp": 1, "index_name": "btc_usd"}
            ),
            1,
        )
    with pytest.raises(ParseError, match="not JSON"):
        adapter.parse_rest(BTC_BOOK, b"<html>", NOW)
    with pytest.raises(ParseError, match="unexpected REST path"):
        adapter.parse_rest("/api/v2/public/get_index_price?index_name=btc_usd", b"{}", NOW)
    with pytest.raises(ParseError, match="no options followed for currency ''"):
        adapter.parse_rest("/api/v2/public/get_book_summary_by_currency?kind=option", b'{"result": []}', NOW)
    with pytest.raises(ParseError, match="no options followed for index 'doge_usd'") as unknown:
        adapter.parse(notification("markprice.options.doge_usd", []), NOW)
    assert unknown.value.reason == "unknown_channel"


_FUZZ_CHAIN = smile_chain(70_000.0)[:40]
_FUZZ_BOOK = book_body(_FUZZ_CHAIN, 70_000.0, 70_000.0, NOW)
_FUZZ_MARKS = marks(_FUZZ_CHAIN, NOW + 60_000).decode()


@FUZZ
@given(data=st.data())
def test_a_mangled_book_summary_gives_a_valid_summary_or_a_parse_error(data: st.DataObject) -> None:
    adapter = DeribitAdapter()
    body = orjson.loads(_FUZZ_BOOK)
    for _ in range(data.draw(st.integers(1, 3))):
        body = mutate(body, data)
    reason = None
    events: list[Any] = []
    try:
        events = adapter.parse_rest(BTC_BOOK, orjson.dumps(body), NOW)
    except ParseError as exc:
        reason = exc.reason
    assert reason in (None, "schema", "json", "value", "implausible")
    for event in summaries(events):
        assert event.venue == "deribit"
    # Whatever the body was, the next mark frame is read against the chain it left behind.
    check(adapter, _FUZZ_MARKS)


def test_a_book_summary_nested_too_deeply_is_a_too_deep_parse_error() -> None:
    # Found by `make fuzz`: a value nested 1,000 deep inside a polled body exhausted the recursion limit.
    body = (
        '{"jsonrpc":"2.0","id":1,"result":[{"instrument_name":"BTC-27FEB26-60000-P","low":'
        + "[" * 1000
        + "]" * 1000
        + "}]}"
    )
    with pytest.raises(ParseError) as caught:
        DeribitAdapter().parse_rest(BTC_BOOK, body, NOW)
    assert caught.value.reason == "too_deep"
