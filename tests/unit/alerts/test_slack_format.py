"""Block Kit payload of the Slack sink."""

from __future__ import annotations

from monitor.alerts.slack import HEADER_LIMIT, build_payload, fallback_text
from tests.unit.alerts.helpers import make_alert


def _texts(payload: dict) -> list[str]:
    out = []
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", [])]
    return out


def test_firing_message_says_what_where_how_big_since_when_and_severity() -> None:
    payload = build_payload(make_alert(venue="binance"))
    assert payload["text"].startswith(":red_circle: CRITICAL BTC on binance Liquidation cascade:")
    header = payload["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "Critical: BTC on binance liquidation cascade — longs liquidated (downside)"
    texts = _texts(payload)
    joined = "\n".join(texts)
    for expected in (
        "*Asset*\nBTC",
        "*Venue*\nbinance",
        "*Liquidated*\n$412M",
        "*Liquidations*\n1,834",
        "*Price move*\n-6.8%",
        "*Baseline multiple*\n14.2×",
        "*Venues*\nbinance $180M, bybit $120M, okx $70.0M",
        "*Since*\n2025-02-05T16:00:00Z (1m 30s)",
    ):
        assert expected in texts, (expected, joined)
    assert "id `alert-1`" in payload["blocks"][-1]["elements"][0]["text"]


def test_resolved_message_summarizes_the_episode() -> None:
    alert = make_alert(
        status="resolved",
        ts_ms=make_alert().started_ms + 3_780_000,
        values={
            "total_usd": 1.02e9,
            "count": 5120,
            "duration_s": 3780,
            "peak_minute_usd": 2.1e8,
            "peak_multiple": 31.4,
            "price_start": 73_100.0,
            "price_end": 62_600.0,
            "price_change_pct": -14.36,
            "lead_in_s": 300,
            "regime": "flush",
            "regime_note": "forced deleveraging",
            "venues": {"binance": 6e8, "okx": 4.2e8},
        },
    )
    payload = build_payload(alert)
    assert payload["text"].startswith(":white_check_mark: RESOLVED BTC")
    assert payload["blocks"][0]["text"]["text"].startswith("Resolved: BTC")
    texts = _texts(payload)
    assert "*Episode*\n2025-02-05T16:00:00Z (1h 03m)" in texts
    for expected in (
        "*Liquidated*\n$1.02B",
        "*Liquidations*\n5,120",
        "*Duration*\n1h 03m",
        "*Peak rate*\n$210M/min",
        "*Baseline multiple*\n31.4×",
        "*Price move*\n-14.4%",
        "*Price*\n62,600",
        "*Price at start*\n73,100",
        "*Market*\nforced deleveraging",
        "*Venues*\nbinance $600M, okx $420M",
    ):
        assert expected in texts, expected
    assert not any("Lead in" in t or "Regime" in t for t in texts)  # parameters stay out of the message


def test_funding_and_open_interest_values() -> None:
    flip = make_alert(
        kind="funding_flip",
        direction="negative",
        severity="warning",
        values={"rate_8h": -0.00021, "annualized_pct": -23.0, "confirm_s": 1800, "dead_band_8h": 2e-5},
    )
    texts = _texts(build_payload(flip))
    assert "*Funding (8h)*\n-0.0210%" in texts
    assert "*Funding (annualized)*\n-23.0%" in texts
    assert build_payload(flip)["blocks"][0]["text"]["text"].endswith("funding turned negative")
    oi = make_alert(
        kind="oi_collapse",
        direction="down",
        values={"oi_base": 512_345.6, "move_pct": -12.5, "sources": 6, "excluded": []},
    )
    texts = _texts(build_payload(oi))
    assert "*OI change*\n-12.5%" in texts
    assert "*Open interest (base)*\n512,346" in texts


def test_missing_odd_and_unknown_values_are_tolerated() -> None:
    alert = make_alert(
        values={
            "notional_usd": None,
            "count": "many",
            "venues": [],
            "threshold_usd": 5e7,
            "note": "x" * 500,
            "nested": {"a": 1},
        }
    )
    texts = _texts(build_payload(alert))
    assert not any(t.startswith("*Liquidated*") for t in texts)
    assert "*Threshold usd*\n5e+07" in texts
    assert any(t.startswith("*Note*\n") and len(t) < 100 for t in texts)


def test_limits_and_escaping() -> None:
    alert = make_alert(summary="<!channel> & friends " + "y" * 4000, base="B" * 200)
    payload = build_payload(alert)
    assert len(payload["blocks"][0]["text"]["text"]) <= HEADER_LIMIT
    assert len(payload["blocks"][1]["text"]["text"]) <= 3000
    assert "&lt;!channel&gt; &amp; friends" in payload["blocks"][1]["text"]["text"]
    assert "<!channel>" not in fallback_text(alert)
    assert len(payload["blocks"]) <= 50
