"""Request sessions: a GET reads outside any transaction and cannot write; other requests
write inside one. Pooled connections are checked after idling; direct queries give up a
dropped connection."""

from __future__ import annotations

import fcntl
import os
import re
import threading

import pytest
from sqlalchemy import JSON, bindparam, column, event, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from learnapp import db as db_module
from learnapp.db import (
    DirectQuery,
    ReaderSession,
    ReadOnlyError,
    autocommit,
    begin_write,
    get_engine,
    get_session,
    writers_lock_path,
)
from learnapp.models import User
from tests.conftest import SECTIONS, only_on, statements_listened
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


def test_committing_a_session_that_began_nothing_begins_nothing(app):
    """SQLAlchemy would begin a transaction only to commit it: CPU the busiest write spares."""
    begun = []
    with app.test_request_context("/", method="POST"):
        session = get_session()
        event.listen(session, "after_transaction_create", lambda *args: begun.append(args))
        session.commit()
    assert begun == []


def test_a_session_with_an_added_object_still_commits_it(app, db):
    with app.test_request_context("/", method="POST"):
        session = get_session()
        session.add(User(email="added@example.com", name="Added", password_hash="x"))
        session.commit()
    assert db.scalar(select(User.name).where(User.email == "added@example.com")) == "Added"


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
    assert len(page.statements) == 1  # the signed-in user with the sections read
    assert not [s for s in page.statements if re.match(r"\s*(BEGIN|COMMIT|ROLLBACK)", s, re.I)]


def driver_connection_of_a_request(app):
    with app.test_request_context("/", method="GET"):
        return autocommit().connection.driver_connection


def test_the_next_request_reuses_the_autocommit_connection_without_a_checkout(app):
    checkouts = []

    def count_checkout(*_args):
        checkouts.append(1)

    engine = app.extensions["learnapp.autocommit"]
    first = driver_connection_of_a_request(app)
    event.listen(engine, "checkout", count_checkout)
    try:
        assert driver_connection_of_a_request(app) is first
    finally:
        event.remove(engine, "checkout", count_checkout)
    assert checkouts == []


def test_a_kept_connection_leaves_no_transaction_behind(app, create_user):
    user = create_user()
    with app.test_request_context("/", method="GET"):
        connection = autocommit()
        # Connection.execute begins a transaction in SQLAlchemy's own bookkeeping.
        assert connection.execute(select(User.name).where(User.id == user.id)).scalar()
        assert connection.in_transaction()
    with app.test_request_context("/", method="GET"):
        assert autocommit() is connection
        assert not connection.in_transaction()


def test_a_dropped_connection_is_not_kept(app):
    with app.test_request_context("/", method="GET"):
        dropped = autocommit()
        dropped.invalidate()
    with app.test_request_context("/", method="GET"):
        assert autocommit() is not dropped
    assert dropped.closed


def test_no_more_connections_are_kept_than_the_pool_keeps(app):
    engine = app.extensions["learnapp.autocommit"]
    kept = app.extensions["learnapp.kept_connections"]
    size = engine.pool.size()
    with app.app_context():
        connections = [kept.take() for _ in range(size + 2)]
        for connection in connections:
            kept.give_back(connection)
    assert [c.closed for c in connections] == [False] * size + [True] * 2
    kept.close_all()
    assert all(c.closed for c in connections)


def test_dispose_closes_the_kept_connections(app):
    with app.test_request_context("/", method="GET"):
        connection = autocommit()
    assert not connection.closed
    db_module.dispose(app)
    assert connection.closed


def terminate_backend(app, connection) -> None:
    """Drop one pooled connection from the server's side, as a restart or a proxy would."""
    pid = connection.connection.driver_connection.info.backend_pid
    with get_engine(app).connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@only_on("postgresql")
def test_a_pooled_connection_idle_too_long_is_pinged_and_replaced(app, monkeypatch):
    monkeypatch.setattr(db_module, "IDLE_BEFORE_PING", 0.0)
    with app.test_request_context("/", method="GET"):
        terminate_backend(app, autocommit())
    with app.test_request_context("/", method="GET"):
        # The dropped connection failed its ping: the pool handed out a new one.
        assert autocommit().execute(text("SELECT 1")).scalar() == 1


@only_on("postgresql")
def test_a_connection_in_steady_use_is_not_pinged(app, monkeypatch):
    pings = []
    dialect = get_engine(app).dialect
    monkeypatch.setattr(type(dialect), "do_ping", lambda self, conn: pings.append(conn) or True)
    for _ in range(3):
        with app.test_request_context("/", method="GET"):
            autocommit().execute(text("SELECT 1"))
    assert pings == []


