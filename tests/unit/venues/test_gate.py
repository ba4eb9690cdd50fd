"""Gate futures parser: recorded/documented frames worked out by hand, result shapes, contract specs."""

from __future__ import annotations

import orjson
import pytest

from monitor.errors import ParseError
from monitor.events import Funding, Liquidation, OpenInterest
from monitor.venues.gate import GateAdapter, epoch_ms
from tests.conftest import FIXTURES, SAMPLES
from tests.unit.venues.live import check_live_frames


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


RECV = 1_770_292_812_345
INSTRUMENTS = FIXTURES / "instruments"


def sample(name: str, line: int) -> str:
    return (SAMPLES / f"{name}.jsonl").read_text().splitlines()[line - 1]


def adapter(*, book: bool = True) -> GateAdapter:
    venue = GateAdapter()
    if book:
        usdt = (INSTRUMENTS / "gate_usdt_contracts.json").read_bytes()
        btc = (INSTRUMENTS / "gate_btc_contracts.json").read_bytes()
        assert venue.load_instruments("/api/v4/futures/usdt/contracts", usdt) == 3
        assert venue.load_instruments("/api/v4/futures/btc/contracts", btc) == 1
    return venue


def liquidations(frame: str, venue: GateAdapter | None = None) -> list[Liquidation]:
    events = (venue or adapter()).parse(frame, RECV)
    assert all(isinstance(e, Liquidation) for e in events)
    return [e for e in events if isinstance(e, Liquidation)]


# -- futures.public_liquidates ----------------------------------------------------------------


def test_docs_inverse_liquidation() -> None:
    (liq,) = liquidations(sample("gate_public_liquidates", 1))
    assert (liq.symbol, liq.base, liq.quote, liq.contract) == ("BTC_USD", "BTC", "USD", "inverse")
    assert liq.side == "long"  # size −124: a sell order closing a long
    assert liq.price == pytest.approx(215.1)
    # 124 contracts × 1 USD = 124 USD; 124 / 215.1 USD per BTC = 0.57648 BTC
    assert liq.qty_base == pytest.approx(0.5764760576476058, rel=1e-9)
    assert liq.notional_usd == pytest.approx(124)
    assert liq.ts_ms == 1_541_486_601_123  # row time_ms
    assert liq.recv_ms == RECV


def test_liquidation_with_time_in_seconds_and_string_size() -> None:
    (liq,) = liquidations(sample("gate_public_liquidates", 2))
    assert (liq.symbol, liq.contract, liq.side) == ("BTC_USDT", "linear", "long")
    # 124.5 contracts × 0.0001 BTC = 0.01245 BTC
    assert liq.qty_base == pytest.approx(0.01245)
    # 0.01245 BTC × 215.1 USDT = 2.677995 USD
    assert liq.notional_usd == pytest.approx(2.677995)
    # time 1541486601 is seconds (below 1e11) → 1541486601000 ms
    assert liq.ts_ms == 1_541_486_601_000


def test_aggregated_array_with_time_in_milliseconds() -> None:
    first, second = liquidations(sample("gate_public_liquidates", 3))
    assert first.ts_ms == 1_541_486_601_123  # time 1541486601123 is milliseconds
    assert first.qty_base == pytest.approx(0.01245)  # 124.5 × 0.0001
    assert first.notional_usd == pytest.approx(2.677995)  # 0.01245 × 215.1
    assert second.ts_ms == 1_541_486_601_456
    assert second.price == pytest.approx(215.2)
    assert second.qty_base == pytest.approx(0.00105)  # 10.5 × 0.0001
    assert second.notional_usd == pytest.approx(0.22596)  # 0.00105 × 215.2
    assert {first.side, second.side} == {"long"}
    assert first.id != second.id


def test_aggregated_array_with_numeric_sizes() -> None:
    first, second = liquidations(sample("gate_public_liquidates", 4))
    assert first.qty_base == pytest.approx(0.0124)  # 124 × 0.0001
    assert first.notional_usd == pytest.approx(2.66724)  # 0.0124 × 215.1
    assert second.qty_base == pytest.approx(0.001)  # 10 × 0.0001
    assert second.notional_usd == pytest.approx(0.2152)  # 0.001 × 215.2
    assert (first.ts_ms, second.ts_ms) == (1_541_486_601_123, 1_541_486_601_456)


