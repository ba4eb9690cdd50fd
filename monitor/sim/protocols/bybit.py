"""Bybit v5 public (linear/inverse): ``op`` subscribe/ping with ``success``/``ret_msg`` replies."""

from __future__ import annotations

from typing import ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

TOPICS = ("allLiquidation", "liquidation", "tickers", "publicTrade", "orderbook", "kline", "tickers_lt")


class BybitProtocol(VenueProtocol):
    """Bybit v5 public streams."""

    venue: ClassVar[str] = "bybit"
    drop_after_s = 600.0
    instrument_paths = ("/v5/market/instruments-info",)

    def _reply(self, client: Client, op: str, req_id: object, ok: bool, msg: str) -> str:
        reply = {"success": ok, "ret_msg": msg, "conn_id": client.conn_id, "op": op}
        if req_id is not None:
            reply["req_id"] = req_id
        return dumps(reply)

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome([self._reply(client, "", None, False, "error:request not json")])
        op, req_id = obj.get("op"), obj.get("req_id")
        if op == "ping":
            return Outcome([self._reply(client, "ping", req_id, True, "pong")], ping=True)
        if op in ("subscribe", "unsubscribe"):
            args = obj.get("args")
            if not isinstance(args, list) or not args:
                return Outcome(
                    [self._reply(client, op, req_id, False, "error:args is empty")], rejected=True, is_subscribe=True
                )
            bad = [a for a in args if not isinstance(a, str) or a.split(".", 1)[0] not in TOPICS or "." not in a]
            if bad:
                return Outcome(
                    [self._reply(client, op, req_id, False, f"error:handler not found,topic:{bad[0]}")],
                    rejected=True,
                    is_subscribe=True,
                )
            reply = [self._reply(client, op, req_id, True, op)]
            if op == "subscribe":
                return Outcome(reply, subscribe=set(args), is_subscribe=True)
            return Outcome(reply, unsubscribe=set(args))
        return Outcome([self._reply(client, str(op), req_id, False, f"error:unknown op {op}")])

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        req_id = obj.get("req_id") if isinstance(obj, dict) else None
        args = obj.get("args") if isinstance(obj, dict) else None
        topic = args[0] if isinstance(args, list) and args else ""
        return [self._reply(client, "subscribe", req_id, False, f"error:handler not found,topic:{topic}")]

    def is_snapshot(self, frame: str) -> bool:
        obj = loads(frame)
        return (
            isinstance(obj, dict) and obj.get("type") == "snapshot" and str(obj.get("topic", "")).startswith("tickers.")
        )

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        topic = obj.get("topic") if isinstance(obj, dict) else None
        return frozenset((topic,)) if isinstance(topic, str) else None
