"""A fresh database for one benchmark run: a SQLite file in a temporary folder, or a
PostgreSQL database of its own created on the server LEARNAPP_BENCH_DATABASE_URL names and
dropped at the end."""

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
    """Yield (url, backend) of an empty database; remove it afterwards."""
    server_url = os.environ.get(ENV_URL)
    if not server_url:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}", "sqlite"
        return
    server = make_url(server_url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit(f"{ENV_URL} must name a PostgreSQL server, not {server.drivername}")
    name = f"learnapp_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False), "postgresql"
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