def test_positive_size_is_a_short_liquidation() -> None:
    frame = (
        '{"channel":"futures.public_liquidates","event":"update","time":1770292812,'
        '"result":[{"price":"1900","size":"30","time_ms":1770292811000,"contract":"ETH_USDT"}]}'
    )
    (liq,) = liquidations(frame)
    assert liq.side == "short"
    assert liq.qty_base == pytest.approx(0.3)  # 30 × 0.01 ETH
    assert liq.notional_usd == pytest.approx(570)  # 0.3 × 1900


def test_unknown_contract_has_no_notional_and_is_counted() -> None:
    venue = adapter(book=False)
    (liq,) = liquidations(sample("gate_public_liquidates", 2), venue)
    assert liq.qty_base is None
    assert liq.notional_usd is None
    assert liq.side == "long"
    assert [r for r, _ in venue.drain_issues()] == ["unknown_contract"]


def test_result_as_object_and_as_nested_array() -> None:
    row = {"price": "215.1", "size": "-124.5", "time_ms": 1541486601123, "contract": "BTC_USDT"}
    for result, count in ((row, 1), ([[row]], 1), ([[row], row], 2)):
        frame = orjson.dumps({"channel": "futures.public_liquidates", "event": "update", "result": result}).decode()
        events = liquidations(frame)
        assert [e.qty_base for e in events] == [pytest.approx(0.01245)] * count


# -- futures.tickers --------------------------------------------------------------------------


def test_docs_inverse_ticker() -> None:
    funding, oi = adapter().parse(sample("gate_tickers", 1), RECV)
    assert isinstance(funding, Funding)
    assert (funding.symbol, funding.contract) == ("BTC_USD", "inverse")
    assert funding.rate == pytest.approx(-0.000114)
    assert funding.interval_h == 8.0  # funding_interval 28800 s
    assert funding.rate_8h == pytest.approx(-0.000114)
    assert funding.mark_price == pytest.approx(118.35)
    assert funding.index_price == pytest.approx(118.36)
    assert funding.next_funding_ms is None
    assert funding.ts_ms == 1_541_659_086_123  # envelope time_ms
    assert isinstance(oi, OpenInterest)
    # 73648 USD contracts / 118.35 USD per BTC = 622.29 BTC
    assert oi.oi_base == pytest.approx(622.2898183354457, rel=1e-9)
    assert oi.oi_usd == pytest.approx(73648)


def test_ticker_with_fractional_total_size_and_row_time() -> None:
    funding, oi = adapter().parse(sample("gate_tickers", 2), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.ts_ms == 1_541_659_086_123  # row "t"
    assert funding.rate_8h == pytest.approx(-0.000114)
    # 73648.5 contracts × 0.0001 BTC = 7.36485 BTC
    assert oi.oi_base == pytest.approx(7.36485)
    # 7.36485 BTC × 118.35 = 871.63 USD
    assert oi.oi_usd == pytest.approx(871.6299975, rel=1e-9)


def test_recorded_2023_ticker() -> None:
    funding, oi = adapter().parse(sample("gate_tickers", 3), RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.rate == pytest.approx(0.0001)
    assert funding.rate_8h == pytest.approx(0.0001)
    assert funding.mark_price == pytest.approx(23175.64)
    assert funding.index_price == pytest.approx(23173.35)
    assert funding.ts_ms == 1_677_629_168_840
    # 153482780 contracts × 0.0001 BTC = 15348.278 BTC
    assert oi.oi_base == pytest.approx(15348.278)
    # 15348.278 BTC × 23175.64 = 355706165.55 USD
    assert oi.oi_usd == pytest.approx(355706165.54792, rel=1e-9)


def test_funding_interval_comes_from_the_contract_list() -> None:
    frame = (
        '{"time":1770292812,"time_ms":1770292812000,"channel":"futures.tickers","event":"update",'
        '"result":[{"contract":"DOGE_USDT","funding_rate":"-0.0002","mark_price":"0.10811","total_size":"2465389"}]}'
    )
    funding, oi = adapter().parse(frame, RECV)
    assert isinstance(funding, Funding)
    assert isinstance(oi, OpenInterest)
    assert funding.interval_h == 4.0  # funding_interval 14400 s
    assert funding.rate_8h == pytest.approx(-0.0004)  # −0.0002 per 4 h × 2
    assert oi.oi_base == pytest.approx(24653890)  # 2465389 × 10 DOGE


def test_ticker_without_contract_spec_keeps_funding_and_counts_the_gap() -> None:
    venue = adapter(book=False)
    events = venue.parse(sample("gate_tickers", 3), RECV)
    assert [type(e) for e in events] == [Funding]
    assert isinstance(events[0], Funding)
    assert events[0].interval_h == 8.0  # the default when the contract list is missing
    assert [r for r, _ in venue.drain_issues()] == ["unknown_contract"]


# -- futures.contract_stats -------------------------------------------------------------------


@pytest.mark.parametrize("line", [1, 2])
def test_docs_contract_stats(line: int) -> None:
    (oi,) = adapter().parse(sample("gate_contract_stats", line), RECV)
    assert isinstance(oi, OpenInterest)
    # 124724 contracts × 0.0001 BTC = 12.4724 BTC
    assert oi.oi_base == pytest.approx(12.4724)
    # 12.4724 BTC × 8865 = 110567.83 USD (the docs' open_interest_usd 1511 is a placeholder)
    assert oi.oi_usd == pytest.approx(110567.826)
    assert oi.ts_ms == 1_603_865_400_000  # row time in seconds


# -- control frames, errors, subscriptions ----------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '{"time":1545404023,"time_ms":1545404023123,"channel":"futures.pong","event":"","result":null}',
        '{"time":1545459681,"time_ms":1545459681123,"channel":"futures.public_liquidates","event":"subscribe",'
        '"result":{"status":"success"}}',
        '{"time":1545459681,"channel":"futures.tickers","event":"unsubscribe","error":null,"result":{"status":"success"}}',
    ],
)
def test_control_frames_give_nothing(frame: str) -> None:
    venue = adapter()
    assert venue.parse(frame, RECV) == []
    assert venue.drain_issues() == []


