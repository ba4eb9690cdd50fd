"""Build hook: the detector modules and the options math are compiled to C extensions with mypyc; the rest
is in pyproject.toml.

The compiled modules are built from the same annotated sources that otherwise run as they are, so
there is one implementation; compiled, the detector process spends about a third less CPU per event and
the Deribit option summaries about a seventh fewer instructions (bench/RESULTS.md). A build that
cannot compile them (``LIQMON_PURE_PYTHON=1``, no C compiler, or no mypy beside the runtime
dependencies to type the sources against) installs the sources alone and says so. ``make`` compiles
in place, next to the sources; it rebuilds when one of them changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# The detector process's per-event work (engine.py stays interpreted: tests subclass DetectionEngine), and
# the options math the collector runs per option-chain summary (Black-76 deltas, smiles, tenors).
COMPILED = [
    "monitor/detectors/windows.py",
    "monitor/detectors/hygiene.py",
    "monitor/detectors/cascade.py",
    "monitor/detectors/funding.py",
    "monitor/detectors/open_interest.py",
    "monitor/detectors/options.py",
    "monitor/detectors/context.py",
    "monitor/detectors/episode.py",
    "monitor/detectors/regime.py",
    "monitor/options/smile.py",
    "monitor/options/summary.py",
]


def compiled_extensions() -> list[Any]:
    """The mypyc extensions of :data:`COMPILED`, or none when they cannot be generated here."""
    if os.environ.get("LIQMON_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify

        extensions = mypycify(COMPILED, opt_level="3", debug_level="0", group_name="liqmon_compiled")
    except (ImportError, SystemExit) as exc:  # mypyc exits when the sources do not type-check here
        print(f"liqmon: installing without compiled modules ({exc or 'type check failed'})", file=sys.stderr)
        return []
    return list(extensions)


class BuildAllOrNone(build_ext):
    """Build every compiled module or none: they share one library, so a partial build would not import."""

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as exc:  # no C compiler, or it failed
            for extension in self.extensions:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.get_ext_fullpath(extension.name))
            print(f"liqmon: installing without compiled modules ({exc})", file=sys.stderr)


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": BuildAllOrNone})
