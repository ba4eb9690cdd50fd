"""The options_summary event: validation and the codec round trip (DESIGN §3 field names)."""

from __future__ import annotations

import math

import orjson
import pytest

from monitor.bus.codec import decode, encode
from monitor.errors import ImplausibleEvent, InvalidEvent
from monitor.events import BOUNDS, OptionsSummary, TenorPoint, make_options_summary, validated

FIELDS: dict[str, object] = {
    "id": "s1",
    "venue": "deribit",
    "symbol": "btc_usd",
    "base": "BTC",
    "quote": "USD",
    "contract": "inverse",
    "ts_ms": 1_770_249_600_000,
    "recv_ms": 1_770_249_600_050,
    "index_price": 64_210.5,
    "dvol": 71.3,
    "tenors": {
        "7": TenorPoint(atm_iv=0.72, rr25=-0.131, bf25=0.021),
        "30": TenorPoint(atm_iv=0.63, rr25=-0.08, bf25=0.015),
    },
    "put_call_oi_ratio": 0.94,
    "put_oi_top": ((60_000.0, 8_150.0), (50_000.0, 6_020.5)),
}


def make(**changes: object) -> OptionsSummary:
    summary: OptionsSummary = make_options_summary(**{**FIELDS, **changes})
    return summary


def test_round_trip_with_design_field_names() -> None:
    event = make()
    data = orjson.loads(encode(event))
    assert data["kind"] == "options_summary"
    assert data["tenors"]["7"] == {"atm_iv": 0.72, "rr25": -0.131, "bf25": 0.021}
    assert data["put_oi_top"] == [[60_000.0, 8_150.0], [50_000.0, 6_020.5]]
    assert "90" not in data["tenors"]
    assert decode(encode(event)) == event
    assert decode(encode(make(dvol=None, put_call_oi_ratio=None, tenors={}, put_oi_top=()))).dvol is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenors": {"14": TenorPoint(atm_iv=0.5, rr25=0.0, bf25=0.0)}}, "tenors key must be .*, got '14'"),
        ({"dvol": math.nan}, "dvol must be finite"),
        ({"put_call_oi_ratio": -1.0}, "put_call_oi_ratio must not be negative"),
        ({"put_oi_top": tuple((float(k), 1.0) for k in range(11))}, "at most 10"),
        ({"put_oi_top": ((60_000.0, -5.0),)}, "oi_base must not be negative"),
    ],
)
def test_invalid_summaries_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        make(**changes)


def test_decode_rejects_a_bad_tenor_point() -> None:
    data = orjson.loads(encode(make()))
    data["tenors"]["7"]["rr25"] = "steep"
    with pytest.raises(InvalidEvent, match="rr25"):
        decode(orjson.dumps(data))
    data["tenors"]["7"] = {"atm_iv": -0.5, "rr25": 0.0, "bf25": 0.0}
    with pytest.raises(InvalidEvent, match=r"atm_iv: expected `float` >= 0.0"):
        decode(orjson.dumps(data))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"index_price": BOUNDS["index_price"] * 1.01}, "index_price"),
        ({"dvol": BOUNDS["dvol"] * 1.01}, "dvol"),
        ({"put_oi_top": ((BOUNDS["strike"] * 1.01, 1.0),)}, "strike"),
        ({"put_oi_top": ((60_000.0, BOUNDS["oi_base"] * 1.01),)}, "oi_base"),
    ],
)
def test_values_past_their_plausibility_bound_are_refused_by_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ImplausibleEvent) as refused:
        make(**changes)
    assert refused.value.field == field
    # Decoding JSON (a stream entry) checks the same bound in C: an invalid event giving the path to the value.
    data = {**orjson.loads(encode(make())), **changes}
    with pytest.raises(InvalidEvent, match="expected `float` <= "):
        decode(orjson.dumps(data))
    # The bounds themselves are accepted.
    assert make(dvol=BOUNDS["dvol"], index_price=BOUNDS["index_price"]).dvol == BOUNDS["dvol"]


@pytest.mark.parametrize("field", ["atm_iv", "rr25", "bf25"])
def test_tenor_values_past_their_bound_are_refused(field: str) -> None:
    point = {"atm_iv": 0.5, "rr25": 0.0, "bf25": 0.0}
    validated(TenorPoint(**{**point, field: BOUNDS[field]}))
    with pytest.raises(ImplausibleEvent) as refused:
        validated(TenorPoint(**{**point, field: BOUNDS[field] * 1.01}))
    assert refused.value.field == field


def test_the_deribit_parser_counts_an_implausible_summary_by_field() -> None:
    from monitor.errors import ImplausibleValue
    from monitor.venues.deribit import DeribitAdapter
    from monitor.venues.deribit_options import book_summary_path

    adapter = DeribitAdapter()
    vol = {"volatility": 999.0, "timestamp": 1, "index_name": "btc_usd"}  # within the reader's range
    frame = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "deribit_volatility_index.btc_usd"}}
    adapter.parse(orjson.dumps({**frame, "params": {**frame["params"], "data": vol}}), 1)
    body = {"result": [{"instrument_name": "BTC-27FEB26-60000-P", "open_interest": 1.0, "underlying_price": 2e8}]}
    summary = adapter.parse_rest(book_summary_path("BTC"), orjson.dumps(body), 1_770_249_600_000)
    assert summary  # a forward past the price bound is not a field of the summary: it only moves deltas
    body["result"][0]["estimated_delivery_price"] = 2e8
    with pytest.raises(ImplausibleValue) as refused:
        adapter.parse_rest(book_summary_path("BTC"), orjson.dumps(body), 1_770_249_600_000)
    assert refused.value.field == "index_price"
