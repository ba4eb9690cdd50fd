"""A mosquitto that keeps sessions and queued QoS 1 messages across a restart.

Like :class:`~tests.support.services.MosquittoServer`, on a free 127.0.0.1
port in its own directory, but with persistence on: a clean stop (SIGTERM)
writes the broker's state to ``mosquitto.db`` and the next start on the same
directory restores it, so a subscriber with a persistent session
(``clean_session = False``) gets the messages published while it was away.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from tests.support.services import HOST, MosquittoServer, wait_for_port


@dataclass
class PersistentMosquitto(MosquittoServer):
    """A mosquitto child process with persistence in ``workdir``."""

    def start(self) -> PersistentMosquitto:
        """Start (or restart, restoring the saved state) and wait until the port accepts connections."""
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if binary is None:
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto (.ci/run does this)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {HOST}\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 0\n"
            "max_queued_messages 10000\nlog_dest stderr\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        return self
