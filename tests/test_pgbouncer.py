"""PostgreSQL as it is really deployed: the app through a real PgBouncer in transaction mode,
which resets every server connection with DEALLOCATE ALL, as Debian 12's PgBouncer 1.18 and
other poolers do.

A smoke walk (log in, join a cohort, read and mark sections, take and pass the final quiz,
claim and download the certificate, the instructor's dashboard) for several learners, each
statement run often enough on one connection for psycopg's automatic prepare (after 5
executions) to kick in. With DATABASE_PREPARED_STATEMENTS=False it passes; with psycopg's
default prepares the same walk fails, so the setting is known to matter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from learnapp import create_app
from learnapp.db import Base, dispose, engines, get_session
from learnapp.models import Answer, Certificate, Cohort, QuizAttempt
from tests.conftest import CHEAP_HASHING, PASSWORD, POSTGRES_URL, SECTIONS, CSRFClient
from tests.pgbouncer import (
    INSTALL_HINT,
    PgBouncer,
    pgbouncer_binary,
    pgbouncer_unavailable,
)
from tests.test_quizzes import FINAL, LESSON, START, all_right, answer_form, fetch

LEARNERS = 3  # each walks the whole course: 7 sections, so 7 of each read and write
DASHBOARD_VIEWS = 6  # more than psycopg's prepare threshold on one connection
DOWNLOADS = 3
PREPARE_THRESHOLD = 5  # psycopg's default: a statement's fifth execution on a connection
TEACHER = "teach@example.com"
PREPARED_STATEMENT_ERROR = re.compile(
    r"prepared statement \S+ (does not exist|already exists)"
    r"|InvalidSqlStatementName|DuplicatePreparedStatement",
    re.I,
)


# --- Fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pgbouncer(request: pytest.FixtureRequest) -> Iterator[PgBouncer]:
    """PgBouncer in front of this run's PostgreSQL database, for the whole session."""
    if not POSTGRES_URL:
        pgbouncer_unavailable(
            "PostgreSQL is not configured: set LEARNAPP_TEST_DATABASE_URL to run the PgBouncer tests"
        )
    binary = pgbouncer_binary()
    if binary is None:
        pgbouncer_unavailable(f"pgbouncer is not installed ({INSTALL_HINT})")
    database = request.getfixturevalue("postgres_database")
    bouncer = PgBouncer(binary, database)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.remove()


def settings(url: str, prepared: bool) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": url,
        "DATABASE_PREPARED_STATEMENTS": prepared,
        "SECRET_KEY": "test-secret",
        **CHEAP_HASHING,
        "RATELIMIT_STORAGE_URL": "memory://",
        "PUBLIC_URL": "https://learn.example.org",
    }


@pytest.fixture
def apps(
    pgbouncer: PgBouncer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Flask]]:
    """Factory: apps(url, prepared=...) -> an app on that database URL; every app made is
    disposed of at the end, and the tables emptied for the next test."""
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    made: list[Flask] = []

    def make(url: str, prepared: bool = True) -> Flask:
        app = create_app(settings(url, prepared))
        app.test_client_class = CSRFClient
        made.append(app)
        return app

    yield make
    for app in made:
        dispose(app)
    engine = create_engine(pgbouncer.server)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def direct(pgbouncer: PgBouncer, apps: Callable[..., Flask]) -> Flask:
    """The app on PostgreSQL itself, not through PgBouncer: for arranging and checking rows."""
    return apps(pgbouncer.server.render_as_string(hide_password=False))


def bounced(pgbouncer: PgBouncer, apps: Callable[..., Flask], prepared: bool) -> Flask:
    """The app through PgBouncer."""
    return apps(pgbouncer.url.render_as_string(hide_password=False), prepared=prepared)


class DatabaseErrors(list):
    """Every error the database raised on the app's engines (SQLAlchemy's handle_error)."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        for engine in engines(app):
            event.listen(engine, "handle_error", self._record)

    def _record(self, context: Any) -> None:
        self.append(context.original_exception)


class StatementCounts(Counter):
    """How many times each statement ran on each of the app's DBAPI connections."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        for engine in engines(app):
            event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        self[(id(cursor.connection), statement)] += 1


# --- The walk ----------------------------------------------------------------------------


class StepFailed(AssertionError):
    def __init__(self, step: str, response: Any, expected: int) -> None:
        super().__init__(f"{step}: {response.status_code}, not {expected}")
        self.step = step
        self.response = response


def expect(response: Any, status: int, step: str) -> Any:
    if response.status_code != status:
        raise StepFailed(step, response, status)
    return response


def add_user(app: Flask, email: str, name: str, role: str = "learner") -> None:
    from learnapp.accounts import create_user

    with app.app_context():
        session = get_session()
        create_user(session, email=email, name=name, password=PASSWORD, role=role)
        session.commit()


def log_in(app: Flask, email: str) -> CSRFClient:
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    expect(response, 302, f"log in as {email}")
    return client


