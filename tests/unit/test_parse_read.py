"""``parse_read`` reads every shape an XREADGROUP reply can take."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.bus.redis_link import parse_read

DATA = b'{"kind":"gap"}'
EXPECTED = {
    "liqmon:events:{0}": [("1-0", {b"kind": b"gap", b"data": DATA}), ("1-1", {})],
    "liqmon:events:{1}": [("2-0", {b"kind": b"gap", b"data": DATA})],
}
RAW_RESP2 = [
    [b"liqmon:events:{0}", [[b"1-0", [b"kind", b"gap", b"data", DATA]], [b"1-1", None]]],
    [b"liqmon:events:{1}", [[b"2-0", [b"kind", b"gap", b"data", DATA]]]],
]
RAW_RESP3: dict[bytes, Any] = dict(RAW_RESP2)  # type: ignore[arg-type]
PARSED_RESP2 = [
    [b"liqmon:events:{0}", [(b"1-0", {b"kind": b"gap", b"data": DATA}), (b"1-1", None)]],
    [b"liqmon:events:{1}", [(b"2-0", {b"kind": b"gap", b"data": DATA})]],
]
PARSED_RESP3 = {key: [entries] for key, entries in PARSED_RESP2}


@pytest.mark.parametrize("reply", [RAW_RESP2, RAW_RESP3, PARSED_RESP2, PARSED_RESP3])
def test_every_reply_shape_gives_the_same_entries(reply: Any) -> None:
    assert parse_read(reply) == EXPECTED


@pytest.mark.parametrize("reply", [None, [], {}])
def test_an_empty_reply_is_no_entries(reply: Any) -> None:
    assert parse_read(reply) == {}


def test_a_field_list_of_odd_length_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_read([[b"s", [[b"1-0", [b"kind", b"gap", b"data"]]]]])


def test_entries_with_other_fields_keep_them_all() -> None:
    reply = [[b"s", [[b"1-0", [b"kind", b"gap", b"data", DATA, b"origin", b"import"]]]]]
    assert parse_read(reply) == {"s": [("1-0", {b"kind": b"gap", b"data": DATA, b"origin": b"import"})]}
