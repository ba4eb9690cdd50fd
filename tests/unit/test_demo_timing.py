"""``liqmon demo`` widens the detectors' time tolerances for accelerated playback, never the detection itself."""

from __future__ import annotations

from monitor.commands.demo import timing_overrides
from monitor.settings import load_settings


def test_accelerated_playback_widens_the_staleness_limits_only() -> None:
    settings = load_settings(None, environ={}, overrides=timing_overrides(240.0))
    assert settings.detectors.major.options.stale_s == 540.0
    assert settings.detectors.reorder_tolerance_s == 240.0
    assert settings.detectors.major.cascade.window_s == 300.0  # the detection itself is unchanged
    assert timing_overrides(10.0) == {}  # half a second of jitter is 5 s of market time: within the defaults
