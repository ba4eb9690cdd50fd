"""Capture files (DESIGN §4): raw venue frames for record and replay."""

from monitor.capture.format import CaptureRecord, CaptureWriter, read_capture

__all__ = ["CaptureRecord", "CaptureWriter", "read_capture"]
