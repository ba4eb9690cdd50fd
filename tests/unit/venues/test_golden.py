"""Every vendored sample frame still normalizes to the checked-in events (see tests/unit/venues/golden.py)."""

from __future__ import annotations

import pytest

from tests.unit.venues.golden import INSTRUMENT_FILES, golden_path, outcomes, render, sample_files


@pytest.mark.parametrize("venue", sorted(INSTRUMENT_FILES))
def test_samples_match_golden_file(venue: str) -> None:
    assert sample_files(venue), f"no sample frames for {venue}"
    expected = golden_path(venue).read_text().splitlines()
    actual = render(outcomes(venue)).splitlines()
    # Line by line, so a failure names the sample whose outcome changed.
    for want, got in zip(expected, actual, strict=True):
        assert got == want