def test_error_and_system_notices_are_issues() -> None:
    venue = adapter()
    error = (
        '{"time":1,"channel":"futures.tickers","event":"subscribe",'
        '"error":{"code":2,"message":"unknown contract BTC_XXX"},"result":null}'
    )
    upgrade = '{"time":1,"channel":"futures.system","event":"update","result":{"type":"upgrade","msg":"restart"}}'
    assert venue.parse(error, RECV) == []
    assert venue.parse(upgrade, RECV) == []
    assert [r for r, _ in venue.drain_issues()] == ["venue_error", "venue_notice"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("<html>", "json"),
        ("[]", "schema"),
        ('{"channel":"futures.trades","event":"update","result":[]}', "unknown_channel"),
        ('{"channel":"futures.tickers","event":"delete","result":[]}', "schema"),
        ('{"channel":"futures.tickers","event":"update","result":"x"}', "schema"),
        ('{"channel":"futures.tickers","event":"update","result":[1]}', "schema"),
        (
            '{"channel":"futures.public_liquidates","event":"update","result":[{"price":"1","size":"0",'
            '"contract":"BTC_USDT"}]}',
            "value",
        ),
        (
            '{"channel":"futures.public_liquidates","event":"update","result":[{"price":"1","size":"-1",'
            '"contract":"BTCUSDT"}]}',
            "unknown_symbol",
        ),
        (
            '{"channel":"futures.public_liquidates","event":"update","result":[{"price":"-1","size":"-1",'
            '"contract":"BTC_USDT"}]}',
            "value",
        ),
        (
            '{"channel":"futures.tickers","event":"update","result":[{"contract":"BTC_USDT","funding_rate":"NaN"}]}',
            "value",
        ),
    ],
)
def test_garbage_raises_parse_error(frame: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        adapter().parse(frame, RECV)
    assert info.value.reason == reason


def test_epoch_ms_tells_seconds_from_milliseconds() -> None:
    assert epoch_ms(1541486601, "t") == 1_541_486_601_000
    assert epoch_ms("1541486601.5", "t") == 1_541_486_601_500
    assert epoch_ms(1541486601123, "t") == 1_541_486_601_123
    with pytest.raises(ParseError):
        epoch_ms(-1, "t")


def test_connections_all_contracts_when_no_symbols() -> None:
    conns = adapter().connections([])
    usdt, btc = conns
    assert usdt.url == "wss://fx-ws.gateio.ws/v4/ws/usdt"
    assert btc.url == "wss://fx-ws.gateio.ws/v4/ws/btc"
    for conn in conns:
        assert conn.headers == (("X-Gate-Size-Decimal", "1"),)
        assert conn.bases == ()
        liq = orjson.loads(conn.subscribe[0])
        assert (liq["channel"], liq["event"], liq["payload"]) == ("futures.public_liquidates", "subscribe", ["!all"])
    assert orjson.loads(usdt.subscribe[1])["payload"] == ["BTC_USDT", "DOGE_USDT", "ETH_USDT"]
    assert orjson.loads(btc.subscribe[1])["payload"] == ["BTC_USD"]


def test_connections_for_named_contracts_split_by_settlement() -> None:
    conns = adapter(book=False).connections(["ETH_USDT", "BTC_USD"], "ws://127.0.0.1:9")
    assert [c.url for c in conns] == ["ws://127.0.0.1:9/v4/ws/usdt", "ws://127.0.0.1:9/v4/ws/btc"]
    assert [c.bases for c in conns] == [("ETH",), ("BTC",)]
    first = [orjson.loads(f) for f in conns[0].subscribe]
    assert [(f["channel"], f["payload"]) for f in first] == [
        ("futures.public_liquidates", ["ETH_USDT"]),
        ("futures.tickers", ["ETH_USDT"]),
    ]
    # an override that is already a settlement URL is switched per settlement
    urls = [c.url for c in adapter(book=False).connections(["BTC_USD"], "ws://h:1/v4/ws/usdt")]
    assert urls == ["ws://h:1/v4/ws/btc"]


def test_connections_without_any_book_still_watch_liquidations() -> None:
    (conn,) = adapter(book=False).connections([])
    assert [orjson.loads(f)["payload"] for f in conn.subscribe] == [["!all"]]


def test_contract_list_rejects_a_non_array() -> None:
    with pytest.raises(ParseError):
        adapter(book=False).load_instruments("/api/v4/futures/usdt/contracts", b'{"label":"INVALID"}')


def test_keepalive_declaration() -> None:
    assert GateAdapter.keepalive.mode == "client_ping"
    assert orjson.loads(GateAdapter().ping_payload())["channel"] == "futures.ping"
    assert GateAdapter.liveness_timeout_s > GateAdapter.keepalive.interval_s


# -- frames shaped like live traffic: the one typed reader takes each, or refuses it with a bounded reason ----
LIVE_FRAMES = [
    *lines("gate_public_liquidates.jsonl"),
    *lines("gate_tickers.jsonl"),
    *lines("gate_contract_stats.jsonl"),
    '{"channel":"futures.public_liquidates","event":"update","time":1770292812,"result":{"price":"1900",'
    '"size":"30","contract":"ETH_USDT"}}',
    '{"channel":"futures.public_liquidates","event":"update","result":[[{"price":"1900","size":"-3",'
    '"time_ms":1770292811000,"contract":"ETH_USDT"}],{"price":"0.2","size":"5","contract":"NOSUCH_USDT"}]}',
    '{"channel":"futures.public_liquidates","event":"all","time_ms":1770292812000,"result":[{"price":"0.2",'
    '"size":"5","contract":"NOSUCH_USDT"},{"price":"1900","size":"0","contract":"ETH_USDT"}]}',
    '{"channel":"futures.tickers","event":"update","time":1770292812,"error":null,"result":{"contract":"NOSUCH_USDT",'
    '"funding_rate":"0.0001","mark_price":"","total_size":"100"}}',
    '{"channel":"futures.tickers","event":"update","time":1770292812,"result":[{"contract":"BTC_USD",'
    '"funding_rate":"","mark_price":"0","total_size":"73648"}]}',
    '{"channel":"futures.contract_stats","event":"update","result":{"contract":"DOGE_USDT","open_interest":12,'
    '"mark_price":null}}',
    '{"time":1770292812,"channel":"futures.tickers","event":"subscribe","error":null,"result":{"status":"success"}}',
    '{"time":1770292812,"channel":"futures.tickers","event":"subscribe","error":{"code":2,"message":"unknown"},'
    '"result":null}',
    '{"time":1770292812,"channel":"futures.pong","event":"","error":null,"result":null}',
    '{"time":1770292812,"channel":"futures.system","event":"update","result":{"message":"restart"}}',
]


def test_live_shapes_give_events_or_a_bounded_parse_error() -> None:
    check_live_frames(adapter(), LIVE_FRAMES, RECV)
