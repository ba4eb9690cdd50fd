"""``[detectors]`` settings through the strict loader: defaults, classes, overrides, errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from monitor.detectors.config import DetectorSettings
from monitor.errors import ConfigError
from monitor.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "config" / "detectors.toml"


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DetectorSettings:
    path = tmp_path / "liqmon.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=environ or {}).detectors


def test_asset_classes_have_their_own_defaults() -> None:
    s = DetectorSettings()
    assert s.class_of("BTC") == "major"
    assert s.class_of("SOL") == "large_cap"
    assert s.class_of("PEPE") == "small_cap"
    floors = [s.for_asset(b).cascade.floor_usd for b in ("BTC", "SOL", "PEPE")]
    assert floors == sorted(floors, reverse=True)


def test_toml_overrides_one_asset(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
[detectors]
majors = ["BTC"]

[detectors.assets.ETH]
asset_class = "large_cap"

[detectors.assets.PEPE.cascade]
floor_usd = 1_000_000
min_count = 12
""",
    )
    assert s.class_of("ETH") == "large_cap"
    pepe = s.for_asset("PEPE").cascade
    assert (pepe.floor_usd, pepe.min_count) == (1_000_000.0, 12)
    assert isinstance(pepe.min_count, int)
    assert s.for_asset("WIF").cascade.floor_usd == s.small_cap.cascade.floor_usd


def test_environment_override(tmp_path: Path) -> None:
    s = load(tmp_path, "", {"LIQMON_DETECTORS__MAJOR__CASCADE__FLOOR_USD": "25000000"})
    assert s.for_asset("BTC").cascade.floor_usd == 25_000_000.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[detectors.major.cascade]\nflor_usd = 1\n", "detectors.major.cascade.flor_usd"),
        ("[detectors.assets.BTC.cascade]\nflor_usd = 1\n", "detectors.assets.BTC.cascade.flor_usd"),
        ("[detectors.major.cascade]\nexit_ratio = 2.0\n", "exit_ratio"),
        ('[detectors.assets.BTC]\nasset_class = "mega"\n', "detectors.assets.BTC.asset_class"),
        ("[detectors.assets.BTC.cascade]\ninfo_multiple = 50\n", "multiples must rise"),
        ("[detectors.major.cascade]\nwarning_usd = 2e8\n", "warning_usd must not exceed"),
        ("[detectors.major.cascade]\nfast_window_s = 600\n", "fast_window_s must not exceed"),
        ("[detectors.major.open_interest]\nglitch_jump_pct = 0\n", "glitch_jump_pct"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(tmp_path, text)


def test_documented_example_section_loads_and_matches_the_defaults(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert "detectors" in data
    assert load(tmp_path, text) == DetectorSettings()
