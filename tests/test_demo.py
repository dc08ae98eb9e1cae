"""`flask demo --learners N`: a cohort of demo learners whose stored results hold together."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from learnapp import grading
from learnapp.cli import DEMO_PASSWORD
from learnapp.db import utcnow
from learnapp.demo import DemoError, seed_cohort
from learnapp.models import (
    REVOKE_REASONS,
    Answer,
    Certificate,
    Cohort,
    CohortInstructor,
    Enrolment,
    QuizAttempt,
    SectionRead,
    User,
)

LEARNERS = 40


@pytest.fixture
def seeded(runner: Any) -> Any:
    result = runner.invoke(args=["demo", "--learners", str(LEARNERS)])
    assert result.exit_code == 0, result.output
    return result


def enrolled(db: Any) -> list[User]:
    return list(db.scalars(select(User).join(Enrolment, Enrolment.user_id == User.id)))


def test_cohort_of_learners_who_share_one_password(seeded: Any, db: Any, auth: Any) -> None:
    cohort = db.scalars(select(Cohort)).one()
    learners = enrolled(db)
    assert len(learners) == LEARNERS
    assert {e.cohort_id for e in db.scalars(select(Enrolment))} == {cohort.id}
    instructor = db.scalar(select(User.id).where(User.email == "instructor@example.com"))
    assert cohort.instructor_id == instructor  # who created it
    # and who runs it: every access check reads cohort_instructors
    assert db.scalars(
        select(CohortInstructor.user_id).where(CohortInstructor.cohort_id == cohort.id)
    ).all() == [instructor]
    assert len({u.password_hash for u in learners}) == 1
    assert len({u.name for u in learners}) > LEARNERS // 2
    assert auth.login(learners[-1].email, DEMO_PASSWORD).status_code == 302


def test_attempts_and_answers_are_graded_as_submitted(app: Flask, seeded: Any, db: Any) -> None:
    quiz = app.extensions["learnapp.content"].final_quiz("spinal-muscle-spasm")
    closed = list(db.scalars(select(QuizAttempt).where(QuizAttempt.state == "closed")))
    assert closed
    answers: dict[int, list[Answer]] = defaultdict(list)
    for answer in db.scalars(select(Answer)):
        answers[answer.attempt_id].append(answer)
    for attempt in closed:
        given = sorted(answers[attempt.id], key=lambda a: a.position)
        assert [a.question_id for a in given] == [entry["id"] for entry in attempt.drawn]
        assert len(given) == quiz.draw
        assert attempt.submitted_at > attempt.started_at
        assert sum(a.score for a in given) == pytest.approx(attempt.score)
        assert sum(a.points for a in given) == attempt.points
        sections: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for a in given:
            regraded = grading.grade(quiz.question(a.question_id), a.response)
            assert (float(regraded.score), regraded.correct) == (a.score, a.correct)
            sections[a.section][0] += a.score
            sections[a.section][1] += a.points
        assert attempt.by_section.keys() == sections.keys()
        for slug, (score, points) in attempt.by_section.items():
            assert (score, points) == (pytest.approx(sections[slug][0]), sections[slug][1])
    # Learners stop after their first pass, and some miss a safety question.
    passes = db.execute(
        select(QuizAttempt.user_id, func.count())
        .where(QuizAttempt.passed)
        .group_by(QuizAttempt.user_id)
    ).all()
    assert passes and all(count == 1 for _user, count in passes)
    assert any(a.critical_missed and not a.passed for a in closed)


def test_progress_is_varied_and_passers_hold_certificates(seeded: Any, db: Any) -> None:
    readers = set(db.scalars(select(SectionRead.user_id)))
    learners = enrolled(db)
    assert any(u.id not in readers for u in learners)  # not started
    passers = set(db.scalars(select(QuizAttempt.user_id).where(QuizAttempt.passed)))
    assert LEARNERS * 0.3 < len(passers) < LEARNERS * 0.8
    issued = list(db.scalars(select(Certificate)))
    assert {c.user_id for c in issued} == passers
    for certificate in issued:
        assert certificate.pdf.startswith(b"%PDF")
        assert certificate.sha256 == hashlib.sha256(certificate.pdf).hexdigest()
    now = utcnow()
    assert any(now < c.valid_until <= now + timedelta(days=90) for c in issued)
    revoked = [c for c in issued if c.revoked_at is not None]
    assert revoked and all(c.revoked_by_id and c.revoke_note for c in revoked)
    assert {c.revoke_reason for c in revoked} <= set(REVOKE_REASONS)  # public: from the list


def test_running_again_adds_another_cohort(runner: Any, db: Any) -> None:
    for _ in range(2):
        assert runner.invoke(args=["demo", "--learners", "3"]).exit_code == 0
    assert db.scalar(select(func.count()).select_from(Cohort)) == 2
    assert db.scalar(select(func.count(func.distinct(Enrolment.user_id)))) == 6


def test_refuses_in_production(app: Flask, runner: Any, db: Any) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    app.config["ENV"] = "production"
    with app.app_context(), pytest.raises(DemoError):
        seed_cohort(db, 3)
    assert db.scalar(select(func.count()).select_from(Cohort)) == 0
