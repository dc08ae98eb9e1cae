"""Two requests for one attempt at the same moment: it is opened once and graded once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from learnapp.models import Answer, QuizAttempt
from tests.conftest import AuthActions
from tests.test_quizzes import (
    FINAL,
    START,
    all_right,
    all_wrong,
    answer_form,
    fetch,
    read_all_sections,
    start,
)

ROUNDS = 5


@pytest.fixture
def db(app) -> Iterator[Session]:
    """A session of the test's own, with no app context pushed (see tests/test_quizzes.py)."""
    session = app.extensions["learnapp.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def devices(app, learner, client):
    """Two clients, each logged in separately as the same learner, ready for the quiz."""
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    other = app.test_client()
    assert AuthActions(other).login(learner.email).status_code == 302
    return client, other


def together(*posts: tuple[Any, str, dict[str, list[str]] | None]) -> list[Any]:
    """POST each (client, url, form) in its own thread, all released at the same instant;
    the responses, in order."""
    barrier = threading.Barrier(len(posts))

    def run(post: tuple[Any, str, dict[str, list[str]] | None]) -> Any:
        client, url, form = post
        barrier.wait(timeout=10)
        return client.post(url, data=form)

    with ThreadPoolExecutor(len(posts)) as pool:
        return list(pool.map(run, posts))


def attempt_counts(db: Session) -> dict[str, int]:
    db.rollback()
    rows = db.execute(select(QuizAttempt.state, func.count()).group_by(QuizAttempt.state))
    return dict(rows.all())


def answers_per_attempt(db: Session) -> dict[int, int]:
    db.rollback()
    rows = db.execute(select(Answer.attempt_id, func.count()).group_by(Answer.attempt_id))
    return dict(rows.all())


def test_two_simultaneous_submits_grade_the_attempt_once(devices, db, app):
    first, second = devices
    catalogue = app.extensions["learnapp.content"]
    draw = catalogue.final_quiz("spinal-muscle-spasm").draw
    for round_ in range(ROUNDS):
        attempt = fetch(db, start(first))
        url = f"/quizzes/attempts/{attempt.id}"
        # Different answers on each device: whichever wins, only its answers are stored.
        forms = (
            answer_form(attempt, catalogue, all_right),
            answer_form(attempt, catalogue, all_wrong),
        )
        responses = together((first, url, forms[0]), (second, url, forms[1]))
        assert [r.status_code for r in responses] == [302, 302], [r.text for r in responses]
        assert {r.location for r in responses} == {url}
        closed = fetch(db, attempt.id)
        assert closed.state == "closed"
        assert closed.percent in (0, 100)
        stored = db.scalars(select(Answer).where(Answer.attempt_id == attempt.id)).all()
        assert len(stored) == draw
        assert {a.correct for a in stored} == {closed.percent == 100}
        assert attempt_counts(db) == {"closed": round_ + 1}
    assert answers_per_attempt(db) == dict.fromkeys(answers_per_attempt(db), draw)
    assert len(answers_per_attempt(db)) == ROUNDS


def test_two_simultaneous_starts_open_one_attempt(devices, db, app):
    first, second = devices
    catalogue = app.extensions["learnapp.content"]
    for round_ in range(ROUNDS):
        responses = together((first, START, None), (second, START, None))
        assert [r.status_code for r in responses] == [302, 302], [r.text for r in responses]
        locations = {r.location for r in responses}
        assert len(locations) == 1 and locations.pop().startswith("/quizzes/attempts/")
        assert attempt_counts(db) == {"in_progress": 1} | ({"closed": round_} if round_ else {})
        # Both devices now show the same attempt; close it so the next round starts afresh.
        attempt = fetch(db, start(first))
        assert start(second) == attempt.id
        first.post(
            f"/quizzes/attempts/{attempt.id}", data=answer_form(attempt, catalogue, all_wrong)
        )
    assert attempt_counts(db) == {"closed": ROUNDS}
