"""BitMEX realtime: welcome banner, ``op`` subscribe (or ``?subscribe=``), text ``ping``/``pong``, table pushes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads

TABLES = frozenset(
    (
        "liquidation",
        "instrument",
        "trade",
        "quote",
        "orderBookL2",
        "orderBookL2_25",
        "orderBook10",
        "funding",
        "settlement",
        "insurance",
        "announcement",
        "connected",
        "publicNotifications",
        "tradeBin1m",
        "tradeBin5m",
    )
)


class BitmexProtocol(VenueProtocol):
    """BitMEX realtime tables."""

    venue: ClassVar[str] = "bitmex"
    drop_after_s = 60.0
    instrument_paths = ("/api/v1/instrument/active", "/api/v1/instrument")

    def on_connect(self, client: Client) -> list[str]:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        frames = [
            dumps(
                {
                    "info": "Welcome to the BitMEX Realtime API.",
                    "version": "2.0.0",
                    "timestamp": stamp,
                    "docs": "https://www.bitmex.com/app/wsAPI",
                    "heartbeatEnabled": False,
                    "limit": {"remaining": 39},
                }
            )
        ]
        wanted = parse_qs(urlsplit(client.path).query).get("subscribe", [""])[0]
        args = [a for a in wanted.split(",") if a]
        if args:
            outcome = self._subscribe(client, args, {"op": "subscribe", "args": args})
            client.topics |= outcome.subscribe
            frames += outcome.replies
        return frames

    def _subscribe(self, client: Client, args: list[Any], request: dict[str, Any]) -> Outcome:
        for arg in args:
            if not isinstance(arg, str) or arg.split(":", 1)[0] not in TABLES:
                error = {"status": 400, "error": f"Unknown table: {arg}", "meta": {}, "request": request}
                return Outcome([dumps(error)], rejected=True, is_subscribe=True)
        replies = [dumps({"success": True, "subscribe": a, "request": request}) for a in args]
        return Outcome(replies, subscribe=set(args), is_subscribe=True)

    def on_message(self, client: Client, text: str) -> Outcome:
        if text == "ping":
            return Outcome(["pong"], ping=True)
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome(
                [
                    dumps(
                        {
                            "status": 400,
                            "error": "Unrecognized request. See the docs or send 'help' for more details.",
                            "meta": {},
                            "request": text[:100],
                        }
                    )
                ]
            )
        op, args = obj.get("op"), obj.get("args")
        if isinstance(args, str):
            args = [args]
        if op == "subscribe" and isinstance(args, list) and args:
            return self._subscribe(client, args, obj)
        if op == "unsubscribe" and isinstance(args, list):
            replies = [dumps({"success": True, "unsubscribe": a, "request": obj}) for a in args]
            return Outcome(replies, unsubscribe={a for a in args if isinstance(a, str)})
        return Outcome(
            [dumps({"status": 400, "error": f"Unknown or invalid op: {op}", "meta": {}, "request": obj})],
            rejected=op == "subscribe",
            is_subscribe=op == "subscribe",
        )

    def reject(self, client: Client, text: str) -> list[str]:
        obj = loads(text)
        return [dumps({"status": 400, "error": "Unknown table", "meta": {}, "request": obj})]

    def is_snapshot(self, frame: str) -> bool:
        obj = loads(frame)
        return isinstance(obj, dict) and obj.get("action") == "partial"

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        table = obj.get("table") if isinstance(obj, dict) else None
        if not isinstance(table, str):
            return None
        keys = {table}
        for row in obj.get("data") or ():
            if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                keys.add(f"{table}:{row['symbol']}")
        return frozenset(keys)
