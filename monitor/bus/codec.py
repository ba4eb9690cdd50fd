"""Pure orjson codec for events and alerts (DESIGN §3, §5, §7).

``encode`` gives the JSON bytes stored in a stream entry's ``data`` field and
written by ``--events-out``; ``decode`` reverses it and validates, raising
:class:`~monitor.errors.InvalidEvent` with the reason on anything that breaks
the contract.
"""

from __future__ import annotations

from typing import Any

import orjson

from monitor.alerts.model import Alert
from monitor.errors import InvalidEvent
from monitor.events import EVENT_TYPES, Event, Gap


def encode(event: Event) -> bytes:
    """The event as compact JSON bytes (dataclasses serialize natively)."""
    return orjson.dumps(event)


def _from_mapping(data: Any) -> Event:
    if not isinstance(data, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidEvent(f"unknown event kind {kind!r}; expected one of {sorted(EVENT_TYPES)}")
    if cls is Gap and isinstance(data.get("bases"), list):
        data = {**data, "bases": tuple(data["bases"])}
    try:
        return cls(**data)
    except TypeError as exc:
        raise InvalidEvent(f"{kind} event has missing or unexpected fields: {exc}") from None


def decode(data: bytes | str) -> Event:
    """Parse and validate one encoded event."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"event is not valid JSON: {exc}") from None
    return _from_mapping(obj)


def event_from_dict(data: dict[str, Any]) -> Event:
    """Validate an already-parsed JSON object as an event."""
    return _from_mapping(data)


def encode_alert(alert: Alert) -> bytes:
    """The alert as compact JSON bytes (DESIGN §7 field names)."""
    return orjson.dumps(alert)


def decode_alert(data: bytes | str) -> Alert:
    """Parse and validate one encoded alert."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"alert is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("an alert must be a JSON object")
    try:
        return Alert(**obj)
    except TypeError as exc:
        raise InvalidEvent(f"alert has missing or unexpected fields: {exc}") from None
