"""Hyperliquid: one ``subscribe`` per coin, ``{"method":"ping"}`` → pong; REST ``POST /info``."""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

TYPES = frozenset(("activeAssetCtx", "trades", "l2Book", "allMids", "candle", "bbo", "activeAssetData"))


def _key(sub: dict[str, Any]) -> str:
    return f"{sub.get('type')}:{sub.get('coin', '')}"


class HyperliquidProtocol(VenueProtocol):
    """Hyperliquid public websocket."""

    venue: ClassVar[str] = "hyperliquid"
    drop_after_s = 60.0
    instrument_paths = ("/info",)

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome(
                [dumps({"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text[:100]}"})]
            )
        method = obj.get("method")
        if method == "ping":
            return Outcome([dumps({"channel": "pong"})], ping=True)
        if method in ("subscribe", "unsubscribe"):
            sub = obj.get("subscription")
            if not isinstance(sub, dict) or sub.get("type") not in TYPES:
                error = dumps({"channel": "error", "data": f"Invalid subscription {dumps(sub)}"})
                return Outcome([error], rejected=True, is_subscribe=True)
            reply = [dumps({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}})]
            if method == "subscribe":
                return Outcome(reply, subscribe={_key(sub)}, is_subscribe=True)
            return Outcome(reply, unsubscribe={_key(sub)})
        return Outcome([dumps({"channel": "error", "data": f"Unknown method: {method}"})])

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        sub = obj.get("subscription") if isinstance(obj, dict) else None
        return [dumps({"channel": "error", "data": f"Invalid subscription {dumps(sub)}"})]

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        if not isinstance(obj, dict):
            return None
        channel, data = obj.get("channel"), obj.get("data")
        if isinstance(data, dict) and "coin" in data:
            return frozenset((f"{channel}:{data['coin']}",))
        if isinstance(data, list):
            coins = {f"{channel}:{d['coin']}" for d in data if isinstance(d, dict) and "coin" in d}
            return frozenset(coins) or None
        return frozenset((f"{channel}:",)) if channel else None
