"""A real PgBouncer for tests: Debian's `pgbouncer`, in transaction mode, resetting every server
connection with DEALLOCATE ALL after each transaction, on a free loopback port.

PgBouncer refuses to run as root: started by root, it runs as the `postgres` user, with its
files in a directory of its own. Tests that need it are skipped when PostgreSQL
(LEARNAPP_TEST_DATABASE_URL) or pgbouncer is missing, unless CI (or
LEARNAPP_REQUIRE_PGBOUNCER=1) says they must run: then that is a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

import psycopg
import pytest
from sqlalchemy import URL, make_url

START_TIMEOUT = 15.0  # seconds; it accepts connections within a few milliseconds
STOP_TIMEOUT = 10.0
RUN_AS = "postgres"  # PgBouncer will not run as root
INSTALL_HINT = "sudo apt-get install pgbouncer"


def pgbouncer_required() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("LEARNAPP_REQUIRE_PGBOUNCER") == "1"


def pgbouncer_unavailable(reason: str) -> None:
    """Skip, or fail where the PgBouncer tests are mandatory (CI)."""
    if pgbouncer_required():
        pytest.fail(f"{reason} (the PgBouncer tests are required under CI)", pytrace=False)
    pytest.skip(reason)


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgBouncer:
    """One PgBouncer process in front of one PostgreSQL database (`server_url`'s)."""

    def __init__(self, binary: str, server_url: str) -> None:
        self.binary = binary
        self.server = make_url(server_url)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="learnapp-pgbouncer-"))
        self.log_path = self.workdir / "pgbouncer.log"
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam(RUN_AS)
            except KeyError:
                shutil.rmtree(self.workdir)
                raise RuntimeError(
                    f"pgbouncer will not run as root, and there is no {RUN_AS!r} user"
                ) from None

    @property
    def url(self) -> URL:
        """The server URL, pointed at PgBouncer instead (same user, same database)."""
        return self.server.set(host="127.0.0.1", port=self.port)

    def _config(self) -> str:
        server = self.server
        target = [
            f"host={server.host or '127.0.0.1'}",
            f"port={server.port or 5432}",
            f"dbname={server.database}",
        ]
        if server.username:
            target.append(f"user={server.username}")
        if server.password:
            target.append(f"password={server.password}")
        return "\n".join(
            [
                "[databases]",
                f"{server.database} = {' '.join(target)}",
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {self.workdir / 'userlist.txt'}",
                "pool_mode = transaction",
                # What breaks an app that keeps prepared statements on its connections: every
                # server connection is reset after every transaction, as some poolers do.
                "server_reset_query = DEALLOCATE ALL",
                "server_reset_query_always = 1",
                "default_pool_size = 10",
                "max_client_conn = 200",
                "",
            ]
        )

    def start(self) -> None:
        (self.workdir / "pgbouncer.ini").write_text(self._config())
        # auth_type=trust checks no password, but the user must be listed.
        (self.workdir / "userlist.txt").write_text(f'"{self.server.username or RUN_AS}" ""\n')
        if self._user is not None:
            for path in (self.workdir, *self.workdir.iterdir()):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (the installed pgbouncer, our own file)
            [self.binary, str(self.workdir / "pgbouncer.ini")],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # As the postgres user itself (no su in between): `process` is PgBouncer.
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            extra_groups=[] if self._user else None,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll until a query through PgBouncer reaches the database."""
        assert self.process is not None
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                last_error = error
                time.sleep(0.05)  # a poll interval, not a wait for readiness
        self.stop()
        raise RuntimeError(
            f"pgbouncer did not accept connections within {START_TIMEOUT:.0f} s "
            f"({last_error}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
