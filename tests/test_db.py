"""Request sessions: a GET reads outside any transaction and cannot write; other requests
write inside one. Pooled connections are checked after idling; direct queries give up a
dropped connection."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select, update

from learnapp.db import ReaderSession, ReadOnlyError, get_session, writing
from learnapp.models import User
from tests.conftest import SECTIONS, only_on
from tests.test_learner_progress import recorded_get


def transaction_open(session) -> bool:
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
        with writing():
            session.get_one(User, user.id).name = "Grace Hopper"
            session.flush()
            assert transaction_open(session)
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Grace Hopper"


def test_writing_commits_what_its_block_did(app, create_user, db):
    user = create_user()
    with app.test_request_context("/", method="POST"), writing() as session:
        session.get_one(User, user.id).name = "Grace Hopper"
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Grace Hopper"


def test_writing_undoes_everything_when_its_block_fails(app, create_user, db):
    user = create_user()
    with app.test_request_context("/", method="POST"):
        with pytest.raises(LookupError), writing() as session:
            session.get_one(User, user.id).name = "Half"
            session.add(User(email="half@example.com", name="Half", password_hash="x"))
            session.flush()  # written, but not committed
            raise LookupError("a service refuses")
        assert not get_session().in_transaction()
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Ada Learner"
    assert db.scalar(select(User.id).where(User.email == "half@example.com")) is None


def test_writing_first_ends_the_reads_of_the_request(app, create_user, db):
    """What a view read to load and authorise is read again inside the write transaction:
    nothing half-done is carried into it."""
    user = create_user()
    with app.test_request_context("/", method="POST"):
        session = get_session()
        assert session.scalar(select(User.name).where(User.id == user.id)) == "Ada Learner"
        assert session.in_transaction()
        with writing() as same:
            assert same is session
            same.get_one(User, user.id).name = "Read, then written"
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Read, then written"


def test_writing_is_refused_in_a_get_request(app):
    with app.test_request_context("/", method="GET"), pytest.raises(ReadOnlyError), writing():
        pass


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


@only_on("sqlite")
def test_a_second_sqlite_writer_waits_for_the_first(app, create_user, db):
    user = create_user()
    first_writing, second_wrote = threading.Event(), threading.Event()
    release = threading.Event()

    def write(name: str, first: bool) -> None:
        with app.test_request_context("/", method="POST"):
            with writing() as session:
                session.get_one(User, user.id).name = name
                session.flush()
                if first:
                    first_writing.set()
                    release.wait(timeout=10)
            if not first:
                second_wrote.set()

    first = threading.Thread(target=write, args=("First", True))
    first.start()
    assert first_writing.wait(timeout=10)
    second = threading.Thread(target=write, args=("Second", False))
    second.start()
    assert not second_wrote.wait(timeout=0.5)  # queued behind the first
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert second_wrote.is_set()
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Second"
