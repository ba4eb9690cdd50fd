"""The options_summary event: validation and the codec round trip (DESIGN §3 field names)."""

from __future__ import annotations

import math

import orjson
import pytest

from monitor.bus.codec import decode, encode
from monitor.errors import InvalidEvent
from monitor.events import OptionsSummary, TenorPoint

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
    return OptionsSummary(**{**FIELDS, **changes})  # type: ignore[arg-type]


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
        ({"tenors": {"14": TenorPoint(atm_iv=0.5, rr25=0.0, bf25=0.0)}}, "unknown tenor '14'"),
        ({"dvol": math.nan}, "dvol must be finite"),
        ({"put_call_oi_ratio": -1.0}, "put_call_oi_ratio must not be negative"),
        ({"put_oi_top": tuple((float(k), 1.0) for k in range(11))}, "at most 10"),
        ({"put_oi_top": ((60_000.0, -5.0),)}, "put_oi_top oi_base must not be negative"),
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
    with pytest.raises(InvalidEvent, match="atm_iv must not be negative"):
        decode(orjson.dumps(data))
