"""What liqmon knows about a venue, as one value: :class:`VenueSpec`.

Each venue module defines one ``SPEC`` and :mod:`monitor.venues.registry`
lists the modules; settings, the simulators, the scenario generator, metrics
labels and the docs' venue table read the registry. Generic code reads a
venue's behaviour from these values (a keepalive strategy, REST requests,
limits) and never branches on a venue's name.

The limits are the venues' documented ones; docs/venues-connection.md names
the source of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

KeepaliveMode = Literal["server_ping", "client_ping", "answer_server"]


@dataclass(frozen=True, slots=True)
class Keepalive:
    """How a venue wants a client to keep its connection alive.

    ``server_ping``: the client sends protocol pings every ``interval_s`` and
    the pongs prove the path (servers that ping us are answered by the
    library). ``client_ping``: the client sends the application-level
    ``payload`` every ``interval_s``. ``answer_server``: the client only
    answers what the server sends (the adapter's ``reply``), after asking for
    it with the subscribe frames. ``drop_after_s`` is how long the venue
    tolerates a client that does not ping (the simulators enforce it).
    """

    mode: KeepaliveMode
    interval_s: float
    payload: str | None = None
    drop_after_s: float = 60.0


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One REST request as a value: method, path (relative to the REST base URL) and JSON body.

    ``path`` is also the request's name in captures and in ``load_instruments``.
    """

    path: str
    method: Literal["GET", "POST"] = "GET"
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` actions per ``per_s`` seconds."""

    count: int
    per_s: float

    @property
    def spacing_s(self) -> float:
        """The even spacing that stays within the rate."""
        return self.per_s / self.count


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """A venue's documented limits; None means the venue documents none."""

    # New websocket connections per IP.
    connections: Rate | None = None
    # Subscribe requests per connection.
    subscribes: Rate | None = None
    # Topics (streams, args, channels) one connection may carry, and all connections of an IP.
    topics_per_connection: int | None = None
    ip_topics: int | None = None
    # Messages the client may send per connection (pings and subscribes included).
    messages: Rate | None = None
    # Messages the client may send over all its connections to the venue (per IP).
    ip_messages: Rate | None = None
    # The venue closes a connection at this age (None: no cut-off).
    max_connection_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """One venue, described once."""

    name: str
    # "module:Class" of the adapter (connection plan and parsing).
    adapter: str
    ws_url: str
    rest_url: str
    keepalive: Keepalive
    limits: VenueLimits = field(default_factory=VenueLimits)
    # Topics liqmon puts on one connection (within the documented limit, often well below it).
    topics_per_connection: int = 200
    # Largest websocket message accepted, in bytes; a larger one closes the socket unread (1009).
    max_frame_bytes: int = 2**20
    # No frame at all (data, pong or heartbeat) for this long means the connection is dead.
    liveness_timeout_s: float = 90.0
    # REST requests that list the venue's instruments.
    instruments: tuple[RestRequest, ...] = ()
    # The venue publishes liquidations at all, and whether its feed is sampled: at most one order per
    # symbol per interval, so sums over it are lower bounds.
    liquidations: bool = True
    sampled: bool = False
    # Some of the venue's frames carry no venue time (the receive time stands in).
    untimed: bool = False
    # Currencies whose USD option chains liqmon follows on this venue (options_summary; docs/options.md).
    options: tuple[str, ...] = ()
    # Symbols watched when the settings name none (empty: every perpetual the venue lists).
    default_symbols: tuple[str, ...] = ()
    # "module:Class" of the simulator's protocol and module path of the scenario encoder.
    simulator: str = ""
    encoder: str = ""
    # Scenario generator: share of open interest and liquidations, and the feed's typical latency.
    scenario_share: float = 0.0
    scenario_latency_ms: int = 50
