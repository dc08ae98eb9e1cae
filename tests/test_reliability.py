"""Faults in the middle of a write leave nothing half-done; backups of a live database are
whole and restore what they hold."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, SessionTransaction

from learnapp import attempts, certificate_pdf, create_app, grading
from learnapp.db import get_engine
from learnapp.models import Answer, Certificate, QuizAttempt, SectionRead, User
from tests.conftest import CSRFClient, only_on, statements_listened
from tests.test_quizzes import (
    FINAL,
    LESSON,
    SECTIONS,
    all_right,
    answer_form,
    fetch,
    read_all_sections,
    start,
)

ERROR_TITLE = "Something went wrong on our side"


class InjectedFault(RuntimeError):
    """The failure a test provokes; its message must never reach the page."""


@pytest.fixture
def ready(client, learner):
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    return learner


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


def fail(*_: Any, **__: Any) -> Any:
    raise InjectedFault("injected fault: disk on fire")


@contextmanager
def failing_statement(app, pattern: str) -> Iterator[list[str]]:
    """Make the database refuse every statement matching `pattern`, as a full disk or a
    dropped connection would; yields the statements refused."""
    refused: list[str] = []

    def before(_conn, _cursor, statement, *_args: Any) -> None:
        if re.search(pattern, statement, re.I):
            refused.append(statement)
            raise InjectedFault(f"injected fault in {statement[:40]}")

    with statements_listened(app, before):
        yield refused


@contextmanager
def _nothing() -> Iterator[list[str]]:
    yield []


def assert_plain_500(response) -> None:
    assert response.status_code == 500
    assert ERROR_TITLE in response.text
    assert "injected fault" not in response.text
    assert "Traceback" not in response.text


def answer_count(db: Session, attempt_id: int) -> int:
    db.rollback()
    return db.scalar(
        select(func.count()).select_from(Answer).where(Answer.attempt_id == attempt_id)
    )


# --- A fault while grading ----------------------------------------------------------------


def fault_in_grading(monkeypatch, app) -> Any:
    """Before the attempt is closed: the grade cannot be computed."""
    monkeypatch.setattr(grading, "result_of", fail)


def fault_building_answers(monkeypatch, app) -> Any:
    """After the atomic close: the answer rows cannot be built."""
    monkeypatch.setattr(attempts, "_answer_rows", fail)


def fault_inserting_answers(monkeypatch, app) -> Any:
    """After the atomic close: the database refuses the statement that inserts the answers
    (on PostgreSQL the close, the answers and the progress row are one statement)."""
    return failing_statement(app, r"\bINSERT INTO answers\b")


@pytest.mark.parametrize(
    "inject",
    [fault_in_grading, fault_building_answers, fault_inserting_answers],
    ids=lambda f: f.__name__,
)
def test_a_fault_while_grading_leaves_the_attempt_open_and_empty(
    app, client, ready, db, catalogue, monkeypatch, inject: Callable[..., Any], caplog
):
    attempt = fetch(db, start(client))
    form = answer_form(attempt, catalogue, all_right)
    url = f"/quizzes/attempts/{attempt.id}"

    with monkeypatch.context() as patch, inject(patch, app) or _nothing() as refused:
        response = client.post(url, data=form)
    if inject is fault_inserting_answers:
        assert refused, "the injected statement never ran"
    assert_plain_500(response)
    assert "unhandled error" in caplog.text  # logged for the operator, not shown

    stored = fetch(db, attempt.id)
    assert stored.state == "in_progress"
    assert (stored.submitted_at, stored.score, stored.passed) == (None, None, None)
    assert answer_count(db, attempt.id) == 0
    page = client.get(url)
    assert page.status_code == 200
    assert "Submit my answers" in page.text

    # The fault gone, the same answers are graded normally, once.
    response = client.post(url, data=form)
    assert response.status_code == 302
    assert response.location == url
    stored = fetch(db, attempt.id)
    assert (stored.state, stored.passed, stored.percent) == ("closed", True, 100)
    assert answer_count(db, attempt.id) == len(attempt.drawn)
    assert "already submitted" in client.post(url, data=form, follow_redirects=True).text
    assert answer_count(db, attempt.id) == len(attempt.drawn)


# --- A fault while issuing a certificate --------------------------------------------------


def fault_rendering(monkeypatch, app) -> Any:
    monkeypatch.setattr(certificate_pdf, "render", fail)


def fault_inserting_certificate(monkeypatch, app) -> Any:
    """The PDF is rendered, then the database refuses the INSERT."""
    return failing_statement(app, r"^\s*INSERT INTO certificates")


def fault_committing(monkeypatch, app) -> Any:
    """The row is inserted, then the commit fails."""
    real = SessionTransaction.commit

    def commit(self: SessionTransaction, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(obj, Certificate) for obj in self.session.identity_map.values()):
            fail()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SessionTransaction, "commit", commit)


@pytest.fixture
def passed(client, ready, db, catalogue) -> QuizAttempt:
    attempt = fetch(db, start(client))
    form = answer_form(attempt, catalogue, all_right)
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form).status_code == 302
    attempt = fetch(db, attempt.id)
    assert attempt.passed
    return attempt


def stored_certificates(db: Session) -> list[Certificate]:
    db.rollback()
    return list(db.scalars(select(Certificate).execution_options(populate_existing=True)))


@pytest.mark.parametrize(
    "inject",
    [fault_rendering, fault_inserting_certificate, fault_committing],
    ids=lambda f: f.__name__,
)
def test_a_fault_while_issuing_leaves_no_certificate_and_a_retry_issues_one(
    app, client, passed, db, monkeypatch, inject: Callable[..., Any]
):
    url = f"/certificates/claim/{passed.id}"
    with monkeypatch.context() as patch, inject(patch, app) or _nothing() as refused:
        response = client.post(url, data={"name": "Ada Learner"})
    if inject is fault_inserting_certificate:
        assert refused, "the injected statement never ran"
    assert_plain_500(response)
    assert stored_certificates(db) == []
    assert "Issue my certificate" in client.get(url).text  # still claimable

    response = client.post(url, data={"name": "Ada Learner"})
    assert response.status_code == 302
    (certificate,) = stored_certificates(db)
    assert response.location == f"/certificates/{certificate.code}"
    assert certificate.pdf.startswith(b"%PDF-")
    assert certificate.sha256 == hashlib.sha256(certificate.pdf).hexdigest()
    assert (certificate.attempt_id, certificate.revision) == (passed.id, 1)

    # Claiming again, by page or by form, shows the one certificate.
    assert client.get(url).location == response.location
    assert client.post(url, data={"name": "Someone Else"}).location == response.location
    assert len(stored_certificates(db)) == 1
    download = client.get(f"/certificates/{certificate.code}/pdf")
    assert download.data == certificate.pdf


# --- Backup and restore of a live SQLite database -----------------------------------------


@pytest.fixture
def sqlite_app(app):
    """flask backup and restore are for SQLite (PostgreSQL uses pg_dump): tests that take
    this app run on SQLite only (`only_on`)."""
    assert app.config["DATABASE_URL"].startswith("sqlite")
    return app


def sqlite_counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as connection:
        (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
        assert verdict == "ok"
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def live_path(app) -> Path:
    return Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))


class Writer(threading.Thread):
    """Learners registering and reading sections through the app, until told to stop."""

    LIMIT = 2_000  # a bound, whatever happens to the test

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.stop = threading.Event()
        self.users = 0
        self.reads = 0
        self.errors: list[str] = []

    def run(self) -> None:
        for n in range(self.LIMIT):
            if self.stop.is_set():
                return
            browser: CSRFClient = self.app.test_client()
            address = f"writer{n}@example.com"
            response = browser.post(
                "/auth/register",
                data={
                    "name": f"Writer {n}",
                    "email": address,
                    "password": "writer password",
                    "confirm": "writer password",
                },
            )
            if response.status_code != 302:
                self.errors.append(f"register {address}: {response.status_code}")
                return
            self.users += 1
            for slug in SECTIONS[: 1 + n % len(SECTIONS)]:
                response = browser.post(f"/lessons/{LESSON}/sections/{slug}/read")
                if response.status_code != 302:
                    self.errors.append(f"read {slug}: {response.status_code}")
                    return
                self.reads += 1

    def wait_for(self, users: int, timeout: float = 60) -> None:
        for _ in range(int(timeout * 20)):
            if self.users >= users or not self.is_alive():
                break
            self.stop.wait(0.05)
        assert not self.errors, self.errors
        assert self.users >= users, "the writer did not get going"


@only_on("sqlite")
def test_backup_of_a_live_database_is_whole_and_restores(sqlite_app, runner, tmp_path, db):
    app = sqlite_app
    live = live_path(app)
    target = tmp_path / "backups" / "copy.sqlite3"
    target.parent.mkdir()

    writer = Writer(app)
    writer.start()
    try:
        writer.wait_for(users=15)
        before = writer.users
        result = runner.invoke(args=["backup", str(target)])
        during = writer.users
        writer.wait_for(users=during + 10)  # and it kept writing after the copy
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert not writer.is_alive()
    assert not writer.errors, writer.errors
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output

    copied = sqlite_counts(target)
    assert before <= copied["users"] <= during + 1
    assert copied["section_reads"] >= before - 1
    # Every read in the copy belongs to a user in the copy.
    with closing(sqlite3.connect(target)) as copy:
        orphans = copy.execute(
            "SELECT count(*) FROM section_reads WHERE user_id NOT IN (SELECT id FROM users)"
        ).fetchone()[0]
        assert orphans == 0
    reported = dict(re.findall(r"(\w+) (\d+)", result.output.split("integrity ok,", 1)[1]))
    assert {t: int(n) for t, n in reported.items()} == copied

    final = sqlite_counts(live)
    assert final["users"] == writer.users > copied["users"]

    # Restore (with the server stopped: here, the app's connections closed).
    get_engine(app).dispose()
    db.close()
    result = runner.invoke(args=["restore", "--yes", str(target)])
    assert result.exit_code == 0, result.output
    assert "restored from" in result.output
    assert sqlite_counts(live) == copied

    # The app works on the restored database: a user made after the backup is gone, one
    # made before is there and can log in.
    browser = app.test_client()
    assert (
        browser.post(
            "/auth/login", data={"email": "writer0@example.com", "password": "writer password"}
        ).status_code
        == 302
    )
    assert browser.get(f"/lessons/{LESSON}/").status_code == 200
    last = f"writer{writer.users - 1}@example.com"
    db.rollback()
    assert db.scalar(select(User.id).where(User.email == last)) is None
    assert db.scalar(select(func.count()).select_from(SectionRead)) == copied["section_reads"]


@only_on("sqlite")
def test_backup_refuses_to_overwrite_a_file(sqlite_app, runner, tmp_path):
    target = tmp_path / "precious.sqlite3"
    target.write_bytes(b"not to be lost")
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code != 0
    assert f"{target} exists: choose a new file" in result.output
    assert target.read_bytes() == b"not to be lost"


@only_on("sqlite")
def test_restore_asks_for_confirmation(sqlite_app, runner, tmp_path):
    target = tmp_path / "copy.sqlite3"
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    before = live_path(sqlite_app).read_bytes()
    result = runner.invoke(args=["restore", str(target)], input="n\n")
    assert result.exit_code != 0
    assert "Aborted" in result.output
    assert live_path(sqlite_app).read_bytes() == before


def test_backup_and_restore_refuse_a_postgresql_database(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    # No connection is made: the URL alone decides.
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )
    runner = app.test_cli_runner()
    existing = tmp_path / "old-backup.sqlite3"
    existing.write_bytes(b"")
    for args in (["backup", str(tmp_path / "new.sqlite3")], ["restore", "--yes", str(existing)]):
        result = runner.invoke(args=args)
        assert result.exit_code != 0
        assert "backup and restore work on a SQLite file; for PostgreSQL use pg_dump" in (
            result.output
        )
    assert not (tmp_path / "new.sqlite3").exists()
    get_engine(app).dispose()