def walk(app: Flask, direct: Flask) -> None:
    """The smoke walk on `app`; rows arranged and checked through `direct`."""
    catalogue = app.extensions["learnapp.content"]
    db = direct.extensions["learnapp.sessionmaker"]()
    try:
        add_user(direct, TEACHER, "Tess Teacher", role="instructor")
        names = [f"Learner {n}" for n in range(1, LEARNERS + 1)]
        for n, name in enumerate(names, 1):
            add_user(direct, f"learner{n}@example.com", name)

        teacher = log_in(app, TEACHER)
        cohort = {"name": "Tuesday class", "session_date": "2025-03-04", "lesson": LESSON}
        dashboard = expect(teacher.post("/instructor/cohorts", data=cohort), 302, "new cohort")
        dashboard_url = dashboard.location
        code = db.scalars(select(Cohort.join_code)).one()

        for n, name in enumerate(names, 1):
            learner = log_in(app, f"learner{n}@example.com")
            expect(learner.post("/cohorts/join", data={"code": code}), 302, "join the cohort")
            expect(learner.get(f"/lessons/{LESSON}/"), 200, "the lesson")
            for slug in SECTIONS:
                section = f"/lessons/{LESSON}/sections/{slug}"
                expect(learner.get(section), 200, f"read {slug}")
                expect(learner.post(f"{section}/read"), 302, f"mark {slug} read")
            expect(learner.get(FINAL), 200, "the final quiz's page")
            expect(learner.post(f"{FINAL}/acknowledge"), 302, "acknowledge the disclaimer")

            started = expect(learner.post(START), 302, "start the final quiz")
            attempt_url = started.location
            attempt_id = int(re.fullmatch(r"/quizzes/attempts/(\d+)", attempt_url).group(1))
            expect(learner.get(attempt_url), 200, "the attempt page")
            form = answer_form(fetch(db, attempt_id), catalogue, all_right)
            submitted = expect(learner.post(attempt_url, data=form), 302, "submit the quiz")
            assert submitted.location == attempt_url
            expect(learner.get(attempt_url), 200, "the result")
            attempt = fetch(db, attempt_id)
            assert (attempt.state, attempt.passed) == ("closed", True)

            claim_url = f"/certificates/claim/{attempt_id}"
            expect(learner.get(claim_url), 200, "the claim page")
            issued = expect(learner.post(claim_url, data={"name": name}), 302, "claim")
            certificate_code = issued.location.removeprefix("/certificates/")
            expect(learner.get(issued.location), 200, "the certificate page")
            stored = db.scalars(
                select(Certificate).where(Certificate.code == certificate_code)
            ).one()
            for _ in range(DOWNLOADS):
                pdf = expect(learner.get(f"{issued.location}/pdf"), 200, "download the PDF")
                assert pdf.mimetype == "application/pdf"
                assert pdf.data == stored.pdf and pdf.data.startswith(b"%PDF-")

        for _ in range(DASHBOARD_VIEWS):
            page = expect(teacher.get(dashboard_url), 200, "the cohort's dashboard").text
            assert all(name in page for name in names)

        db.rollback()
        assert db.scalar(select(QuizAttempt.id).where(QuizAttempt.state != "closed")) is None
        assert len(db.scalars(select(Certificate.id)).all()) == LEARNERS
        assert db.scalar(select(Answer.id).limit(1)) is not None
    finally:
        db.close()


# --- Tests -------------------------------------------------------------------------------


def test_pgbouncer_resets_server_connections_in_transaction_mode(pgbouncer):
    """The fixture's PgBouncer is what the other tests claim: transaction pooling, and a
    statement prepared in one transaction gone in the next (DEALLOCATE ALL)."""
    url = pgbouncer.url.render_as_string(hide_password=False)
    engine = create_engine(url, connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PREPARE learnapp_probe AS SELECT 1")
            connection.commit()
            with pytest.raises(DBAPIError, match="learnapp_probe"):
                connection.exec_driver_sql("EXECUTE learnapp_probe")
    finally:
        engine.dispose()


def test_the_walk_passes_through_pgbouncer_without_prepared_statements(pgbouncer, apps, direct):
    app = bounced(pgbouncer, apps, prepared=False)
    errors = DatabaseErrors(app)
    counts = StatementCounts(app)
    walk(app, direct)
    assert errors == []
    # The walk is long enough for psycopg to have prepared statements, had it been allowed.
    assert max(counts.values()) > PREPARE_THRESHOLD
    # One request at a time keeps one connection in each pool (docs/deployment.md's count).
    assert [engine.pool.checkedin() for engine in engines(app)] == [1, 1]


def test_the_same_walk_fails_with_psycopgs_prepared_statements(pgbouncer, apps, direct, caplog):
    """psycopg prepares a statement on its fifth execution on a connection; PgBouncer hands
    the next transaction a server connection without it, so the walk cannot finish."""
    app = bounced(pgbouncer, apps, prepared=True)
    errors = DatabaseErrors(app)
    with pytest.raises((StepFailed, DBAPIError)) as failure:
        walk(app, direct)
    if isinstance(failure.value, StepFailed):
        assert failure.value.response.status_code == 500, failure.value
    seen = "\n".join([caplog.text, *map(repr, errors), repr(failure.value)])
    assert PREPARED_STATEMENT_ERROR.search(seen), seen[-3000:]


def test_the_setting_comes_from_the_environment_and_reaches_psycopg(
    pgbouncer, tmp_path, monkeypatch
):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("LEARNAPP_DATABASE_PREPARED_STATEMENTS", "false")
    config = settings(pgbouncer.url.render_as_string(hide_password=False), prepared=False)
    del config["DATABASE_PREPARED_STATEMENTS"]
    app = create_app(config)
    try:
        assert app.config["DATABASE_PREPARED_STATEMENTS"] is False
        for engine in engines(app):
            with engine.connect() as connection:
                assert connection.connection.dbapi_connection.prepare_threshold is None
    finally:
        dispose(app)

    monkeypatch.delenv("LEARNAPP_DATABASE_PREPARED_STATEMENTS")
    app = create_app(config)
    try:
        assert app.config["DATABASE_PREPARED_STATEMENTS"] is True
        write, _reads = engines(app)
        with write.connect() as connection:
            assert connection.connection.dbapi_connection.prepare_threshold == 5
    finally:
        dispose(app)
