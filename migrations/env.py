"""Alembic environment: the URL comes from learnapp's configuration (see learnapp/cli.py)."""

from alembic import context
from sqlalchemy import pool

from learnapp import models  # noqa: F401 - registers every table on the metadata
from learnapp.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
