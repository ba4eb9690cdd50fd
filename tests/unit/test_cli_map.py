"""The CLI's map is one folder: every ``liqmon`` command is a module of ``monitor/commands/``, named after it."""

from __future__ import annotations

import importlib
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
