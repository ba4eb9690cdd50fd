"""A real prometheus-alertmanager (Debian package) on a free 127.0.0.1 port, clustering off."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.services import free_port, wait_for_port

BINARY = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"


@contextlib.contextmanager
def running_alertmanager(workdir: Path, config: str) -> Iterator[str]:
    """Start Alertmanager with ``config`` (YAML text); yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "am.yml").write_text(config, encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={workdir / 'am.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
