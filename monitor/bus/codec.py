"""Pure JSON codec for events (msgspec) and alerts (orjson) (DESIGN §3, §5, §7).

``encode`` gives the JSON bytes stored in a stream entry's ``data`` field and
written by ``--events-out``; ``decode`` reverses it and validates, raising
:class:`~monitor.errors.InvalidEvent` with the reason on anything that breaks
the contract.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import orjson

from monitor.alerts.model import Alert
from monitor.errors import InvalidEvent
from monitor.events import EVENT_TYPES, Event

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final[msgspec.json.Decoder[Event]] = msgspec.json.Decoder(Event)


def encode(event: Event) -> bytes:
    """The event as compact JSON bytes, ``kind`` first."""
    return _ENCODER.encode(event)


def _invalid(exc: msgspec.MsgspecError) -> InvalidEvent:
    """Our error for msgspec's, naming the field: ``price: expected `float`, got `null```."""
    message = str(exc)
    detail, _, where = message.partition(" - at `$.")
    name = where.rstrip("`")
    if name == "kind":
        return InvalidEvent(
            f"unknown event kind {detail.removeprefix('Invalid value ')}; expected one of {sorted(EVENT_TYPES)}"
        )
    if name:
        return InvalidEvent(f"{name}: {detail[:1].lower()}{detail[1:]}")
    if detail.startswith("Object "):
        return InvalidEvent(f"event has missing or unexpected fields: {detail[7:]}")
    if detail.startswith("Expected `object`"):
        return InvalidEvent(f"an event must be a JSON object: {detail}")
    return InvalidEvent(message)


def decode(data: bytes | str) -> Event:
    """Parse and validate one encoded event (types checked in C, then each event's own checks)."""
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"event is not valid JSON: {exc}") from None


def event_from_dict(data: dict[str, Any]) -> Event:
    """Validate an already-parsed JSON object as an event."""
    try:
        event: Event = msgspec.convert(data, Event)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    return event


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
