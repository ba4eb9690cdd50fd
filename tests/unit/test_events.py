"""Event model validation and the orjson codec round trip."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alert import Alert, decode_alert, encode_alert
from monitor.bus.codec import decode, decode_batch, encode, encode_batch, pack
from monitor.errors import ImplausibleEvent, InvalidEvent
from monitor.events import (
    BOUNDS,
    HEADER_FIELDS,
    MAX_PRICE,
    MAX_TS_MS,
    Funding,
    Gap,
    Liquidation,
    OpenInterest,
    canonical_base,
    make_funding,
    make_header,
    make_liquidation,
    make_open_interest,
    rate_8h,
    stable_id,
    validated,
)

COMMON = {
    "id": "e1",
    "venue": "binance",
    "symbol": "BTCUSDT",
    "base": "BTC",
    "quote": "USDT",
    "contract": "linear",
    "ts_ms": 1738771200123,
    "recv_ms": 1738771200150,
}


def made(maker: Any, **fields: Any) -> Any:
    """An event made from all its fields, the header checked first by make_header (as an Instrument does)."""
    header = make_header(*(fields.pop(name) for name in HEADER_FIELDS))
    return maker(header=header, **fields)


def liquidation(**changes: object) -> Liquidation:
    fields = {**COMMON, "side": "long", "price": 9910.0, "qty_base": 0.014, "notional_usd": 138.74, **changes}
    event: Liquidation = made(make_liquidation, **fields)
    return event


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("price", math.nan, "price must be finite"),
            ("price", math.inf, "price must be finite"),
            ("qty_base", -1.0, "qty_base must not be negative"),
            ("notional_usd", -5.0, "notional_usd must not be negative"),
            ("side", "sell", "side must be 'long' or 'short'"),
            ("contract", "quanto", "contract must be 'inverse' or 'linear'"),
            ("ts_ms", -1, "ts_ms must be a non-negative integer"),
            ("ts_ms", 1.5, "ts_ms must be a non-negative integer"),
            ("id", "", "empty id"),
            ("price", "100", "price must be a number"),
        ],
    )
    def test_bad_liquidation_fields_are_rejected_by_name(self, field: str, value: object, message: str) -> None:
        with pytest.raises(InvalidEvent, match=message):
            liquidation(**{field: value})

    def test_unknown_notional_is_allowed_as_null(self) -> None:
        assert liquidation(notional_usd=None).notional_usd is None

    def test_funding_rate_may_be_negative_but_not_nan(self) -> None:
        ok = made(make_funding, **COMMON, rate=-0.0002, interval_h=8.0, rate_8h=-0.0002)
        assert ok.rate == -0.0002
        with pytest.raises(InvalidEvent, match="rate must be finite"):
            made(make_funding, **COMMON, rate=math.nan, interval_h=8.0, rate_8h=0.0)
        with pytest.raises(InvalidEvent, match="interval_h must be positive"):
            made(make_funding, **COMMON, rate=0.0001, interval_h=0.0, rate_8h=0.0)

    def test_open_interest_must_not_be_negative(self) -> None:
        with pytest.raises(InvalidEvent, match="oi_base must not be negative"):
            made(make_open_interest, **COMMON, oi_base=-3.0, oi_usd=None)

    def test_the_constructor_checks_nothing_and_validated_checks_as_the_maker_does(self) -> None:
        # Built with its plain constructor (as msgspec builds any Struct), an event is not checked; the makers
        # and validated() are where events are checked, and decoding checks the same annotations in C.
        built = Liquidation(**{**COMMON, "side": "long", "price": -1.0, "qty_base": None, "notional_usd": None})
        with pytest.raises(InvalidEvent, match="price must not be negative"):
            validated(built)
        with pytest.raises(InvalidEvent, match=r"price: expected `float` > 0\.0"):
            decode(encode(built))

    def test_events_are_immutable(self) -> None:
        event = liquidation()
        with pytest.raises(AttributeError):
            event.price = 1.0  # type: ignore[misc]


def test_helpers() -> None:
    assert canonical_base("xbt") == "BTC"
    assert canonical_base("eth") == "ETH"
    assert rate_8h(0.0001, 1.0) == pytest.approx(0.0008)  # hourly × 8
    assert rate_8h(0.0004, 8.0) == pytest.approx(0.0004)
    assert stable_id("a", 1) == stable_id("a", 1) != stable_id("a", 2)


def test_stable_ids_are_the_same_in_every_release() -> None:
    # BLAKE2b (10 bytes) of the parts' str() joined by "|": alert, gap and options-summary ids are these.
    assert stable_id("deribit", "BTC", "options", 1770289955000) == "5bf8b3340f3a834b45b8"
    assert stable_id("gap", "okx", 1770289955000, "disconnect") == "8513e13aa7291090aef1"
    assert stable_id("a", 1.5, None, ("x", 2)) == "f9d27802ef5764955f95"


def bounded(low: float, high: float, **kw: bool) -> st.SearchStrategy[float]:
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False, **kw)


finite = bounded(0, 1e10)  # within every size bound (events.BOUNDS)
price = bounded(0, MAX_PRICE, exclude_min=True)
signed = bounded(-0.1, 0.1)  # funding per interval; × 8 for hourly funding stays within MAX_FUNDING_RATE
millis = st.integers(min_value=0, max_value=MAX_TS_MS)
text = st.text(min_size=1, max_size=20)
common = st.fixed_dictionaries(
    {
        "id": text,
        "venue": st.sampled_from(["binance", "okx", "bitmex"]),
        "symbol": text,
        "base": text,
        "quote": st.sampled_from(["USDT", "USD", "USDC"]),
        "contract": st.sampled_from(["linear", "inverse"]),
        "ts_ms": millis,
        "recv_ms": millis,
    }
)
events = st.one_of(
    st.builds(
        lambda c, side, p, q, n: Liquidation(**c, side=side, price=p, qty_base=q, notional_usd=n),
        common,
        st.sampled_from(["long", "short"]),
        price,
        finite,
        st.none() | finite,
    ),
    st.builds(
        lambda c, r, i, nf, mp: Funding(
            **c, rate=r, interval_h=i, rate_8h=rate_8h(r, i), next_funding_ms=nf, mark_price=mp
        ),
        common,
        signed,
        st.sampled_from([1.0, 4.0, 8.0]),
        st.none() | millis,
        st.none() | price,
    ),
    st.builds(lambda c, b, u: OpenInterest(**c, oi_base=b, oi_usd=u), common, finite, st.none() | finite),
    st.builds(
        lambda i, v, t, bases: Gap(id=i, venue=v, reason="disconnect", ts_ms=t, recv_ms=t, bases=bases),
        text,
        text,
        millis,
        st.tuples(text) | st.just(()),
    ),
)


@given(events)
def test_codec_round_trip(event: Liquidation | Funding | OpenInterest | Gap) -> None:
    assert decode(encode(event)) == event


class TestDecodeRejects:
    def test_nan_written_as_null_for_a_required_number(self) -> None:
        data = orjson.loads(encode(liquidation()))
        data["price"] = None
        with pytest.raises(InvalidEvent, match="price: expected `float`, got `null`"):
            decode(orjson.dumps(data))

    def test_unknown_kind(self) -> None:
        with pytest.raises(InvalidEvent, match="unknown event kind 'trade'"):
            decode(b'{"kind": "trade"}')

    def test_missing_and_extra_fields(self) -> None:
        data = orjson.loads(encode(liquidation()))
        del data["side"]
        with pytest.raises(InvalidEvent, match="missing or unexpected fields"):
            decode(orjson.dumps(data))
        data = orjson.loads(encode(liquidation()))
        data["colour"] = "red"
        with pytest.raises(InvalidEvent, match="missing or unexpected fields"):
            decode(orjson.dumps(data))

    def test_not_json(self) -> None:
        with pytest.raises(InvalidEvent, match="not valid JSON"):
            decode(b"{nope")
        with pytest.raises(InvalidEvent, match="JSON object"):
            decode(b"[1, 2]")


@given(st.lists(events, max_size=40), st.integers(min_value=1, max_value=16), st.integers(min_value=2, max_value=900))
def test_pack_cuts_events_into_bounded_entries_each_the_encoding_of_its_events(
    batch: list[Liquidation | Funding | OpenInterest | Gap], max_events: int, max_bytes: int
) -> None:
    entries = pack(batch, max_events, max_bytes)
    start = 0
    for count, data in entries:
        part = batch[start : start + count]
        assert data == encode_batch(part)  # the halves' join is byte for byte the encoder's array
        assert decode_batch(data) == (part, [])
        assert count <= max_events
        assert len(data) <= max_bytes or count == 1
        start += count
    assert start == len(batch)


def test_pack_halves_a_run_until_its_parts_fit() -> None:
    batch = [Gap(id=f"g{i}", venue="okx", reason="disconnect", ts_ms=i, recv_ms=i) for i in range(8)]
    one = len(encode_batch(batch[:1]))
    # Room for three events: eight are cut into four pairs, not into 3 + 3 + 2.
    assert [n for n, _ in pack(batch, 8, 3 * one)] == [2, 2, 2, 2]
    assert [n for n, _ in pack(batch, 8, 8 * one)] == [8]
    assert [n for n, _ in pack(batch, 3, 8 * one)] == [3, 3, 2]
    assert [n for n, _ in pack(batch[:2], 8, 1)] == [1, 1]  # an event larger than the bound is an entry alone


def test_encoded_field_names_are_the_wire_contract() -> None:
    data = orjson.loads(encode(liquidation()))
    assert set(data) == {*COMMON, "kind", "side", "price", "qty_base", "notional_usd", "sampled"}
    assert data["kind"] == "liquidation"
    assert data["sampled"] is False


def test_sampled_round_trips_and_defaults_to_complete_for_older_entries() -> None:
    sampled = msgspec.structs.replace(liquidation(), sampled=True)
    assert decode(encode(sampled)) == sampled
    data = orjson.loads(encode(liquidation()))
    del data["sampled"]  # written before the field existed
    assert decode(orjson.dumps(data)).sampled is False  # type: ignore[union-attr]
    data["sampled"] = "yes"
    with pytest.raises(InvalidEvent, match="sampled"):
        decode(orjson.dumps(data))


def test_alert_round_trip_and_validation() -> None:
    alert = Alert(
        id="a1",
        kind="liquidation_cascade",
        status="firing",
        severity="warning",
        base="BTC",
        venue=None,
        direction="long",
        started_ms=1,
        ts_ms=2,
        summary="BTC long liquidations",
        values={"window_usd": 1.5e7},
    )
    assert decode_alert(encode_alert(alert)) == alert
    with pytest.raises(InvalidEvent, match="severity"):
        Alert(**{**orjson.loads(encode_alert(alert)), "severity": "page"})


def test_whole_numbers_are_numbers_and_every_rule_names_its_field() -> None:
    # Whole numbers are valid sizes and prices.
    assert liquidation(price=9910, qty_base=1, notional_usd=9910).price == 9910
    # A rule broken late in the list still names its field.
    with pytest.raises(InvalidEvent, match="sampled must be true or false"):
        liquidation(sampled=1)
    with pytest.raises(InvalidEvent, match="notional_usd must be finite"):
        liquidation(notional_usd=math.inf)


VALID: dict[str, dict[str, object]] = {
    "liquidation": {**COMMON, "side": "long", "price": 9910.0, "qty_base": 0.014, "notional_usd": 138.74},
    "funding": {**COMMON, "rate": 0.0001, "interval_h": 8.0, "rate_8h": 0.0001, "next_funding_ms": 1738800000000},
    "open_interest": {**COMMON, "oi_base": 10.0, "oi_usd": 1e6},
}
MAKERS = {"liquidation": make_liquidation, "funding": make_funding, "open_interest": make_open_interest}
BOUNDED = [(kind, name) for kind, fields in VALID.items() for name in fields if name in BOUNDS]


@pytest.mark.parametrize(("kind", "name"), BOUNDED, ids=[f"{k}.{n}" for k, n in BOUNDED])
def test_the_maker_and_the_decoder_enforce_the_same_bound(kind: str, name: str) -> None:
    """One annotation, two enforcers: at the bound both accept, just past it both refuse."""
    bound = BOUNDS[name]
    past = bound + 1 if isinstance(bound, int) else bound * 1.01
    at_bound = made(MAKERS[kind], **{**VALID[kind], name: bound})
    assert decode(encode(at_bound)) == at_bound
    with pytest.raises(ImplausibleEvent) as refused:
        made(MAKERS[kind], **{**VALID[kind], name: past})
    assert refused.value.field == name
    with pytest.raises(InvalidEvent, match=name):
        decode(orjson.dumps({**orjson.loads(encode(at_bound)), name: past}))
