"""Parser contract under fuzzing (BitMEX, Hyperliquid, Gate, Bitget).

Every input either yields valid events or raises ParseError with a bounded
reason; no other exception escapes. Inputs: arbitrary text and bytes,
arbitrary JSON, and near-valid frames (the recorded samples with fields
removed, retyped or replaced).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.adapter import VenueAdapter
from monitor.venues.bitfinex import BitfinexAdapter
from monitor.venues.bitget import BitgetAdapter
from monitor.venues.bitmex import BitmexAdapter
from monitor.venues.gate import GateAdapter
from monitor.venues.hyperliquid import HyperliquidAdapter
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_770_292_812_345
REASONS = frozenset(
    ("json", "schema", "value", "implausible", "too_deep", "unknown_channel", "unknown_symbol", "unknown_contract")
)
INSTRUMENTS = FIXTURES / "instruments"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bitmex() -> VenueAdapter:
    venue = BitmexAdapter()
    venue.load_instruments("/api/v1/instrument/active", (INSTRUMENTS / "bitmex_instrument_active.json").read_bytes())
    # an instrument partial first, so updates have something to merge into
    venue.parse((SAMPLES / "bitmex_instrument.jsonl").read_text().splitlines()[0], RECV)
    return venue


def _hyperliquid() -> VenueAdapter:
    venue = HyperliquidAdapter()
    venue.load_instruments("/info", (INSTRUMENTS / "hyperliquid_meta.json").read_bytes())
    return venue


def _gate() -> VenueAdapter:
    venue = GateAdapter()
    venue.load_instruments("/api/v4/futures/usdt/contracts", (INSTRUMENTS / "gate_usdt_contracts.json").read_bytes())
    venue.load_instruments("/api/v4/futures/btc/contracts", (INSTRUMENTS / "gate_btc_contracts.json").read_bytes())
    return venue


def _bitget() -> VenueAdapter:
    venue = BitgetAdapter()
    venue.load_instruments(
        "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
        (INSTRUMENTS / "bitget_usdt_contracts.json").read_bytes(),
    )
    return venue


def _bitfinex() -> VenueAdapter:
    venue = BitfinexAdapter()
    venue.load_instruments("/v2/status/deriv?keys=ALL", (INSTRUMENTS / "bitfinex_status.json").read_bytes())
    for name in ("bitfinex_liquidation", "bitfinex_status"):  # the channels of the samples are subscribed
        venue.parse((SAMPLES / f"{name}.jsonl").read_text().splitlines()[0], RECV)
    return venue


def _samples(*names: str) -> list[Any]:
    return [orjson.loads(line) for name in names for line in (SAMPLES / f"{name}.jsonl").read_text().splitlines()]


VENUES: dict[str, tuple[Callable[[], VenueAdapter], list[Any]]] = {
    "bitmex": (
        _bitmex,
        [
            *_samples("bitmex_instrument", "bitmex_liquidation"),
            {"table": "liquidation", "action": "update", "data": [{"orderID": "x", "leavesQty": 10}]},
        ],
    ),
    "hyperliquid": (_hyperliquid, _samples("hyperliquid_activeAssetCtx")),
    "gate": (_gate, _samples("gate_public_liquidates", "gate_tickers", "gate_contract_stats")),
    "bitget": (_bitget, _samples("bitget_liquidation", "bitget_ticker")),
    "bitfinex": (_bitfinex, _samples("bitfinex_liquidation", "bitfinex_status")),
}

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "-1", "1e400", "NaN", "Buy", "Sell", "buy", "sell", "update", "partial"])
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)


def check(venue: VenueAdapter, frame: str | bytes) -> None:
    """The contract: valid events, or ParseError with a bounded reason."""
    reason: str | None = None
    events: list[Any] = []
    try:
        events = venue.parse(frame, RECV)
    except ParseError as exc:
        reason = exc.reason
    assert reason is None or reason in REASONS, reason
    assert isinstance(events, list)
    assert all(isinstance(e, (Liquidation, Funding, OpenInterest)) for e in events)
    assert all(isinstance(reason, str) and isinstance(message, str) for reason, message in venue.drain_issues())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _retype(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return [value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return {"value": value}


def mutate(doc: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """Remove, retype or replace one node of a JSON document (a fresh copy)."""
    doc = orjson.loads(orjson.dumps(doc))
    path = draw(st.sampled_from(_paths(doc)))
    if not path:
        return draw(JSON)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = draw(st.sampled_from(["remove", "retype", "replace", "negate"]))
    if action == "remove":
        del parent[key]
    elif action == "retype":
        parent[key] = _retype(parent[key])
    elif action == "negate" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = -parent[key]
    else:
        parent[key] = draw(JSON)
    return doc


@pytest.mark.parametrize("venue_name", sorted(VENUES))
@FUZZ
@given(frame=st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text(venue_name: str, frame: str | bytes) -> None:
    check(VENUES[venue_name][0](), frame)


@pytest.mark.parametrize("venue_name", sorted(VENUES))
@FUZZ
@given(doc=JSON)
def test_arbitrary_json(venue_name: str, doc: Any) -> None:
    check(VENUES[venue_name][0](), orjson.dumps(doc))


@pytest.mark.parametrize("venue_name", sorted(VENUES))
@FUZZ
@given(data=st.data())
def test_near_valid_frames(venue_name: str, data: st.DataObject) -> None:
    factory, samples = VENUES[venue_name]
    venue = factory()
    # a short sequence, so stateful parsers (BitMEX merges) see mutated updates on top of state
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        doc = data.draw(st.sampled_from(samples))
        for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
            doc = mutate(doc, data.draw)
        check(venue, orjson.dumps(doc))


@pytest.mark.parametrize("venue_name", sorted(VENUES))
def test_every_sample_parses_cleanly(venue_name: str) -> None:
    factory, samples = VENUES[venue_name]
    venue = factory()
    produced = 0
    for doc in samples:
        produced += len(venue.parse(orjson.dumps(doc), RECV))
    assert produced > 0
