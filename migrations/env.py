"""Alembic environment: the URL comes from learnapp's configuration (see learnapp/cli.py)."""

from typing import Any

from alembic import context
from sqlalchemy import event, pool

from learnapp import models  # noqa: F401 - registers every table on the metadata
from learnapp.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # A batch migration rebuilds a SQLite table by copying it and dropping the old one:
    # with foreign keys enforced, that drop would cascade into (or fail on) every table that
    # refers to it. Alembic's batch documentation: the pragma must be off meanwhile. It can
    # only change outside a transaction, so here, after make_engine's own connect listener.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                # What enforcement would have refused, checked before anything is committed.
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")


run_migrations_online()
