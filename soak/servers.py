"""gunicorn instances of `learnapp:create_app()` on 127.0.0.1: start, SIGKILL, restart, stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from soak import HOST, ROOT


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel has just handed out, free as far as it knows."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind((HOST, 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def answers(port: int, timeout: float = 5) -> bool:
    """The instance on `port` serves the home page."""
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        return False


@dataclass
class Instance:
    """One gunicorn master and its workers, in a process group of their own."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    workers: int = 2
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60) -> float:
        """Start and wait until every worker has answered; the seconds it took."""
        started = time.monotonic()
        self.starts += 1
        log = self.workdir / f"gunicorn-{self.name}-{self.starts}.log"
        self.logs.append(log)
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(self.workers),
            "--bind",
            f"{HOST}:{self.port}",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "learnapp:create_app()",
        ]
        with log.open("wb") as out:
            # A fixed command line of our own venv's gunicorn, no shell.
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while not answers(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn {self.name} exited with {self.process.returncode} while starting; see {log}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {self.name} did not answer within {timeout:.0f} s")
            time.sleep(0.1)
        # Each worker builds the app on its own: let both answer before counting it up.
        for _ in range(4 * self.workers):
            answers(self.port, timeout=30)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: no graceful anything."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if not self.running:
            return
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())
