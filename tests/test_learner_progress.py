"""learner_progress: every path that writes reads, attempts or certificates leaves each
learner's row equal to what the raw tables say (learner_progress.aggregate)."""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, union
from sqlalchemy.orm import Session

from learnapp import (
    accounts,
    attempts,
    certificates,
    create_app,
    learner_progress,
    progress,
    reports,
)
from learnapp.db import get_engine, get_session, utcnow, writing
from learnapp.models import Certificate, Cohort, LearnerProgress, SectionRead, User
from tests.conftest import PASSWORD, SECTIONS, only_on, statements_listened
from tests.test_instructor import (
    DAY,
    LESSON,
    add_cohort,
    certificate,
    enrol,
    logged_in,
    reads,
    refresh_progress,
    row_of,
)
from tests.test_quizzes import (
    FINAL,
    START,
    all_right,
    all_wrong,
    answer_form,
    fetch,
    read_all_sections,
    right_response,
    start,
    take_quiz,
)


@pytest.fixture
def db(app) -> Iterator[Session]:
    """A session with no app context pushed, so that requests keep their own (see
    tests/test_quizzes.py)."""
    session = app.extensions["learnapp.sessionmaker"]()
    yield session
    session.close()


def stored(db: Session, user_id: int) -> dict[str, Any] | None:
    """The learner's row as committed."""
    db.rollback()
    row = db.execute(
        select(LearnerProgress.__table__).where(
            LearnerProgress.user_id == user_id, LearnerProgress.lesson == LESSON
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def computed(app: Flask, db: Session, user_ids: Any) -> dict[int, dict[str, Any]]:
    """The rows the raw tables call for, by user id."""
    catalogue = app.extensions["learnapp.content"]
    rows = learner_progress.aggregate(
        catalogue.lessons[LESSON], catalogue.final_quiz(LESSON), user_ids
    )
    return {row.user_id: dict(row._mapping) for row in db.execute(rows)}


def assert_consistent(app: Flask, db: Session) -> None:
    """Every row equals its recomputation, and every learner with activity has a row."""
    db.rollback()
    kept = {
        row.user_id: dict(row._mapping) for row in db.execute(select(LearnerProgress.__table__))
    }
    active = union(
        select(SectionRead.user_id),
        select(Certificate.user_id).where(Certificate.user_id.is_not(None)),
        select(LearnerProgress.user_id),
    )
    expected = computed(app, db, active)
    assert kept == {u: row for u, row in expected.items() if u in kept}
    idle = {u: row for u, row in expected.items() if u not in kept}
    assert all(row["read_count"] == row["attempts"] == 0 for row in idle.values()), idle


# --- Each write path, through the pages ---------------------------------------------------


def test_reading_sets_the_count_the_bits_and_the_time(app, client, learner, db):
    assert stored(db, learner.id) is None
    url = f"/lessons/{LESSON}/sections/{{}}/read"
    client.post(url.format(SECTIONS[0]))
    first = stored(db, learner.id)
    assert (first["read_count"], first["read_mask"], first["attempts"]) == (1, 0b1, 0)
    assert abs(first["last_activity"] - utcnow()) < timedelta(minutes=1)
    client.post(url.format(SECTIONS[2]))
    client.post(url.format(SECTIONS[0]))  # read again: nothing new
    row = stored(db, learner.id)
    assert (row["read_count"], row["read_mask"]) == (2, 0b101)
    assert row == computed(app, db, [learner.id])[learner.id]


def test_starting_and_submitting_attempts(app, client, learner, db):
    catalogue = app.extensions["learnapp.content"]
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    assert client.post(START).status_code == 302
    opened = stored(db, learner.id)
    assert (opened["read_count"], opened["read_mask"]) == (7, 0b1111111)
    assert (opened["attempts"], opened["best"], opened["passed"]) == (1, None, False)
    assert opened == computed(app, db, [learner.id])[learner.id]

    failed = take_quiz(client, db, catalogue, all_wrong)  # the open attempt: still one
    row = stored(db, learner.id)
    assert (row["attempts"], row["best"], row["passed"], row["critical"]) == (1, 0, False, True)
    assert row["last_activity"] == failed.submitted_at

    passed = take_quiz(client, db, catalogue, all_right)
    row = stored(db, learner.id)
    assert (row["attempts"], row["best"], row["passed"], row["critical"]) == (2, 100, True, False)
    assert row["last_activity"] == passed.submitted_at
    assert row == computed(app, db, [learner.id])[learner.id]


def test_a_submit_counts_its_attempt_in_the_row_in_place(app, client, learner, db):
    """The busiest write updates the row it finds (the attempt's start made it) with one
    UPDATE, and ends with the row the raw tables give."""
    catalogue = app.extensions["learnapp.content"]
    read_all_sections(client)
    client.post(f"{FINAL}/acknowledge")
    attempt_id = start(client)
    form = answer_form(fetch(db, attempt_id), catalogue, all_right)
    statements: list[str] = []
    with statements_listened(app, lambda _c, _k, sql, *_: statements.append(" ".join(sql.split()))):
        assert client.post(f"/quizzes/attempts/{attempt_id}", data=form).status_code == 302
    progress_writes = [sql for sql in statements if "learner_progress" in sql]
    assert len(progress_writes) == 1
    assert "UPDATE learner_progress SET" in progress_writes[0]
    assert "INSERT INTO learner_progress" not in progress_writes[0]
    row = stored(db, learner.id)
    assert (row["best"], row["passed"]) == (100, True)
    assert row == computed(app, db, [learner.id])[learner.id]


def test_a_submit_without_a_row_to_count_in_computes_it_whole(app, client, learner, db):
    """Rows loaded in bulk may lack one (the app makes it when an attempt starts)."""
    catalogue = app.extensions["learnapp.content"]
    read_all_sections(client)
    client.post(f"{FINAL}/acknowledge")
    attempt_id = start(client)
    form = answer_form(fetch(db, attempt_id), catalogue, all_right)
    db.execute(delete(LearnerProgress).where(LearnerProgress.user_id == learner.id))
    db.commit()
    assert client.post(f"/quizzes/attempts/{attempt_id}", data=form).status_code == 302
    row = stored(db, learner.id)
    assert (row["attempts"], row["best"], row["passed"]) == (1, 100, True)
    assert row == computed(app, db, [learner.id])[learner.id]


def test_issuing_correcting_revoking_and_renewing_a_certificate(
    app, client, learner, db, create_user
):
    catalogue = app.extensions["learnapp.content"]
    read_all_sections(client)
    client.post(f"{FINAL}/acknowledge")
    attempt = take_quiz(client, db, catalogue)
    response = client.post(f"/certificates/claim/{attempt.id}", data={"name": "Ada Learner"})
    code = response.location.removeprefix("/certificates/")
    issued = stored(db, learner.id)
    certificate = db.scalar(select(Certificate).where(Certificate.code == code))
    assert (issued["certificate_code"], issued["certificate_revoked"]) == (code, False)
    assert issued["certificate_issued_at"] == certificate.issued_at
    assert issued["certificate_valid_until"] == certificate.valid_until

    create_user(email="admin@example.com", role="admin")
    admin = logged_in(app, "admin@example.com")
    admin.post(f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"})
    assert stored(db, learner.id) == issued  # same code and dates in the new revision
    assert stored(db, learner.id) == computed(app, db, [learner.id])[learner.id]

    # Recertifying: the certificate falls due (moved directly, so refreshed by hand), the
    # learner passes again and claims a new one, which becomes the current certificate.
    db.execute(
        Certificate.__table__.update()
        .where(Certificate.code == code)
        .values(valid_until=utcnow() + timedelta(days=30))
    )
    refresh_progress(app, db)
    db.commit()
    renewal = take_quiz(client, db, catalogue)
    new_code = client.post(f"/certificates/claim/{renewal.id}", data={"name": "Ada"}).location
    new_code = new_code.removeprefix("/certificates/")
    renewed = stored(db, learner.id)
    assert (renewed["certificate_code"], renewed["attempts"]) == (new_code, 2)
    assert renewed["certificate_valid_until"] > issued["certificate_valid_until"]

    admin.post(
        f"/certificates/{new_code}/revoke", data={"reason": "Issued in error", "confirmed": "yes"}
    )
    revoked = stored(db, learner.id)
    assert (revoked["certificate_code"], revoked["certificate_revoked"]) == (new_code, True)
    assert revoked == computed(app, db, [learner.id])[learner.id]


def test_deleting_the_account_deletes_its_rows(app, client, learner, db):
    read_all_sections(client)
    assert stored(db, learner.id) is not None
    with app.app_context():
        session = get_session()
        accounts.delete_account(session, session.get(User, learner.id))
        session.commit()
    assert stored(db, learner.id) is None


# --- Random activity through the services -------------------------------------------------


def act(rng: random.Random, session: Session, app: Flask, user: User) -> None:
    """One thing a learner (or their manager) might do next; may do nothing."""
    catalogue = app.extensions["learnapp.content"]
    lesson, quiz = catalogue.lessons[LESSON], catalogue.final_quiz(LESSON)
    policy = attempts.RetakePolicy()
    roll = rng.random()
    if roll < 0.45:
        progress.mark_read(session, user.id, lesson, rng.choice(lesson.sections))
    elif roll < 0.6:
        attempts.acknowledge(session, user.id, lesson)
        with contextlib.suppress(attempts.QuizClosed):
            attempts.start(session, user.id, lesson, quiz, catalogue, policy, rng)
    elif roll < 0.8:
        for attempt in attempts.attempts_of(session, user.id, quiz.id):
            if attempt.state == "in_progress":
                chance = rng.random()
                responses = {
                    entry["id"]: right_response(quiz.question(entry["id"]))
                    if rng.random() < chance
                    else None
                    for entry in attempt.drawn
                }
                attempts.submit(session, attempts.grade_attempt(attempt, quiz, responses))
    elif roll < 0.9:
        passed = [a for a in attempts.attempts_of(session, user.id, quiz.id) if a.passed]
        if passed and certificates.for_attempt(session, passed[0].id) is None:
            try:
                draft = certificates.draft(session, user, passed[0], user.name, catalogue, utcnow())
            except certificates.CertificateError:
                return
            certificates.save_issued(session, draft)
    else:
        held = certificates.history(session, user.id)
        if held and held[0].revoked_at is None:
            if rng.random() < 0.5:
                certificates.revoke(session, held[0], user, "Issued in error", utcnow())
            else:
                revision = certificates.reissue(session, held[0], f"{user.name} Jr", utcnow())
                certificates.save_revision(session, held[0], revision, user, utcnow())


@pytest.mark.parametrize("seed", range(3))
def test_after_random_activity_every_row_equals_the_raw_aggregate(app, db, create_user, seed):
    rng = random.Random(seed)
    learners = [create_user(email=f"l{i}@example.com", name=f"Learner {i}") for i in range(4)]
    with app.test_request_context(method="POST"):  # a GET request could not write
        session = get_session()
        for _ in range(120):
            with writing(session):
                act(rng, session, app, session.get(User, rng.choice(learners).id))
    assert_consistent(app, db)
    assert db.scalar(select(LearnerProgress.user_id).limit(1)) is not None


def test_demo_cohort_rows_equal_the_raw_aggregate(app, runner, db):
    result = runner.invoke(args=["demo", "--learners", "40"])
    assert result.exit_code == 0, result.output
    assert_consistent(app, db)
    assert len(db.scalars(select(LearnerProgress.user_id)).all()) == 40


# --- flask progress rebuild ---------------------------------------------------------------


def test_rebuild_recomputes_rows_written_behind_the_services_back(app, runner, db, create_user):
    learner = create_user(email="ada@example.com")
    db.execute(insert(SectionRead), reads(learner.id, 3, utcnow()))
    db.commit()
    assert stored(db, learner.id) is None
    result = runner.invoke(args=["progress", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"{LESSON}: progress of 1 learner recomputed" in result.output
    assert (stored(db, learner.id)["read_count"], stored(db, learner.id)["read_mask"]) == (3, 0b111)


def test_rebuild_follows_reordered_sections(app, app_config, client, learner, db, tmp_path):
    """An author swaps two sections: after `flask progress rebuild` each learner's bits follow
    the new order."""
    url = f"/lessons/{LESSON}/sections/{{}}/read"
    for slug in ("spine-and-spasm", "poor-posture"):  # sections 1 and 4
        client.post(url.format(slug))
    assert stored(db, learner.id)["read_mask"] == 0b1001

    lessons = tmp_path / "lessons"
    shutil.copytree(Path(app.config["LESSONS_DIR"]), lessons)
    for slug, order in (("poor-posture", 5), ("joint-dysfunction", 4)):
        path = lessons / LESSON / f"{slug}.md"
        text = path.read_text()
        path.write_text(text.replace(f"order: {9 - order}", f"order: {order}", 1))
    edited = create_app({**app_config, "LESSONS_DIR": str(lessons)})
    try:
        result = edited.test_cli_runner().invoke(args=["progress", "rebuild"])
        assert result.exit_code == 0, result.output
    finally:
        get_engine(edited).dispose()
    assert stored(db, learner.id)["read_mask"] == 0b10001
    assert stored(db, learner.id)["read_count"] == 2


# --- Two changes to one learner at once (PostgreSQL) --------------------------------------


def overlapping(app: Flask, first_change: Any, second_change: Any) -> None:
    """Run two changes, each in a transaction of its own thread: the second starts while the
    first holds its transaction open (uncommitted) for half a second, so on PostgreSQL it
    must wait for the first to commit. Each change is called with the thread's session."""
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def change(make_change: Any, hold: bool) -> None:
        try:
            with app.app_context():
                session = get_session()
                make_change(session)
                if hold:
                    holding.set()
                    release.wait(timeout=10)
                session.commit()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    first = threading.Thread(target=change, args=(first_change, True))
    first.start()
    assert holding.wait(timeout=10)
    second = threading.Thread(target=change, args=(second_change, False))
    second.start()
    second.join(timeout=0.5)  # it waits for the first to commit
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert not errors, errors


@only_on("postgresql")
def test_two_transactions_changing_one_learner_both_count(app, create_user, db):
    """Each refresh reads the raw tables as its statement's snapshot shows them: without a
    lock, the second of two overlapping transactions would write a row missing the first's
    change. (SQLite's writers never overlap: BEGIN IMMEDIATE.)"""
    learner = create_user(email="ada@example.com")
    lesson = app.extensions["learnapp.content"].lessons[LESSON]

    def read(section: int) -> Any:
        return lambda session: progress.mark_read(
            session, learner.id, lesson, lesson.sections[section]
        )

    overlapping(app, read(0), read(1))
    row = stored(db, learner.id)
    assert (row["read_count"], row["read_mask"]) == (2, 0b11)


@pytest.mark.parametrize("held_first", ["submit", "refresh"])
@only_on("postgresql")
def test_a_submit_and_a_refresh_at_once_both_count(app, client, learner, db, held_first):
    """A submit folds its attempt into the row, where a refresh recomputes the row from a
    snapshot: whichever comes first, the other waits, and the row misses nothing."""
    catalogue = app.extensions["learnapp.content"]
    quiz = catalogue.final_quiz(LESSON)
    read_all_sections(client)
    client.post(f"{FINAL}/acknowledge")
    attempt = fetch(db, start(client))
    db.close()
    responses = {entry["id"]: right_response(quiz.question(entry["id"])) for entry in attempt.drawn}

    def submit(session: Session) -> None:
        session.connection()  # in a transaction held open, not a statement on its own
        assert attempts.submit(session, attempts.grade_attempt(attempt, quiz, responses))

    def refresh(session: Session) -> None:
        learner_progress.refresh(session, learner.id, LESSON)

    if held_first == "submit":
        overlapping(app, submit, refresh)
    else:
        overlapping(app, refresh, submit)
    row = stored(db, learner.id)
    assert (row["best"], row["passed"]) == (100, True)
    assert row == computed(app, db, [learner.id])[learner.id]


# --- The dashboard's cached counts --------------------------------------------------------

CODE = "01ABC-DEFGH-JKMNP-QRSTV"


def counts(teacher: Any, url: str) -> dict[str, int]:
    html = teacher.get(url).text
    return {k: int(v) for k, v in re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html)}


@pytest.fixture
def watched(app, db, create_user) -> SimpleNamespace:
    """A cohort (join code CODE) and its instructor's client, watching its dashboard."""
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id, join_code=CODE)
    db.commit()
    return SimpleNamespace(
        id=cohort, url=f"/instructor/cohorts/{cohort}", teacher=logged_in(app, teacher.email)
    )


def test_the_counts_follow_every_change(app, client, learner, db, watched, create_user):
    catalogue = app.extensions["learnapp.content"]
    seen = counts(watched.teacher, watched.url)
    assert (seen["Enrolled"], seen["Started"]) == (0, 0)

    def changes(**expected: int) -> None:
        now = counts(watched.teacher, watched.url)
        assert {name: now[name] for name in expected} == expected

    client.post("/cohorts/join", data={"code": CODE})
    changes(Enrolled=1, Started=0)
    client.post(f"/lessons/{LESSON}/sections/{SECTIONS[0]}/read")
    changes(Started=1)
    assert "<td>1/7</td>" in row_of(watched.teacher.get(watched.url).text, "Ada Learner")
    read_all_sections(client)
    changes(**{"Read everything": 1})
    assert "<td>7/7</td>" in row_of(watched.teacher.get(watched.url).text, "Ada Learner")
    client.post(f"{FINAL}/acknowledge")
    attempt = take_quiz(client, db, catalogue)
    changes(Passed=1, Certified=0)
    code = client.post(f"/certificates/claim/{attempt.id}", data={"name": "Ada"}).location
    changes(Certified=1)
    watched.teacher.post(f"{code}/revoke", data={"reason": "Issued in error", "confirmed": "yes"})
    changes(Certified=0, Passed=1)
    client.post(f"/cohorts/{watched.id}/leave", data={"confirmed": "yes"})
    changes(Enrolled=0, Passed=0)


def test_deleting_an_account_leaves_the_counts(app, client, learner, db, watched):
    client.post("/cohorts/join", data={"code": CODE})
    read_all_sections(client)
    assert counts(watched.teacher, watched.url)["Read everything"] == 1
    assert client.post("/account/delete", data={"current": PASSWORD}).status_code == 302
    assert counts(watched.teacher, watched.url)["Enrolled"] == 0


def test_a_second_view_counts_nothing_again(app, client, learner, watched):
    client.post("/cohorts/join", data={"code": CODE})
    read_all_sections(client)
    first, second = (recorded_get(app, watched.teacher, watched.url) for _ in range(2))
    # The same page, but for its forms' CSRF tokens, which are signed with the second.
    assert without_csrf_tokens(first.text) == without_csrf_tokens(second.text)
    assert any("FILTER" in s for s in first.statements)
    assert not any("FILTER" in s for s in second.statements)


def without_csrf_tokens(page: str) -> str:
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1"', page)


def recorded_get(app: Flask, client: Any, url: str) -> SimpleNamespace:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with statements_listened(app, record):
        text = client.get(url).text
    return SimpleNamespace(text=text, statements=statements)


def test_cached_counts_are_recounted_when_the_clock_changes_one(app, db, watched, create_user):
    learner = create_user(email="ada@example.com")
    now = utcnow()
    enrol(db, watched.id, [learner.id])
    db.execute(insert(Certificate), [certificate(learner.id, now - DAY, now + timedelta(hours=1))])
    refresh_progress(app, db)
    db.commit()
    catalogue = app.extensions["learnapp.content"]
    cohort = db.get(Cohort, watched.id)
    lesson = catalogue.lessons[LESSON]
    scope = reports.cohort_scope(cohort, lesson, catalogue.final_quiz(LESSON))
    statements: list[str] = []

    def overview_at(moment: Any) -> Any:
        with app.app_context(), statements_listened(app, lambda *a: statements.append(a[2])):
            return reports.cohort_overview(db, cohort, scope, moment, catalogue.version)

    first = overview_at(now)
    assert (first.summary.certified, first.summary.expiring) == (1, 1)
    assert first.until == now + timedelta(hours=1)  # the certificate expires
    counted = len(statements)
    assert counted > 0
    assert overview_at(now + timedelta(minutes=59)) == first
    assert len(statements) == counted  # kept: nothing counted again
    later = overview_at(now + timedelta(hours=2))
    assert (later.summary.certified, later.summary.expiring, later.until) == (0, 0, None)
    assert len(statements) > counted
