"""Gate futures v4: ``{"channel","event":"subscribe","payload"}`` with ``result.status``, ``futures.ping``,
server protocol pings; notes whether the client sent ``X-Gate-Size-Decimal``."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads, now_ms

# Gate refuses a request whose `time` (seconds) is more than 60 s away from its clock.
MAX_TIME_GAP_S = 60

CHANNELS = frozenset(
    (
        "futures.tickers",
        "futures.public_liquidates",
        "futures.contract_stats",
        "futures.trades",
        "futures.book_ticker",
        "futures.order_book",
        "futures.candlesticks",
        "futures.contract_info",
    )
)


def _rows(result: Any) -> list[dict[str, Any]]:
    if isinstance(result, dict):
        return [result]
    rows: list[dict[str, Any]] = []
    if isinstance(result, list):
        for item in result:
            rows.extend(_rows(item))
    return rows


class GateProtocol(VenueProtocol):
    """Gate USDT/BTC-settled futures websocket."""

    venue: ClassVar[str] = "gate"
    keepalive = "server_ping"
    ping_interval_s = 30.0
    drop_after_s = 60.0
    instrument_paths = ("/api/v4/futures/usdt/contracts", "/api/v4/futures/btc/contracts")

    def _reply(self, obj: dict[str, Any], event: str, error: Any, result: Any) -> str:
        reply: dict[str, Any] = {"time": int(time.time()), "time_ms": now_ms()}
        if "id" in obj:
            reply["id"] = obj["id"]
        reply.update({"channel": obj.get("channel"), "event": event, "error": error, "result": result})
        return dumps(reply)

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict):
            error = {"code": 1, "message": "invalid argument: request is not JSON"}
            return Outcome([self._reply({}, "", error, None)])
        channel, event, payload = obj.get("channel"), obj.get("event"), obj.get("payload")
        if channel == "futures.ping":
            pong = {
                "time": int(time.time()),
                "time_ms": now_ms(),
                "channel": "futures.pong",
                "event": "",
                "result": None,
            }
            return Outcome([dumps(pong)], ping=True)
        if event in ("subscribe", "unsubscribe"):
            sent = obj.get("time")
            if not isinstance(sent, int) or abs(sent - time.time()) > MAX_TIME_GAP_S:
                error = {"code": 1, "message": "invalid argument: request time too far from server time"}
                return Outcome(
                    [self._reply(obj, event, error, {"status": "failed"})],
                    rejected=event == "subscribe",
                    is_subscribe=event == "subscribe",
                    violation=f"request time {sent!r} more than {MAX_TIME_GAP_S} s from server time",
                )
            if channel not in CHANNELS or not isinstance(payload, list) or not payload:
                error = {"code": 2, "message": f"unknown channel {channel} or invalid payload"}
                return Outcome(
                    [self._reply(obj, event, error, {"status": "failed"})],
                    rejected=event == "subscribe",
                    is_subscribe=event == "subscribe",
                )
            keys = {f"{channel}:{p}" for p in payload if isinstance(p, str)}
            reply = [self._reply(obj, event, None, {"status": "success"})]
            if event == "subscribe":
                return Outcome(reply, subscribe=keys, is_subscribe=True)
            return Outcome(reply, unsubscribe=keys)
        return Outcome([self._reply(obj, str(event), {"code": 1, "message": f"invalid event {event}"}, None)])

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        obj = obj if isinstance(obj, dict) else {}
        return [self._reply(obj, "subscribe", {"code": 2, "message": "subscription refused"}, {"status": "failed"})]

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        if not isinstance(obj, dict) or not isinstance(obj.get("channel"), str):
            return None
        channel = obj["channel"]
        keys = {f"{channel}:!all"}
        keys |= {f"{channel}:{row['contract']}" for row in _rows(obj.get("result")) if "contract" in row}
        return frozenset(keys)
