"""The CLI's map is one folder: every ``liqmon`` command is a module of ``monitor/commands/``, named after it."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from monitor.cli import COMMANDS

COMMANDS_DIR = Path(__file__).resolve().parents[2] / "monitor" / "commands"


def test_every_command_is_a_module_of_the_commands_folder_named_after_it() -> None:
    for name, (module_name, _help) in COMMANDS.items():
        assert module_name == f"monitor.commands.{name.replace('-', '_')}", name
        module = importlib.import_module(module_name)
        assert callable(module.configure_parser)
        assert callable(module.run)
    modules = {p.stem for p in COMMANDS_DIR.glob("*.py") if p.stem != "__init__"}
    assert modules == {name.replace("-", "_") for name in COMMANDS}  # and no module without a command


def test_a_command_imports_only_its_own_module() -> None:
    probe = (
        "import sys; from monitor.cli import build_parser; parser = build_parser('replay'); "
        "parser.parse_args(['replay', 'x.jsonl', '--no-detect']); "
        "print(sorted(m for m in sys.modules if m.startswith('monitor.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['monitor.commands.replay']"
    # The others are still listed (with their help) and run as before.
    usage = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True, check=True)
    assert all(name in usage.stdout for name in COMMANDS)
