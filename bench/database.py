"""A fresh database for one run of the benchmark or the soak: a SQLite file in a temporary
folder, or a PostgreSQL database of its own created on a server and dropped at the end."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ENV_URL = "LEARNAPP_BENCH_DATABASE_URL"


@contextmanager
def fresh_database(workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (url, backend) of an empty database for the benchmark; remove it afterwards.
    PostgreSQL when LEARNAPP_BENCH_DATABASE_URL names a server, else SQLite."""
    server_url = os.environ.get(ENV_URL)
    if not server_url:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}", "sqlite"
        return
    with scratch_postgres(server_url, "bench") as url:
        yield url, "postgresql"


@contextmanager
def scratch_postgres(server_url: str, purpose: str) -> Iterator[str]:
    """The URL of a new, empty database on the PostgreSQL server `server_url` names,
    dropped (with any connection left to it) at the end."""
    server = make_url(server_url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit(f"the {purpose} needs a PostgreSQL server, not {server.drivername}")
    name = f"learnapp_{purpose}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
