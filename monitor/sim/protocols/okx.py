"""OKX v5 public: text ``ping``/``pong``, ``op`` subscribe acked per arg with ``event``."""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

CHANNELS = frozenset(
    (
        "liquidation-orders",
        "funding-rate",
        "mark-price",
        "open-interest",
        "tickers",
        "instruments",
        "trades",
        "price-limit",
        "index-tickers",
        "estimated-price",
    )
)


def _key(arg: dict[str, Any]) -> str:
    target = arg.get("instId") or arg.get("instType") or arg.get("instFamily") or ""
    return f"{arg.get('channel')}:{target}"


class OkxProtocol(VenueProtocol):
    """OKX v5 public channels."""

    venue: ClassVar[str] = "okx"
    drop_after_s = 30.0
    instrument_paths = ("/api/v5/public/instruments",)

    def _error(self, client: Client, rid: object, code: str, msg: str) -> str:
        reply: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": client.conn_id}
        if rid is not None:
            reply["id"] = rid
        return dumps(reply)

    def on_message(self, client: Client, text: str) -> Outcome:
        if text == "ping":
            return Outcome(["pong"], ping=True)
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome([self._error(client, None, "60012", f"Invalid request: {text[:100]}")])
        op, rid, args = obj.get("op"), obj.get("id"), obj.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return Outcome(
                [self._error(client, rid, "60012", f"Invalid request: {text[:100]}")],
                rejected=op == "subscribe",
                is_subscribe=op == "subscribe",
            )
        for arg in args:
            if not isinstance(arg, dict) or arg.get("channel") not in CHANNELS:
                return Outcome(
                    [self._error(client, rid, "60018", f"Wrong URL or channel:{dumps(arg)} doesn't exist.")],
                    rejected=True,
                    is_subscribe=True,
                )
        replies = []
        for arg in args:
            reply: dict[str, Any] = {"event": op, "arg": arg, "connId": client.conn_id}
            if rid is not None:
                reply = {"id": rid, **reply}
            replies.append(dumps(reply))
        keys = {_key(a) for a in args}
        if op == "subscribe":
            return Outcome(replies, subscribe=keys, is_subscribe=True)
        return Outcome(replies, unsubscribe=keys)

    def reject(self, client: Client, text: str) -> list[str]:
        return [self._error(client, None, "60012", f"Invalid request: {text[:100]}")]

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        arg = obj.get("arg") if isinstance(obj, dict) else None
        if not isinstance(arg, dict):
            return None
        keys = {_key(arg)}
        for field in ("instId", "instType", "instFamily"):
            if arg.get(field):
                keys.add(f"{arg.get('channel')}:{arg[field]}")
        return frozenset(keys)
