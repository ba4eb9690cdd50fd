"""Binance USD-M futures: streams in the URL (raw ``/ws/<s>`` or combined ``/stream?streams=a/b``),
live ``SUBSCRIBE``, server protocol pings, ``X-MBX-USED-WEIGHT-1M`` on REST."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

_ARR_MARK = ("!markPrice@arr", "!markPrice@arr@1s")


def _payload(obj: Any) -> Any:
    if isinstance(obj, dict) and "stream" in obj and "data" in obj:
        return obj["data"]
    return obj


def _symbol_keys(item: Any) -> set[str]:
    if not isinstance(item, dict):
        return set()
    kind = item.get("e")
    if kind == "forceOrder":
        order = item.get("o")
        symbol = str(order.get("s", "")).lower() if isinstance(order, dict) else ""
        return {f"{symbol}@forceOrder", "!forceOrder@arr"}
    symbol = str(item.get("s", "")).lower()
    if kind == "markPriceUpdate":
        return {f"{symbol}@markPrice", f"{symbol}@markPrice@1s", *_ARR_MARK}
    return {f"{symbol}@{kind}"} if kind else set()


class BinanceProtocol(VenueProtocol):
    """Binance USD-M market streams."""

    venue: ClassVar[str] = "binance"
    keepalive = "server_ping"
    ping_interval_s = 180.0
    drop_after_s = 600.0
    instrument_paths = ("/fapi/v1/exchangeInfo", "/fapi/v1/fundingInfo")

    def on_connect(self, client: Client) -> list[str]:
        parts = urlsplit(client.path)
        streams = parse_qs(parts.query).get("streams", [""])[0]
        if streams:
            client.extra["combined"] = True
            client.topics.update(s for s in streams.split("/") if s)
        elif "/ws/" in parts.path:
            client.topics.add(parts.path.rsplit("/ws/", 1)[1])
        client.extra.setdefault("combined", parts.path.rstrip("/").endswith("stream"))
        return []

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict) or "method" not in obj:
            return Outcome([dumps({"error": {"code": 3, "msg": "Invalid JSON: expected an object with a method"}})])
        rid = obj.get("id")
        method, params = obj.get("method"), obj.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            valid = isinstance(params, list) and params and all(isinstance(p, str) and "@" in p for p in params)
            if not valid:
                error = {"code": 2, "msg": f"Invalid request: invalid stream names {params!r}"}
                return Outcome([dumps({"error": error, "id": rid})], rejected=True, is_subscribe=True)
            reply = [dumps({"result": None, "id": rid})]
            if method == "SUBSCRIBE":
                return Outcome(reply, subscribe=set(params), is_subscribe=True)
            return Outcome(reply, unsubscribe=set(params))
        if method == "LIST_SUBSCRIPTIONS":
            return Outcome([dumps({"result": sorted(client.topics), "id": rid})])
        return Outcome([dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid})])

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        rid = obj.get("id") if isinstance(obj, dict) else None
        return [dumps({"error": {"code": 2, "msg": "Invalid request: invalid stream names"}, "id": rid})]

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        payload = _payload(loads(frame))
        if isinstance(payload, list):
            keys: set[str] = set()
            for item in payload:
                keys |= _symbol_keys(item)
            return frozenset(keys) or None
        keys = _symbol_keys(payload)
        return frozenset(keys) if keys else None

    def render(self, frame: str, client: Client, key: str) -> str:
        payload = _payload(loads(frame))
        if key in _ARR_MARK and isinstance(payload, dict):
            payload = [payload]
        elif key not in _ARR_MARK and isinstance(payload, list):
            symbol = key.split("@", 1)[0]
            rows = [p for p in payload if isinstance(p, dict) and str(p.get("s", "")).lower() == symbol]
            payload = rows[0] if rows else payload
        if client.extra.get("combined"):
            return dumps({"stream": key, "data": payload})
        return dumps(payload)

    def rest_weight(self, path: str) -> int:
        if path.startswith("/fapi/v1/exchangeInfo"):
            return 1
        return 1 if path.startswith("/fapi/") else 0
