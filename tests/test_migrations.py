"""Alembic migrations: they build the schema the models describe, and 0003 fills
learner_progress from the activity a deployment already holds."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import create_engine, insert, make_url, select, text
from sqlalchemy.orm import Session

from learnapp import create_app
from learnapp.cli import alembic_config
from learnapp.db import Base, dispose, get_engine, utcnow
from learnapp.models import Certificate, LearnerProgress, QuizAttempt, SectionRead
from tests.test_instructor import (
    DAY,
    add_quiz_version,
    add_users,
    certificate,
    closed_attempt,
    reads,
)
from tests.test_learner_progress import computed

POSTGRES_URL = os.environ.get("LEARNAPP_TEST_DATABASE_URL")


@pytest.fixture
def empty_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database with no tables, on the backend `database_url` is on."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    server = make_url(POSTGRES_URL)
    name = f"learnapp_migrations_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated(app_config, empty_url, tmp_path, monkeypatch) -> Iterator[Flask]:
    """An app on the empty database; migrate(app, revision) moves its schema."""
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**app_config, "DATABASE_URL": empty_url})
    yield app
    dispose(app)


def migrate(app: Flask, revision: str, down: bool = False) -> None:
    # In an app context, as `flask db upgrade` runs them: 0003 needs the content.
    with app.app_context():
        config = alembic_config(app.config["DATABASE_URL"])
        (command.downgrade if down else command.upgrade)(config, revision)


# SQLite's indexes on expressions cannot be reflected, so autogenerate skips them there.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrations_build_the_schema_the_models_describe(migrated):
    migrate(migrated, "head")
    with get_engine(migrated).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        if connection.dialect.name == "sqlite":
            names = connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            assert "ix_users_lower_name" in set(names)


def test_upgrading_fills_learner_progress_from_the_stored_activity(migrated):
    migrate(migrated, "0002")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        ann, bob, _cat = add_users(
            db, [("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Cat", "c@ex.org")]
        )
        version = add_quiz_version(db)
        db.execute(insert(SectionRead), [*reads(ann, 7, now - 9 * DAY), *reads(bob, 2, now)])
        db.execute(
            insert(QuizAttempt),
            [
                closed_attempt(ann, version, now - 8 * DAY, 70, False, critical=True),
                closed_attempt(ann, version, now - 7 * DAY, 90, True),
            ],
        )
        db.execute(insert(Certificate), [certificate(ann, now - 7 * DAY, now + 900 * DAY)])
        db.commit()

    migrate(migrated, "head")
    with Session(get_engine(migrated)) as db:
        rows = {
            row.user_id: dict(row._mapping) for row in db.execute(select(LearnerProgress.__table__))
        }
        assert set(rows) == {ann, bob}  # Cat did nothing
        assert rows == computed(migrated, db, [ann, bob])
        assert (rows[ann]["read_mask"], rows[ann]["attempts"], rows[ann]["best"]) == (127, 2, 90)
        assert (rows[ann]["passed"], rows[ann]["critical"]) == (True, False)
        assert rows[ann]["last_activity"] == now - 7 * DAY
        assert rows[ann]["certificate_valid_until"] == now + 900 * DAY
        assert (rows[bob]["read_count"], rows[bob]["read_mask"]) == (2, 0b11)
        assert rows[bob]["last_activity"] == now + timedelta(minutes=1)

    migrate(migrated, "0002", down=True)
    migrate(migrated, "head")
    with Session(get_engine(migrated)) as db:
        assert len(db.execute(select(LearnerProgress.__table__)).all()) == 2
