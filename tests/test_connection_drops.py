"""PostgreSQL connections dropped under the app (pg_terminate_backend, as a database restart or
a pooler would drop them): the next pages work, a request in flight fails at most once with a
plain error page, and a quiz submit records once or asks the learner to submit again, never
half."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from learnapp.models import Answer, QuizAttempt
from tests.conftest import only_on, statements_listened
from tests.test_quizzes import (
    FINAL,
    LESSON,
    all_right,
    answer_form,
    fetch,
    read_all_sections,
    start,
)

pytestmark = only_on("postgresql")

SECTION = f"/lessons/{LESSON}/sections/summary"
TERMINATE_EVERY_OTHER = text(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'"
)
TERMINATE = text("SELECT pg_terminate_backend(:pid, 5000)")  # waits until it has exited
DRIVER_ERROR = re.compile(r"terminating connection|server closed|psycopg|OperationalError", re.I)


@pytest.fixture
def outside(app) -> Iterator[Engine]:
    """Connections of the test's own, outside the app's pools: each used once and closed, so
    that none of them is among those dropped."""
    engine = create_engine(app.config["DATABASE_URL"], poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def ready(client, learner):
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    return learner


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


def terminate_app_connections(outside: Engine) -> int:
    """Terminate every other connection to the test database (the app's, both pools); how
    many were."""
    with outside.connect() as connection:
        return connection.execute(TERMINATE_EVERY_OTHER).scalar_one()


def stored(outside: Engine, attempt_id: int) -> tuple[str, int]:
    """The attempt's state and its number of answer rows, as committed."""
    with Session(outside) as session:
        state = session.scalar(select(QuizAttempt.state).where(QuizAttempt.id == attempt_id))
        count = session.scalar(
            select(func.count()).select_from(Answer).where(Answer.attempt_id == attempt_id)
        )
    return state, count


def assert_whole(state: str, answers: int, drawn: int) -> None:
    """Never half a record: closed with every answer, or open with none."""
    assert (state, answers) in {("closed", drawn), ("in_progress", 0)}, (state, answers)


@contextmanager
def dropped_at(app, outside: Engine, pattern: str) -> Iterator[list[int]]:
    """While the block runs, the first statement matching `pattern` that the app sends finds
    its own connection terminated (from another connection) just before it goes out; yields
    the backends terminated, to check that it happened."""
    dropped: list[int] = []

    def drop_own_connection(_conn, cursor, statement, *_args: Any) -> None:
        if dropped or not re.search(pattern, statement, re.I):
            return
        pid = cursor.connection.info.backend_pid
        with outside.connect() as connection:
            assert connection.execute(TERMINATE, {"pid": pid}).scalar_one()
        dropped.append(pid)

    with statements_listened(app, drop_own_connection):
        yield dropped


def assert_error_page(response) -> None:
    """The ordinary error page, or the one asking to try again: nothing of the driver's."""
    assert response.status_code in (500, 503), response.status_code
    assert "Traceback" not in response.text
    assert not DRIVER_ERROR.search(response.text)


# --- Between requests ----------------------------------------------------------------------


def test_pages_after_every_connection_is_terminated(app, client, ready, outside, catalogue, db):
    attempt_id = start(client)
    form = answer_form(fetch(db, attempt_id), catalogue, all_right)
    db.close()  # its connection is back in the app's pool, to be dropped with the others
    url = f"/quizzes/attempts/{attempt_id}"
    assert client.get(SECTION).status_code == 200  # both pools hold a connection now

    assert terminate_app_connections(outside) >= 2
    assert client.get(SECTION).status_code == 200
    assert client.get(f"/lessons/{LESSON}/").status_code == 200

    assert terminate_app_connections(outside) >= 1
    assert client.post(f"{SECTION}/read").status_code == 302

    assert terminate_app_connections(outside) >= 1
    assert client.get(url).status_code == 200

    assert terminate_app_connections(outside) >= 1
    response = client.post(url, data=form)
    assert response.status_code == 302, response.text
    assert response.location == url
    drawn = len(fetch(db, attempt_id).drawn)
    assert stored(outside, attempt_id) == ("closed", drawn)
    db.close()

    assert terminate_app_connections(outside) >= 1
    assert client.get(url).status_code == 200


# --- In flight -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "ok"),
    [("get", SECTION, 200), ("post", f"{SECTION}/read", 302)],
    ids=["lesson page", "mark read"],
)
def test_a_request_in_flight_fails_at_most_once(app, client, ready, outside, method, url, ok):
    with dropped_at(app, outside, r"^\s*(SELECT|INSERT|UPDATE)\b") as dropped:
        response = getattr(client, method)(url)
    assert dropped, "no statement met the dropped connection"
    if response.status_code != ok:
        assert_error_page(response)
    assert getattr(client, method)(url).status_code == ok
    assert client.get(SECTION).status_code == 200


def test_a_submit_that_loses_its_connection_records_once_or_asks_again(
    app, client, ready, outside, catalogue, db
):
    attempt_id = start(client)
    attempt = fetch(db, attempt_id)
    drawn = len(attempt.drawn)
    form = answer_form(attempt, catalogue, all_right)
    db.close()
    url = f"/quizzes/attempts/{attempt_id}"

    with dropped_at(app, outside, r"\bINSERT INTO answers\b") as dropped:
        response = client.post(url, data=form)
    assert dropped, "the answers' INSERT never ran"

    state, answers = stored(outside, attempt_id)
    assert_whole(state, answers, drawn)
    if response.status_code == 302:
        # Recorded (a retry on a fresh connection, say): once.
        assert response.location == url
        assert (state, answers) == ("closed", drawn)
    else:
        # Not recorded, and the learner is told so.
        assert (state, answers) == ("in_progress", 0)
        assert response.status_code == 503, response.status_code
        assert "connection" in response.text.lower()
        assert re.search(r"\b(submit|send|try)\b[^<]{0,40}\bagain\b", response.text, re.I)
        assert not DRIVER_ERROR.search(response.text)
        assert "Submit my answers" in client.get(url).text  # still open, answers to resend
        response = client.post(url, data=form)
        assert response.status_code == 302, response.text
        assert stored(outside, attempt_id) == ("closed", drawn)

    # Submitting again records nothing more.
    again = client.post(url, data=form, follow_redirects=True)
    assert again.status_code == 200
    assert "already submitted" in again.text
    assert stored(outside, attempt_id) == ("closed", drawn)
    with Session(outside) as session:
        attempts = session.scalar(select(func.count()).select_from(QuizAttempt))
    assert attempts == 1
