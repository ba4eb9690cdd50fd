"""What every venue protocol module provides to the simulator.

A protocol is pure: it answers client messages with the venue's exact reply
frames, says which subscription keys a capture frame is delivered to, and
renders a frame for one client (Binance wraps combined streams, Deribit names
the channel the client subscribed to). The simulator
(:mod:`monitor.sim.venue`) does the I/O, pacing and keepalive enforcement.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import orjson

KeepaliveRule = Literal["server_ping", "client_ping", "heartbeat"]

_conn_ids = itertools.count(1)


def conn_id() -> str:
    """A short connection id like the venues hand out."""
    return f"sim{next(_conn_ids):06d}"


def now_ms() -> int:
    """Epoch milliseconds."""
    return time.time_ns() // 1_000_000


def dumps(obj: Any) -> str:
    """Compact JSON text."""
    return orjson.dumps(obj).decode()


def loads(text: str | bytes) -> Any:
    """JSON, or None when the text is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


@dataclass
class Client:
    """One connected client as a protocol sees it."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)  # key -> the name the client used
    conn_id: str = field(default_factory=conn_id)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """A protocol's answer to one client message."""

    replies: list[str] = field(default_factory=list)
    subscribe: set[str] = field(default_factory=set)
    unsubscribe: set[str] = field(default_factory=set)
    rejected: bool = False  # the message was a subscribe the venue refused
    is_subscribe: bool = False  # the message was a subscribe request (accepted or not)
    ping: bool = False  # counts as the client's keepalive
    heartbeat_s: float | None = None  # heartbeat interval the client asked for
    test_answer: bool = False  # answer to a heartbeat test_request
    violation: str | None = None  # the message broke one of the venue's rules (named here)


class VenueProtocol:
    """Base class: override the hooks a venue needs."""

    venue: ClassVar[str]
    keepalive: ClassVar[KeepaliveRule] = "client_ping"
    # Seconds a client may go without pinging (client_ping) or answering (server_ping).
    drop_after_s: ClassVar[float] = 60.0
    # How often the server sends protocol pings (server_ping venues).
    ping_interval_s: ClassVar[float] = 20.0
    # REST paths that list instruments (a capture ``meta`` body without a path is served there).
    instrument_paths: ClassVar[tuple[str, ...]] = ()

    def on_connect(self, client: Client) -> list[str]:
        """Frames sent right after the handshake (BitMEX welcome); may subscribe from the URL."""
        return []

    def on_message(self, client: Client, text: str) -> Outcome:
        """Answer one client message."""
        raise NotImplementedError

    def reject(self, client: Client, text: str) -> list[str]:
        """The venue's error reply to a subscribe request it refuses (used by RejectSubscriptions)."""
        return self.on_message(client, "\x00invalid").replies

    def frame_keys(self, frame: str) -> frozenset[str] | None:
        """Subscription keys a capture frame belongs to; None sends it to every client."""
        raise NotImplementedError

    def is_snapshot(self, frame: str) -> bool:
        """True for a full-state frame the venue sends again to every new subscriber (BitMEX partial)."""
        return False

    def render(self, frame: str, client: Client, key: str) -> str:
        """The frame as this client receives it (``key`` is the client's matching subscription)."""
        return frame

    def test_request(self) -> str:
        """The heartbeat request sent to a client that asked for heartbeats (``Outcome.heartbeat_s``)."""
        raise NotImplementedError(f"{self.venue} has no server heartbeat")

    def rest_weight(self, path: str) -> int:
        """Request weight counted against the simulated budget (0: no rate limiting)."""
        return 0
