"""Request sessions: a GET reads outside any transaction and cannot write; other requests
write inside one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from learnapp.db import ReaderSession, ReadOnlyError, begin_write, get_session
from learnapp.models import User
from tests.conftest import SECTIONS
from tests.test_learner_progress import recorded_get


def transaction_open(session: Session) -> bool:
    """Whether the database itself (not SQLAlchemy's bookkeeping) holds a transaction open."""
    driver = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        return driver.in_transaction
    return driver.info.transaction_status.name != "IDLE"


def test_a_get_request_reads_outside_any_transaction(app, create_user):
    user = create_user()
    with app.test_request_context("/", method="GET"):
        session = get_session()
        assert isinstance(session, ReaderSession)
        assert session.scalar(select(User.name).where(User.id == user.id)) == "Ada Learner"
        assert not transaction_open(session)


def test_a_post_request_reads_and_writes_in_a_transaction(app, create_user, db):
    user = create_user()
    with app.test_request_context("/", method="POST"):
        session = get_session()
        assert not isinstance(session, ReaderSession)
        begin_write(session)
        session.get_one(User, user.id).name = "Grace Hopper"
        session.flush()
        assert transaction_open(session)
        session.commit()
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Grace Hopper"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_get_request_cannot_write(app, create_user, db, method):
    user = create_user()
    with app.test_request_context("/", method=method):
        session = get_session()
        session.get_one(User, user.id).name = "Changed"
        with pytest.raises(ReadOnlyError):
            session.flush()
        session.rollback()
        with pytest.raises(ReadOnlyError):
            session.execute(update(User).where(User.id == user.id).values(name="Changed"))
        session.add(User(email="new@example.com", name="New", password_hash="x"))
        with pytest.raises(ReadOnlyError):
            session.flush()
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Ada Learner"
    assert db.scalar(select(User.id).where(User.email == "new@example.com")) is None


def test_a_page_view_sends_no_transaction_statements(app, client, learner):
    """No BEGIN, COMMIT or ROLLBACK around a lesson page's reads (SQLite shows them to us;
    PostgreSQL's psycopg sends its own, so there the test above checks the connection)."""
    page = recorded_get(app, client, f"/lessons/spinal-muscle-spasm/sections/{SECTIONS[1]}")
    assert "Mark as read" in page.text
    assert len(page.statements) == 2  # the signed-in user, the sections read
    assert not [s for s in page.statements if re.match(r"\s*(BEGIN|COMMIT|ROLLBACK)", s, re.I)]
