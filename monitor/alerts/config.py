"""Alert sink settings; secrets (webhook URLs, HMAC keys, passwords) come from the environment or files."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``[alerts]``."""

    # The console sink prints one line per alert (colour on a terminal, JSON otherwise).
    console: bool = True
