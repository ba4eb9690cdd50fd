"""Bitfinex v2 public: ``info`` on connect, ``subscribe`` to ``status`` keys with a ``chanId`` per key,
``[chanId, payload]`` pushes, ``{"event":"ping"}`` → ``pong``."""

from __future__ import annotations

import zlib
from typing import ClassVar

from monitor.sim.protocols.base import Client, Outcome, VenueProtocol, dumps, loads, now_ms

ERROR_SUBSCRIBE = 10300  # "subscription failed"


def channel_id(key: str) -> int:
    """The channel id the simulator gives ``key`` (stable, so scenario captures can use it too)."""
    return 100_000 + zlib.crc32(key.encode()) % 900_000


class BitfinexProtocol(VenueProtocol):
    """Bitfinex public websocket, ``status`` channel."""

    venue: ClassVar[str] = "bitfinex"
    drop_after_s = 60.0
    instrument_paths = ("/v2/status/deriv",)

    def __init__(self) -> None:
        self._keys: dict[int, str] = {}

    def on_connect(self, client: Client) -> list[str]:
        return [dumps({"event": "info", "version": 2, "serverId": client.conn_id, "platform": {"status": 1}})]

    def on_message(self, client: Client, text: str) -> Outcome:
        obj = loads(text)
        if not isinstance(obj, dict):
            return Outcome([dumps({"event": "error", "msg": "invalid message", "code": 10000})])
        event = obj.get("event")
        if event == "ping":
            return Outcome([dumps({"event": "pong", "ts": now_ms(), "cid": obj.get("cid")})], ping=True)
        if event == "subscribe":
            key = obj.get("key")
            if obj.get("channel") != "status" or not isinstance(key, str) or not key.startswith(("deriv:t", "liq:")):
                return Outcome(self.reject(client, text), rejected=True, is_subscribe=True)
            chan = channel_id(key)
            self._keys[chan] = key
            reply = dumps({"event": "subscribed", "channel": "status", "chanId": chan, "key": key})
            return Outcome([reply], subscribe={key}, is_subscribe=True)
        return Outcome([dumps({"event": "error", "msg": f"unknown event {event}", "code": 10000})])

    def reject(self, client: Client, text: str) -> list[str]:
        return [dumps({"event": "error", "msg": "subscribe: invalid", "code": ERROR_SUBSCRIBE})]

    def is_snapshot(self, frame: str) -> bool:
        """A recorded ``subscribed`` event: a reconnecting client needs it again to read the channel's pushes."""
        return frame.startswith('{"event":"subscribed"')

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        obj = loads(frame)
        if isinstance(obj, dict):  # a recorded ``subscribed`` event goes to that key's subscribers
            key = obj.get("key")
            return frozenset((key,)) if isinstance(key, str) else None
        if isinstance(obj, list) and obj and isinstance(obj[0], int) and obj[0] in self._keys:
            return frozenset((self._keys[obj[0]],))
        return None
