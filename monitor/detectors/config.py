"""Detector settings (DESIGN §6); defaults per asset class are in liqmon.example.toml."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """``[detectors]``."""

    enabled: bool = True
