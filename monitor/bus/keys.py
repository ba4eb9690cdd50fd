"""Every Redis key and consumer-group name liqmon uses (DESIGN §5), in one place.

``{prefix}:events:{N}`` holds shard N's events; the braces are a Redis Cluster
hash tag, so each shard is one slot. ``{prefix}:alerts`` feeds the dispatcher,
``{prefix}:alerts:dead`` keeps deliveries a sink gave up on,
``{prefix}:alerts:published:{{prefix}:alerts}:<id>`` marks alerts already
appended to it, ``{prefix}:sent:<key>`` marks alerts already sent,
``{prefix}:lease:<name>`` holds a lease and ``{prefix}:members:<group>`` lists the live members of a group
of processes sharing work; ``{prefix}:checkpoint:{<lease key>}`` holds the
checkpoint of the work a lease guards (a detector shard's state), in the
lease's cluster slot so a write can check the lease in the same script.
Stream labels in metrics drop the prefix (``events:3``, ``alerts``,
``alerts:dead``) so dashboards work for any prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

EVENTS_GROUP: Final = "detectors"
ALERTS_GROUP: Final = "dispatch"

# Stream entry field names.
FIELD_KIND: Final = b"kind"
FIELD_COUNT: Final = b"n"  # events in a batched events entry
FIELD_DATA: Final = b"data"
FIELD_SINK: Final = b"sink"
FIELD_REASON: Final = b"reason"

ALERTS_LABEL: Final = "alerts"
DEAD_LABEL: Final = "alerts:dead"


def events_label(shard: int) -> str:
    """The ``stream`` metric label of an events shard."""
    return f"events:{shard}"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (``bus.key_prefix``)."""

    prefix: str = "liqmon"

    def events(self, shard: int) -> str:
        """The stream of shard ``shard``: ``liqmon:events:{3}``."""
        return f"{self.prefix}:events:{{{shard}}}"

    @property
    def alerts(self) -> str:
        """The alerts stream."""
        return f"{self.prefix}:alerts"

    @property
    def dead_letters(self) -> str:
        """The dead-letter stream of alert deliveries given up on."""
        return f"{self.prefix}:alerts:dead"

    def published(self, alert_id: str) -> str:
        """The marker of an alert appended to the alerts stream, in the stream's cluster slot."""
        return f"{self.alerts}:published:{{{self.alerts}}}:{alert_id}"

    def sent(self, key: str) -> str:
        """The dedup marker of an alert delivery."""
        return f"{self.prefix}:sent:{key}"

    def lease(self, name: str) -> str:
        """The lease ``name``."""
        return f"{self.prefix}:lease:{name}"

    def members(self, group: str) -> str:
        """The live members of ``group`` (a sorted set scored by expiry, Redis time in ms)."""
        return f"{self.prefix}:members:{group}"

    def checkpoint(self, lease: str) -> str:
        """The checkpoint of the work lease ``lease`` guards: ``liqmon:checkpoint:{liqmon:lease:detector-shard-3}``.

        The hash tag is the whole lease key (which has none of its own), so both are in one cluster
        slot and a script can write the checkpoint only while the writer holds the lease.
        """
        return f"{self.prefix}:checkpoint:{{{self.lease(lease)}}}"

    def shard_of_key(self, key: str) -> int | None:
        """The shard number of an events stream key, None for any other key."""
        head = f"{self.prefix}:events:{{"
        if key.startswith(head) and key.endswith("}"):
            digits = key[len(head) : -1]
            if digits.isdigit():
                return int(digits)
        return None

    def label(self, key: str) -> str:
        """The ``stream`` metric label of a stream key (the key without the prefix)."""
        shard = self.shard_of_key(key)
        if shard is not None:
            return events_label(shard)
        return key.removeprefix(f"{self.prefix}:")
