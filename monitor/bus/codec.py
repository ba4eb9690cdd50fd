"""Pure JSON codec for events (msgspec) (DESIGN §3, §5); alerts have theirs in :mod:`monitor.alert`.

``encode`` gives one event's JSON bytes (``--events-out``, and the ``data``
field of the previous release's one-event stream entries); ``decode`` reverses
it, raising :class:`~monitor.errors.InvalidEvent` with the reason on anything
that breaks the contract. Events on our bus were checked when they were made, so
decoding runs no Python check: msgspec checks each field's type and bound (the
annotations in :mod:`monitor.events`) in C as it decodes. ``encode_batch`` / ``decode_batch`` do the
same for the JSON array a batched stream entry carries: one C call per entry,
and one bad event inside costs only itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from monitor.errors import InvalidEvent
from monitor.events import EVENT_TYPES, Event

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final[msgspec.json.Decoder[Event]] = msgspec.json.Decoder(Event)
_BATCH_DECODER: Final[msgspec.json.Decoder[list[Event]]] = msgspec.json.Decoder(list[Event])
_RAW_DECODER: Final[msgspec.json.Decoder[list[msgspec.Raw]]] = msgspec.json.Decoder(list[msgspec.Raw])


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
    """Parse one encoded event; its fields' types and bounds are checked in C as it decodes."""
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"event is not valid JSON: {exc}") from None


def encode_batch(events: Sequence[Event]) -> bytes:
    """Events as one compact JSON array (the ``data`` field of a batched stream entry)."""
    return _ENCODER.encode(events)


def pack(events: Sequence[Event], max_events: int, max_bytes: int) -> list[tuple[int, bytes]]:
    """Events cut into entries of at most ``max_events`` and ``max_bytes``: (count, JSON array) each, in order.

    A run of events that does not fit is halved until its parts do; a single event larger than
    ``max_bytes`` still makes an entry of its own.
    """
    out: list[tuple[int, bytes]] = []
    for start in range(0, len(events), max_events):
        _pack_into(out, events[start : start + max_events], max_bytes, None)
    return out


def _pack_into(out: list[tuple[int, bytes]], events: Sequence[Event], max_bytes: int, data: bytes | None) -> None:
    """Append ``events`` as entries; ``data`` is their JSON array when it is already encoded.

    The halves are encoded first and the whole array is their join ("[a]", "[b]" -> "[a,b]", the bytes
    the encoder gives the whole), so a run too large for one entry is encoded once, not once per level.
    """
    if data is not None and (len(data) <= max_bytes or len(events) == 1):
        out.append((len(events), data))
        return
    if len(events) == 1:
        out.append((1, _ENCODER.encode(events)))
        return
    half = len(events) // 2
    head, tail = _ENCODER.encode(events[:half]), _ENCODER.encode(events[half:])
    if data is None and len(head) + len(tail) - 1 <= max_bytes:
        out.append((len(events), b",".join((memoryview(head)[:-1], memoryview(tail)[1:]))))
        return
    _pack_into(out, events[:half], max_bytes, head)
    _pack_into(out, events[half:], max_bytes, tail)


def decode_batch(data: bytes | str) -> tuple[list[Event], list[InvalidEvent]]:
    """The events of a JSON array, in order, and the errors of those that break the contract.

    The whole array is decoded in one call; only when that fails is each element
    decoded on its own, so one bad event never takes its neighbours with it.
    Raises :class:`InvalidEvent` when ``data`` is not a JSON array at all.
    """
    try:
        return _BATCH_DECODER.decode(data), []
    except msgspec.MsgspecError:
        pass
    try:
        raws = _RAW_DECODER.decode(data)
    except msgspec.MsgspecError as exc:
        raise InvalidEvent(f"a batched entry must hold a JSON array of events: {exc}") from None
    events: list[Event] = []
    errors: list[InvalidEvent] = []
    for raw in raws:
        try:
            events.append(decode(raw))
        except InvalidEvent as exc:
            errors.append(exc)
    return events, errors


def event_from_dict(data: dict[str, Any]) -> Event:
    """An already-parsed JSON object as an event (types and bounds checked in C, as :func:`decode` does)."""
    try:
        event: Event = msgspec.convert(data, Event)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    return event
