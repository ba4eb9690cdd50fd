"""Helpers shared by the benchmarks: a throwaway redis-server, redis-benchmark, percentiles, process sampling.

Not a benchmark itself: ``python bench/common.py`` only prints this line.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
LIQMON = ROOT / ".venv" / "bin" / "liqmon"
SAMPLES = ROOT / "tests" / "fixtures" / "samples"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.02)
        else:
            return
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    """A redis-server without persistence on a free port; yields the port, kills it afterwards."""
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(workdir), "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        yield port
    finally:
        proc.kill()
        proc.wait()


def redis_benchmark_xadd(port: int, n: int, pipeline: int = 16) -> float:
    """Pipelined XADD requests per second that ``redis-benchmark`` reaches against ``port``."""
    out = subprocess.run(
        [
            *("redis-benchmark", "-p", str(port), "-P", str(pipeline), "-n", str(n), "-q"),
            *("XADD", "bench:ceiling", "*", "kind", "liquidation", "data", "x" * 200),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(r"([\d.]+) requests per second", out)
    if not found:
        raise RuntimeError(f"unexpected redis-benchmark output: {out!r}")
    return float(found[-1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, resident set size in bytes) of process ``pid`` from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def machine() -> str:
    """One line describing where the figures come from."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), shared; Python {sys.version.split()[0]}"


if __name__ == "__main__":
    print(__doc__.splitlines()[0])