@only_on("postgresql")
def test_a_direct_query_gives_up_a_dropped_connection(app, create_user, monkeypatch):
    user = create_user()
    query = DirectQuery(select(User.__table__.c.name).where(User.__table__.c.id == user.id))
    with app.test_request_context("/", method="GET"):
        terminate_backend(app, autocommit())
        with pytest.raises(OperationalError):
            query.first(autocommit())
    # Not returned to the pool broken: the next request gets a working connection.
    with app.test_request_context("/", method="GET"):
        assert query.first(autocommit()) == ("Ada Learner",)


def test_a_direct_query_returns_plain_rows_and_is_counted(app, client, create_user):
    user = create_user()
    query = DirectQuery(
        select(User.__table__.c.id, User.__table__.c.name).where(
            User.__table__.c.email == bindparam("email")
        )
    )
    seen = []
    listener = lambda _c, _k, statement, *_a: seen.append(statement)  # noqa: E731
    with statements_listened(app, listener), app.test_request_context("/", method="GET"):
        assert query.all(autocommit(), email="user1@example.com") == [(user.id, "Ada Learner")]
        assert query.first(autocommit(), email="nobody@example.com") is None
    assert len(seen) == 2 and all("FROM users" in s for s in seen)


def test_a_direct_query_keeps_one_cursor_per_connection_and_a_new_one_after_an_error(
    app, create_user
):
    user = create_user()
    name = DirectQuery(select(User.__table__.c.name).where(User.__table__.c.id == bindparam("id")))
    broken = DirectQuery(text("SELECT x FROM no_such_table").columns(column("x")))
    cursors = []
    listener = lambda _c, cursor, *_a: cursors.append(cursor)  # noqa: E731
    with statements_listened(app, listener), app.test_request_context("/", method="GET"):
        connection = autocommit()
        assert name.first(connection, id=user.id) == ("Ada Learner",)
        assert name.first(connection, id=user.id) == ("Ada Learner",)
        with pytest.raises(DBAPIError):
            broken.first(connection)
        assert name.first(connection, id=user.id) == ("Ada Learner",)
    assert cursors[0] is cursors[1] is cursors[2]
    assert cursors[3] is not cursors[2]


@only_on("postgresql")
def test_a_direct_query_is_prepared_once_per_connection_on_postgresql(app, create_user):
    user = create_user()
    name = DirectQuery(select(User.__table__.c.name).where(User.__table__.c.id == bindparam("id")))
    prepared = text("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'learnapp%'")
    with app.test_request_context("/", method="GET"):
        connection = autocommit()
        for _ in range(3):
            assert name.first(connection, id=user.id) == ("Ada Learner",)
        statements = connection.execute(prepared).scalars().all()
    assert len(statements) == 1 and "WHERE users.id = $1::INTEGER" in statements[0]


def test_a_direct_query_in_a_transaction_is_part_of_it(app, create_user, db):
    """On the session's connection it runs inside the session's transaction (psycopg begins
    it), so a rollback undoes it."""
    user = create_user()
    rename = DirectQuery(
        update(User.__table__).where(User.__table__.c.id == user.id).values(name=bindparam("name"))
    )
    with app.test_request_context("/", method="POST"):
        session = get_session()
        assert rename.run(session.connection(), name="Grace Hopper") == 1
        assert transaction_open(session)
        session.rollback()
    assert db.scalar(select(User.name).where(User.id == user.id)) == "Ada Learner"


def test_a_direct_query_prepares_its_parameters_as_their_types_do(app):
    """A JSON parameter goes to the driver as JSON (SQLite and psycopg take no dict)."""
    query = DirectQuery(select(bindparam("document", type_=JSON()).label("document")))
    document = {"answers": [{"question_id": "q1", "response": None}], "score": 0.5}
    with app.test_request_context("/", method="POST"):
        assert query.first(autocommit(), document=document) == (document,)


def writers_turn_taken(app) -> bool:
    """Whether some session holds the SQLite writers' turn (the lock file beside the database)."""
    probe = os.open(writers_lock_path(get_engine(app).url.database), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(probe)  # releases the probe's own lock, if it got it
    return False


@only_on("sqlite")  # PostgreSQL runs writers side by side
def test_a_sqlite_writer_holds_its_turn_until_its_transaction_ends(app):
    with app.test_request_context("/", method="POST"):
        session = get_session()
        for end in (session.commit, session.rollback):
            begin_write(session)
            assert writers_turn_taken(app)
            end()
            assert not writers_turn_taken(app)
        begin_write(session)
        assert writers_turn_taken(app)
    assert not writers_turn_taken(app)  # the request's end closed the session


@only_on("sqlite")
def test_a_second_sqlite_writer_waits_for_the_first(app, create_user, db):
    user = create_user()
    first_writing, second_wrote = threading.Event(), threading.Event()
    release = threading.Event()

    def write(name: str, first: bool) -> None:
        with app.test_request_context("/", method="POST"):
            session = get_session()
            begin_write(session)
            session.get_one(User, user.id).name = name
            session.flush()
            if first:
                first_writing.set()
                release.wait(timeout=10)
            session.commit()
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
