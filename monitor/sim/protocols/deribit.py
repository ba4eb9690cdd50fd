"""Deribit v2: JSON-RPC ``public/subscribe``, ``set_heartbeat`` + ``test_request``, ``subscription`` pushes."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads, now_ms

CHANNELS = (
    "ticker",
    "incremental_ticker",
    "trades",
    "book",
    "deribit_price_index",
    "deribit_volatility_index",
    "markprice",
    "perpetual",
)
_INTERVALS = ("raw", "100ms", "agg2")


def channel_key(channel: str) -> str:
    """A channel without its interval suffix: ``trades.BTC-PERPETUAL.100ms`` → ``trades.BTC-PERPETUAL``."""
    head, _, tail = channel.rpartition(".")
    return head if tail in _INTERVALS and head else channel


def _kind_keys(instrument: str) -> set[str]:
    currency = instrument.split("-", 1)[0].split("_", 1)[0]
    parts = instrument.split("-")
    kind = "option" if len(parts) >= 4 else "future"
    return {f"trades.{kind}.{currency}", f"trades.any.{currency}", f"trades.{kind}.any", "trades.any.any"}


class DeribitProtocol(VenueProtocol):
    """Deribit JSON-RPC over websocket."""

    venue: ClassVar[str] = "deribit"
    keepalive = "heartbeat"
    instrument_paths = ("/api/v2/public/get_instruments",)

    def _result(self, rid: object, result: Any) -> str:
        now = now_ms() * 1000
        return dumps(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "result": result,
                "usIn": now,
                "usOut": now + 30,
                "usDiff": 30,
                "testnet": False,
            }
        )

    def _error(self, rid: object, code: int, message: str, reason: str = "") -> str:
        error: dict[str, Any] = {"code": code, "message": message}
        if reason:
            error["data"] = {"reason": reason, "param": "channels"}
        return dumps({"jsonrpc": "2.0", "id": rid, "error": error, "testnet": False})

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict) or "method" not in obj:
            return Outcome([self._error(None, -32700, "Parse error")])
        rid, method, params = obj.get("id"), obj.get("method"), obj.get("params") or {}
        if method in ("public/subscribe", "public/unsubscribe"):
            channels = params.get("channels") if isinstance(params, dict) else None
            if not isinstance(channels, list) or not channels:
                return Outcome(
                    [self._error(rid, -32602, "Invalid params", "channels is required")],
                    rejected=True,
                    is_subscribe=True,
                )
            bad = [c for c in channels if not isinstance(c, str) or c.split(".", 1)[0] not in CHANNELS or "." not in c]
            if bad:
                return Outcome(
                    [self._error(rid, -32602, "Invalid params", f"wrong format of channel {bad[0]}")],
                    rejected=True,
                    is_subscribe=True,
                )
            keys = {channel_key(c) for c in channels}
            for c in channels:
                client.names[channel_key(c)] = c
            if method == "public/subscribe":
                return Outcome([self._result(rid, channels)], subscribe=keys, is_subscribe=True)
            return Outcome([self._result(rid, channels)], unsubscribe=keys)
        if method == "public/set_heartbeat":
            interval = params.get("interval") if isinstance(params, dict) else None
            if not isinstance(interval, (int, float)) or interval < 10:
                return Outcome([self._error(rid, 10001, "invalid_arguments", "interval must be at least 10")])
            return Outcome([self._result(rid, "ok")], heartbeat_s=float(interval))
        if method == "public/test":
            return Outcome([self._result(rid, {"version": "1.2.26"})], test_answer=True, ping=True)
        if method in ("public/hello", "public/disable_heartbeat"):
            return Outcome([self._result(rid, "ok")])
        return Outcome([self._error(rid, -32601, "Method not found")])

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        rid = obj.get("id") if isinstance(obj, dict) else None
        return [self._error(rid, -32602, "Invalid params", "subscription refused")]

    def test_request(self) -> str:
        """The heartbeat the server sends after ``set_heartbeat``."""
        return dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        params = obj.get("params") if isinstance(obj, dict) else None
        channel = params.get("channel") if isinstance(params, dict) else None
        if not isinstance(channel, str):
            return None
        key = channel_key(channel)
        keys = {key}
        if key.startswith("trades."):
            instrument = key.split(".", 1)[1]
            if instrument.count(".") == 0:
                keys |= _kind_keys(instrument)
        return frozenset(keys)

    def render(self, frame: str, client: Client, key: str) -> str:
        name = client.names.get(key)
        obj = loads(frame)
        params = obj.get("params") if isinstance(obj, dict) else None
        if name is None or not isinstance(params, dict) or params.get("channel") == name:
            return frame
        params["channel"] = name
        return orjson.dumps(obj).decode()
