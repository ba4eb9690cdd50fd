"""Alerts for the alert-delivery tests."""

from __future__ import annotations

from typing import Any

from monitor.alert import Alert

T0 = 1_738_771_200_000  # 2025-02-05T16:00:00Z


def make_alert(n: int = 1, **overrides: Any) -> Alert:
    """A firing BTC long-liquidation cascade alert with realistic values; ``n`` makes the id unique."""
    fields: dict[str, Any] = {
        "id": f"alert-{n}",
        "kind": "liquidation_cascade",
        "status": "firing",
        "severity": "critical",
        "base": "BTC",
        "venue": None,
        "direction": "long",
        "started_ms": T0,
        "ts_ms": T0 + 90_000,
        "summary": f"BTC long liquidation cascade #{n}: $412M liquidated in 5 min across 6 venues",
        "values": {  # the cascade detector's firing keys (docs/detectors.md)
            "window_usd": 412_300_000.0,
            "window_count": 1834,
            "window_s": 300,
            "multiple": 14.2,
            "baseline_usd": 29_000_000.0,
            "floor_usd": 25_000_000.0,
            "warming_up": False,
            "venues": {"binance": 180e6, "bybit": 120e6, "okx": 70e6},
            "price": 66_950.0,
            "price_move_pct": -6.8,
            "funding_rate_8h": 0.0001,
            "regime": "flush",
            "regime_note": "OI falling with price: forced deleveraging",
        },
    }
    fields.update(overrides)
    return Alert(**fields)
