"""Detector checkpoints: one shard's detection state, versioned and compact, for a fast takeover.

A checkpoint is the :meth:`DetectionEngine.snapshot` of one shard's engine, the
stream entry id it covers (every entry up to and including it is in the state),
when it was written, a format version and a fingerprint of the detection
settings. It is JSON (msgspec), never pickle: a checkpoint is data, restoring it
runs no code. A checkpoint of another format version or of other detection
settings is refused with :class:`CheckpointRefused` (the caller logs it, counts
it and rebuilds from history instead): windows built with other sizes would
give other alerts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Final

import msgspec

from monitor.detectors.config import DetectorSettings

# Bump whenever the shape of any detector's snapshot changes (3: open-interest sums rebuilt from the sources).
VERSION: Final = 3

# DetectorSettings fields that steer the runner, not detection: changing them keeps checkpoints valid.
_RUNNER_FIELDS: Final = frozenset(
    {
        "enabled",
        "lease_ttl_s",
        "lease_renew_s",
        "rebuild_hours",
        "rebuild_page",
        "read_count",
        "block_ms",
        "max_shards",
        "checkpoint_interval_s",
        "checkpoint_events",
    }
)


class Checkpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """One shard's detection state as of stream entry ``entry_id``."""

    version: int
    settings: str
    shard: int
    entry_id: str
    written_ms: int
    state: dict[str, Any]


class CheckpointRefused(Exception):
    """A stored checkpoint that cannot be used; ``reason`` is a short metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def settings_fingerprint(settings: DetectorSettings) -> str:
    """A short digest of the settings that shape detection (runner settings left out)."""
    shaping = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in _RUNNER_FIELDS}
    return hashlib.sha256(msgspec.json.encode(shaping, order="sorted")).hexdigest()[:16]


def encode(checkpoint: Checkpoint) -> bytes:
    """The checkpoint as JSON bytes."""
    return msgspec.json.encode(checkpoint)


def decode(data: bytes | str, settings: DetectorSettings) -> Checkpoint:
    """A stored checkpoint, checked against this release's format and ``settings``.

    Raises :class:`CheckpointRefused` with reason ``decode``, ``version`` or ``settings``.
    """
    try:
        header = msgspec.json.decode(data, type=dict[str, Any])
    except msgspec.DecodeError as exc:
        raise CheckpointRefused("decode", f"checkpoint is not JSON: {exc}") from None
    version = header.get("version")
    if version != VERSION:
        raise CheckpointRefused("version", f"checkpoint format {version!r}, this release reads {VERSION}")
    try:
        checkpoint = msgspec.convert(header, Checkpoint)
    except msgspec.ValidationError as exc:
        raise CheckpointRefused("decode", f"checkpoint is malformed: {exc}") from None
    expected = settings_fingerprint(settings)
    if checkpoint.settings != expected:
        raise CheckpointRefused(
            "settings", f"checkpoint of other detection settings ({checkpoint.settings}, now {expected})"
        )
    return checkpoint


__all__ = ["VERSION", "Checkpoint", "CheckpointRefused", "decode", "encode", "settings_fingerprint"]
