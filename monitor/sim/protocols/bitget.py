"""Bitget: v2 ``/v2/ws/public`` (``channel``/``instId`` args) and UTA ``/v3/ws/public`` (``topic`` args);
text ``ping``/``pong``; ``event`` acks and ``event: error`` with code 30001."""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

V2_CHANNELS = frozenset(("ticker", "trade", "books", "books5", "books15", "candle1m", "index-price"))
V3_TOPICS = frozenset(("liquidation", "ticker", "publicTrade", "books", "kline"))


def _key(arg: dict[str, Any], version: str) -> str | None:
    if version == "v3" or "topic" in arg:
        topic = arg.get("topic")
        if topic not in V3_TOPICS:
            return None
        target = arg.get("symbol") or str(arg.get("instType", "")).lower()
        return f"v3:{topic}:{target}"
    channel = arg.get("channel")
    if channel not in V2_CHANNELS:
        return None
    return f"v2:{channel}:{arg.get('instId') or arg.get('instType')}"


class BitgetProtocol(VenueProtocol):
    """Bitget public websocket, v2 and UTA."""

    venue: ClassVar[str] = "bitget"
    drop_after_s = 120.0
    instrument_paths = ("/api/v2/mix/market/contracts",)

    def on_message(self, client: Client, text: str) -> Outcome:
        if text == "ping":
            return Outcome(["pong"], ping=True)
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome([dumps({"event": "error", "code": 30001, "msg": "Illegal request"})])
        op, args = obj.get("op"), obj.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            error = {"event": "error", "code": 30001, "msg": f"Illegal request: {text[:100]}", "op": op}
            return Outcome([dumps(error)], rejected=op == "subscribe", is_subscribe=op == "subscribe")
        version = "v3" if "/v3/" in client.path else "v2"
        keys: set[str] = set()
        for arg in args:
            key = _key(arg, version) if isinstance(arg, dict) else None
            if key is None:
                msg = f"{dumps(arg)} doesn't exist"
                return Outcome(
                    [dumps({"event": "error", "arg": arg, "code": 30001, "msg": msg, "op": op})],
                    rejected=True,
                    is_subscribe=True,
                )
            keys.add(key)
        replies = [dumps({"event": op, "arg": arg}) for arg in args]
        if op == "subscribe":
            return Outcome(replies, subscribe=keys, is_subscribe=True)
        return Outcome(replies, unsubscribe=keys)

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        args = obj.get("args") if isinstance(obj, dict) else None
        arg = args[0] if isinstance(args, list) and args else {}
        return [dumps({"event": "error", "arg": arg, "code": 30001, "msg": "subscription refused", "op": "subscribe"})]

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        arg = obj.get("arg") if isinstance(obj, dict) else None
        if not isinstance(arg, dict):
            return None
        key = _key(arg, "v3" if "topic" in arg else "v2")
        return frozenset((key,)) if key else None
