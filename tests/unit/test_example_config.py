"""liqmon.example.toml is valid, covers every key, and matches its parts in docs/config/."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

from monitor.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "liqmon.example.toml"


def setting_paths(obj: Any, prefix: str = "") -> set[str]:
    """Every leaf key of the settings tree as a dotted path (one representative per dict of tables)."""
    paths: set[str] = set()
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        path = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            paths |= setting_paths(value, f"{path}.")
        elif isinstance(value, dict):
            paths.add(path)
        else:
            paths.add(path)
    return paths


def documented_keys(text: str) -> set[str]:
    """Dotted keys written in the file, active or commented out (`# key = ...`)."""
    keys: set[str] = set()
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        header = re.match(r"^#?\s*\[\[?([A-Za-z0-9_.\-]+)\]\]?\s*$", line)
        if header:
            keys.add(header.group(1))  # an optional table (e.g. [alerts.slack]) shown as a whole
            table = header.group(1) + "."
            continue
        item = re.match(r"^#?\s*([A-Za-z0-9_]+)\s*=", line)
        if item:
            key = item.group(1)
            keys.add(table + (key[: -len("_file")] if key.endswith("_file") else key))
    return keys


def test_example_configuration_is_valid() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert isinstance(settings, Settings)


def test_example_configuration_mentions_every_key() -> None:
    documented = documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    expected = setting_paths(Settings())
    # Per-venue tables share one shape: each key must be shown at least for binance.
    expected = {p for p in expected if not re.match(r"venues\.(?!binance\.)[a-z]+\.", p)}
    # A table of named tables (alerts.webhooks, detectors.assets) is documented by an example entry.
    missing = sorted(p for p in expected if p not in documented and not any(d.startswith(p + ".") for d in documented))
    assert not missing, f"liqmon.example.toml does not mention: {missing}"


def test_example_is_assembled_from_its_parts(tmp_path: Path) -> None:
    before = EXAMPLE.read_text(encoding="utf-8")
    subprocess.run([str(ROOT / "scripts" / "build-example-config")], check=True, cwd=ROOT, capture_output=True)
    assert EXAMPLE.read_text(encoding="utf-8") == before, "run scripts/build-example-config and commit the result"
