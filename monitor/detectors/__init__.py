"""Detectors: pure state machines over events (DESIGN §6); ``runner`` is the only async module."""
