"""Faults a simulator can inject on command (see :meth:`monitor.sim.venue.VenueSim.inject`).

Each fault is a small frozen value; the simulator applies it at once, or when
its playback reaches a given frame (``inject(fault, at_frame=n)``), so tests
can place a disconnect exactly between two frames.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Close:
    """Close every connected client with this close code (1011: server error, 1001: going away)."""

    code: int = 1011
    reason: str = "simulated failure"


@dataclass(frozen=True, slots=True)
class Silence:
    """Stop reading from and writing to every connected client (no data, no pongs) for ``seconds``.

    None keeps them silent until they disconnect; new connections are served normally.
    """

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Garbage:
    """Send a frame that is not what the venue ever sends."""

    text: str = "\x00garbage{{{ not json"


@dataclass(frozen=True, slots=True)
class Oversize:
    """Send a frame of ``size_bytes`` bytes (larger than the client's ``max_size``)."""

    size_bytes: int = 4 * 2**20


@dataclass(frozen=True, slots=True)
class Delay:
    """Hold the playback for ``seconds`` before the next frame."""

    seconds: float


@dataclass(frozen=True, slots=True)
class AcceptThenClose:
    """Complete the handshake of the next ``count`` connections, then close them at once (None: all)."""

    count: int | None = None
    code: int = 1013
    reason: str = "try again later"


@dataclass(frozen=True, slots=True)
class RejectSubscriptions:
    """Answer the next ``count`` subscribe requests with the venue's error reply."""

    count: int = 1


@dataclass(frozen=True, slots=True)
class RestError:
    """Answer the next ``count`` REST requests whose path contains ``path_contains`` with ``status``."""

    status: int
    count: int = 1
    path_contains: str = ""
    retry_after_s: float | None = None


Fault = Close | Silence | Garbage | Oversize | Delay | AcceptThenClose | RejectSubscriptions | RestError
