"""`liqmon replay` runs a capture through the real parsers and pipeline and writes what it saw."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from monitor.cli import main
from tests.conftest import FIXTURES
from tests.support.services import HOST

CAPTURE = FIXTURES / "replay" / "small.jsonl"


def replay(tmp_path: Path, *extra: str) -> list[dict[str, object]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    events_out = tmp_path / "events.jsonl"
    code = main(["replay", str(CAPTURE), "--events-out", str(events_out), "--metrics-port", "0", *extra])
    assert code == 0
    return [orjson.loads(line) for line in events_out.read_bytes().splitlines()]


def test_replay_writes_the_expected_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = replay(tmp_path)
    by_venue_kind = [(e["venue"], e["kind"]) for e in events]
    assert by_venue_kind == [
        ("binance", "liquidation"),
        ("binance", "funding"),
        ("binance", "open_interest"),
        ("bybit", "liquidation"),
        ("okx", "liquidation"),
        ("bybit", "gap"),
        ("bitmex", "liquidation"),
    ]
    binance_liq, funding, oi, bybit_liq, okx_liq, gap, bitmex_liq = events
    # Binance forceOrder: S=SELL closes a long; 0.014 BTC at avg price 9910 = 138.74 USD.
    assert binance_liq["side"] == "long"
    assert binance_liq["qty_base"] == 0.014
    assert binance_liq["notional_usd"] == pytest.approx(0.014 * 9910)
    assert binance_liq["ts_ms"] == 1568014460893
    # Binance markPrice: r = 0.00038167 per 8 h interval, so rate_8h is the same.
    assert funding["rate"] == 0.00038167
    assert funding["interval_h"] == 8.0
    assert funding["rate_8h"] == 0.00038167
    # Binance REST open interest 10659.509 BTC, priced at the last mark 11794.15.
    assert oi["oi_base"] == 10659.509
    assert oi["oi_usd"] == pytest.approx(10659.509 * 11794.15)
    # Bybit allLiquidation: S=Sell is the position side, so a short was liquidated; 20000 ROSE × 0.04499.
    assert bybit_liq["side"] == "short"
    assert bybit_liq["notional_usd"] == pytest.approx(20000 * 0.04499)
    # OKX IOST-USDT-SWAP: posSide short; 13 contracts × ctVal 1000 (from the meta line) = 13000 IOST.
    assert okx_liq["side"] == "short"
    assert okx_liq["qty_base"] == pytest.approx(13 * 1000)
    assert okx_liq["notional_usd"] == pytest.approx(13000 * 0.007831)
    # The capture's gap line becomes a gap marker at its receive time.
    assert gap["ts_ms"] == 1700000000600
    # BitMEX XBTUSD: order side Buy closes a short; 9214 USD contracts / 10106 = 0.91174 BTC; no event time,
    # so the receive time is used.
    assert bitmex_liq["side"] == "short"
    assert bitmex_liq["qty_base"] == pytest.approx(9214 / 10106)
    assert bitmex_liq["notional_usd"] == pytest.approx(9214)
    assert bitmex_liq["ts_ms"] == bitmex_liq["recv_ms"] == 1700000000700
    err = capsys.readouterr().err
    assert "7 frames, 7 events" in err


def test_replay_is_deterministic(tmp_path: Path) -> None:
    first = replay(tmp_path / "a")
    second = replay(tmp_path / "b")
    assert first == second


def test_missing_capture_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "absent.jsonl")]) == 2
    assert "no such capture file" in capsys.readouterr().err


def test_replay_binds_no_port_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An offline batch job: the configured metrics port being taken (by the daemon itself) is no concern."""
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        monkeypatch.setenv("LIQMON_METRICS__PORT", str(taken.getsockname()[1]))
        events_out = tmp_path / "events.jsonl"
        assert main(["replay", str(CAPTURE), "--events-out", str(events_out)]) == 0
        assert len(events_out.read_bytes().splitlines()) == 7
        # Asked for, the metrics endpoint is served, and a taken port is the error it always was.
        assert main(["replay", str(CAPTURE), "--metrics-port", str(taken.getsockname()[1])]) == 1
