"""gunicorn serving bench/wsgi.py on a free port of 127.0.0.1, stopped whatever happens."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT

# As the README and docs/deployment.md recommend (gunicorn's own starting point): sync
# workers, two per core and one more (5 on 2 cores).
WORKERS = 2 * (os.cpu_count() or 1) + 1


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    host: str
    port: int
    log: Path
    command: list[str]
    pid: int = 0

    def cpu_seconds(self) -> float:
        """User and system CPU time of gunicorn's master and workers so far: per request, a
        cost that other load on the machine does not change much."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == self.pid or ppid == self.pid:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settle(self, timeout: float = 300) -> float:
        """Wait until the workers are free: requests left queued by a run that ended (slow
        pages, eight connections) would otherwise be served during the next run. Returns the
        seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            probes = [threading.Thread(target=self._probe) for _ in range(2 * WORKERS)]
            t0 = time.monotonic()
            for probe in probes:
                probe.start()
            for probe in probes:
                probe.join()
            if time.monotonic() - t0 < 0.1:
                break
        return time.monotonic() - started

    def _probe(self) -> None:
        try:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=300)
            connection.request("GET", "/bench/trivial")
            connection.getresponse().read()
            connection.close()
        except OSError:
            pass

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} while starting")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/bench/trivial")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within a minute")


@contextmanager
def gunicorn(env: dict[str, str], workdir: Path, workers: int = WORKERS) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"gunicorn-{port}.log"
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "--timeout",
        "120",
        "bench.wsgi:app",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(port, process)
        # Each worker imports and builds the app itself: make sure both have answered.
        for _ in range(20):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/bench/trivial")
            connection.getresponse().read()
            connection.close()
        yield Server("127.0.0.1", port, log, command, process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
