"""Real local services for tests: redis-server and mosquitto on free 127.0.0.1 ports.

Each server runs in its own temporary directory and is stopped afterwards. They
never touch the instances on the standard ports. Readiness is awaited by
polling the port with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once ``port`` accepts connections; raise if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {HOST}:{port} after {timeout}s")


def wait_port_closed(port: int, *, timeout: float = 10.0) -> None:
    """Return once nothing accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{HOST}:{port} still accepting after {timeout}s")


@dataclass
class RedisServer:
    """A redis-server child process. ``appendonly`` keeps data across restarts (same dir)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of this server (password not included)."""
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) the server and wait until it accepts connections."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server (.ci/run does this)")
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        self._wait_loaded()
        return self

    def _wait_loaded(self) -> None:
        # After an AOF restart Redis answers -LOADING until the file is read.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = self.command("PING")
            if reply.startswith((b"+PONG", b"-NOAUTH")):
                return
            time.sleep(0.02)
        raise TimeoutError("redis-server did not finish loading")

    def command(self, *parts: str) -> bytes:
        """Send one RESP command over a raw socket and return the raw reply (no client library)."""
        payload = f"*{len(parts)}\r\n".encode() + b"".join(
            f"${len(p.encode())}\r\n".encode() + p.encode() + b"\r\n" for p in parts
        )
        if self.password:
            auth = ("AUTH", self.password)
            payload = f"*2\r\n$4\r\nAUTH\r\n${len(auth[1])}\r\n{auth[1]}\r\n".encode() + payload
        with socket.create_connection((HOST, self.port), timeout=5) as sock:
            sock.sendall(payload)
            data = sock.recv(65536)
            if self.password:
                data = data.split(b"\r\n", 1)[1] if b"\r\n" in data else data
                if not data:
                    data = sock.recv(65536)
            return data

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (clean shutdown) or SIGKILL (``kill=True``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        wait_port_closed(self.port)

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same port and directory."""
        self.stop(kill=kill)
        self.start()


@dataclass
class MosquittoServer:
    """A mosquitto child process listening on 127.0.0.1 (anonymous access unless ``anonymous`` is False)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    anonymous: bool = True

    def start(self) -> MosquittoServer:
        """Start (or restart) the broker and wait until it accepts connections."""
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
        if binary is None:
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto (.ci/run does this)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {HOST}\nallow_anonymous {str(self.anonymous).lower()}\npersistence false\n"
            "log_dest stderr\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        """Stop the broker."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        wait_port_closed(self.port)


@contextlib.contextmanager
def running_redis(workdir: Path, **kwargs: object) -> Iterator[RedisServer]:
    """A started RedisServer, stopped on exit."""
    server = RedisServer(workdir, **kwargs).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop(kill=True)


@contextlib.contextmanager
def running_mosquitto(workdir: Path, *, anonymous: bool = True) -> Iterator[MosquittoServer]:
    """A started MosquittoServer, stopped on exit."""
    server = MosquittoServer(workdir, anonymous=anonymous).start()
    try:
        yield server
    finally:
        server.stop()
