"""The build's guard: a compiled module older than its source is reported, so no test runs the old code."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import stale_compiled_modules


def _write(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    os.utime(path, (mtime, mtime))


def test_a_source_edited_after_compiling_is_stale(tmp_path: Path) -> None:
    _write(tmp_path / "monitor/detectors/cascade.cpython-311-x86_64-linux-gnu.so", 1_000.0)
    _write(tmp_path / "monitor/detectors/cascade.py", 2_000.0)
    _write(tmp_path / "monitor/detectors/windows.cpython-311-x86_64-linux-gnu.so", 2_000.0)
    _write(tmp_path / "monitor/detectors/windows.py", 1_000.0)
    _write(tmp_path / "monitor/detectors/engine.py", 3_000.0)  # not compiled: never stale
    assert stale_compiled_modules(tmp_path) == ["monitor/detectors/cascade.py"]


def test_a_build_without_compiled_modules_is_never_stale(tmp_path: Path) -> None:
    _write(tmp_path / "monitor/detectors/cascade.py", 2_000.0)
    assert stale_compiled_modules(tmp_path) == []
