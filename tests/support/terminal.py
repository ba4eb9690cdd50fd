"""A real terminal for tests of full-screen commands: a tmux session on a private socket.

tmux runs the command in a pseudo-terminal of the given size and keeps the
screen as a terminal would show it, escape sequences applied; ``screen()``
reads it back as text lines (``capture-pane``). Each terminal has its own
tmux server (socket in the test's temporary directory), killed afterwards.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Terminal:
    """One tmux server with one window running ``command``."""

    socket: Path
    width: int
    height: int

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = shutil.which("tmux")
        if binary is None:
            raise RuntimeError("tmux is not installed: apt-get install tmux (scripts/install-system-deps does this)")
        return subprocess.run(
            [binary, "-S", str(self.socket), *args], capture_output=True, text=True, check=check, timeout=10
        )

    @property
    def status_file(self) -> Path:
        """Where the shell writes the command's exit status."""
        return self.socket.with_name("exit-status")

    def start(self, command: list[str], env: Mapping[str, str], cwd: Path) -> None:
        """Run ``command`` in a new session of this terminal's size; its exit status goes to a file.

        The shell around it ignores Ctrl-C itself (a no-op trap, reset for the command), waits, and
        writes the status: tmux's own "pane dead" flag can lag behind the exit by many seconds.
        """
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        status = shlex.quote(str(self.status_file))
        shell = (
            f"cd {shlex.quote(str(cwd))} && trap true INT TERM; env -i {exports} {shlex.join(command)}; "
            f"echo $? > {status}.tmp && mv {status}.tmp {status}; sleep 600"
        )
        self._tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height), "sh", "-c", shell)

    def screen(self) -> list[str]:
        """The visible screen, one string per row (trailing spaces removed)."""
        out = self._tmux("capture-pane", "-p", "-t", "t").stdout
        return out.rstrip("\n").split("\n")

    def history(self) -> str:
        """The normal screen with its scrollback (what is left after a full-screen view ended)."""
        return self._tmux("capture-pane", "-p", "-S", "-", "-t", "t").stdout

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names: ``q``, ``C-c``)."""
        self._tmux("send-keys", "-t", "t", *keys)

    def exit_status(self) -> int | None:
        """The command's exit status once it has exited, else None."""
        if not self.status_file.exists():
            return None
        return int(self.status_file.read_text().strip())

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float, what: str) -> list[str]:
        """Poll the screen until ``predicate`` holds; the screen then. Fails with the last screen shown."""
        deadline = time.monotonic() + timeout
        screen: list[str] = []
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{what}: not on screen within {timeout}s; last screen:\n" + "\n".join(screen))

    def wait_exit(self, timeout: float) -> int:
        """Wait for the command to exit; its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exit_status()
            if status is not None:
                return status
            time.sleep(0.1)
        raise AssertionError("the command did not exit; last screen:\n" + "\n".join(self.screen()))

    def kill(self) -> None:
        """Stop the tmux server (and whatever still runs in it)."""
        with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
            self._tmux("kill-server", check=False)


@contextlib.contextmanager
def terminal(
    workdir: Path, command: list[str], env: Mapping[str, str], *, width: int, height: int
) -> Iterator[Terminal]:
    """A ``width``×``height`` terminal running ``command`` (TERM=xterm-256color), stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    term = Terminal(workdir / "tmux.sock", width, height)
    try:
        term.start(command, {**env, "TERM": "xterm-256color"}, workdir)
        yield term
    finally:
        term.kill()
