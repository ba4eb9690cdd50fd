"""The liqmon exception tree.

Every error liqmon raises on purpose derives from :class:`MonitorError`, so a
caller can catch at whatever depth it needs::

    MonitorError
    ├── ConfigError            bad key, type or value in the TOML file or LIQMON_* environment
    ├── UsageError             a command-line argument that cannot work (an unwritable output path, ...)
    ├── InvalidEvent           an event or alert that breaks the DESIGN §3/§7 contract (NaN, negative size, ...)
    │   └── ImplausibleEvent   a well-formed value outside the bounds any real market has (docs/events.md)
    ├── ParseError             a venue frame liqmon cannot normalize; ``reason`` is a short metric label
    │   └── ImplausibleValue   a frame whose event is implausible (reason ``implausible``; ``field`` names it)
    ├── CaptureError           a capture file that cannot be opened or written
    ├── VenueError             a venue connection problem
    │   ├── VenueConnectError      no connection could be opened (``liqmon record`` gives up)
    │   └── SubscriptionRejected   the venue refused a subscription (fatal for that subscription)
    ├── BusError               the event bus (Redis Streams or in-memory) failed
    │   ├── BusUnavailable         Redis is unreachable; callers buffer and retry
    │   │   └── BusWritesRefused       Redis answers but refuses writes (OOM, READONLY, MISCONF)
    │   └── BusAuthError           Redis refused the credentials (fatal at start-up, retried later)
    └── AlertDeliveryError     a sink failed to deliver an alert
        ├── RetryableDelivery      try again later (429, 5xx, timeout); ``retry_after`` in seconds if known
        └── PermanentDelivery      misconfiguration (404 no_service, 403, 410, webhook 4xx); the sink is broken

Library exceptions (websockets, redis, httpx, aiomqtt) are translated into
these at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error liqmon raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid; the message names the key and what to do."""


class UsageError(MonitorError):
    """A command-line argument cannot work as given; the message names it and the reason (exit code 2)."""


class InvalidEvent(MonitorError, ValueError):
    """An event or alert violates the wire contract."""


class ImplausibleEvent(InvalidEvent):
    """A value is well-formed but outside the plausibility bounds of its field (``field`` names it)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ParseError(MonitorError):
    """A venue frame could not be normalized.

    ``reason`` is a short, bounded label used in ``liqmon_feed_parse_errors_total``
    (``json``, ``schema``, ``value``, ``unknown_channel``, ...).
    """

    def __init__(self, message: str, *, reason: str = "schema") -> None:
        super().__init__(message)
        self.reason = reason


class ImplausibleValue(ParseError):
    """A frame carried an implausible value (ts_ms in the year 5000, a $1e24 liquidation, a zero price)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, reason="implausible")
        self.field = field


class CaptureError(MonitorError):
    """A capture file cannot be read or written."""


class VenueError(MonitorError):
    """A venue connection problem."""


class VenueConnectError(VenueError):
    """No connection to a venue could be opened."""


class SubscriptionRejected(VenueError):
    """The venue refused a subscription message."""


class BusError(MonitorError):
    """The event bus failed."""


class BusUnavailable(BusError):
    """Redis cannot be reached right now."""


class BusWritesRefused(BusUnavailable):
    """Redis answers but refuses writes: OOM at ``maxmemory`` with ``noeviction``, a read-only
    replica, or failed persistence (MISCONF). Retried like an outage; shown by
    ``liqmon_bus_writes_refused``."""


class BusAuthError(BusError):
    """Redis refused the credentials (NOAUTH, WRONGPASS, invalid password).

    At start-up this ends the process (exit 2): retrying cannot fix a password.
    After start-up (a password rotated under a running process) it is retried
    like any other bus failure.
    """


class AlertDeliveryError(MonitorError):
    """A sink failed to deliver an alert."""


class RetryableDelivery(AlertDeliveryError):
    """Delivery failed but may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDelivery(AlertDeliveryError):
    """Delivery can never succeed with this configuration."""
