"""What the scenarios need, made in-process with the app's own models, services and keys:
session cookies (signed as a login would sign them), CSRF tokens, learners ready for the final
quiz (alone, or enrolled in classes of their own), and attempts opened in advance with full
answers to submit."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from learnapp import accounts, cohorts, grading, learner_progress
from learnapp.attempts import quiz_version
from learnapp.content import Lesson, Question, Quiz
from learnapp.db import utcnow, writing
from learnapp.models import (
    Certificate,
    Cohort,
    DisclaimerAcknowledgement,
    Enrolment,
    QuizAttempt,
    SectionRead,
    User,
)

LESSON = "spinal-muscle-spasm"
INSTRUCTOR_EMAIL = "instructor@example.com"
START_PATH = f"/quizzes/{LESSON}/final/attempts"
WRONG_SHARE = 0.2  # each question answered wrong with this chance: scores vary, as in class


@dataclass(frozen=True)
class Login:
    """A signed-in browser: its session cookie header and the CSRF token its forms carry."""

    user_id: int
    cookie: str
    csrf: str


def login(app: Flask, session: Session, user_id: int) -> Login:
    """The cookie flask-login would set at login, signed with the app's key, with a CSRF
    token in the session as Flask-WTF keeps it."""
    raw_csrf = secrets.token_hex(20)
    identity = session.get_one(User, user_id).get_id()
    data = {"_user_id": identity, "_fresh": True, "csrf_token": raw_csrf}
    signed = app.session_interface.get_signing_serializer(app).dumps(data)
    csrf = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw_csrf)
    return Login(user_id, f"{app.config['SESSION_COOKIE_NAME']}={signed}", csrf)


def answer_fields(question: Question, order: list[str], wrong: bool) -> list[tuple[str, str]]:
    """The form fields a browser sends to answer one question, right or wrong, when its parts
    are shown in `order`: values are 1-based display positions (as in tests/test_quizzes.py)."""
    name = f"q.{question.id}"

    def at(part_id: str) -> str:
        return str(order.index(part_id) + 1)

    if question.type == "single":
        other = next(o.id for o in question.options if o.id != question.answer)
        return [(name, at(other if wrong else question.answer))]
    if question.type == "multiple":
        return [(name, at(o.id)) for o in question.options if (o.id in question.answer) != wrong]
    if question.type == "true_false":
        return [(name, str(question.answer != wrong).lower())]
    parts = [p.id for p in (question.pairs or question.items)]
    shift = 1 if wrong else 0
    return [
        (f"{name}.{n}", at(parts[(n - 1 + shift) % len(parts)])) for n in range(1, len(parts) + 1)
    ]


def submit_fields(
    quiz: Quiz, drawn: list[dict[str, Any]], csrf: str, rng: random.Random
) -> list[tuple[str, str]]:
    """The attempt page's form as a browser posts it, for the questions `drawn` (as the
    attempt stores them): the CSRF token and the answers, by display position."""
    fields = [("csrf_token", csrf)]
    for entry in drawn:
        question = quiz.question(entry["id"])
        fields += answer_fields(question, entry["order"], rng.random() < WRONG_SHARE)
    return fields


def submit_body(quiz: Quiz, drawn: list[dict[str, Any]], csrf: str, rng: random.Random) -> str:
    return urlencode(submit_fields(quiz, drawn, csrf, rng))


@dataclass
class Fixtures:
    instructor: Login
    cohort_id: int
    cohort_size: int
    learner: Login  # a demo learner of the cohort, part-way or through the lesson
    learner_in_cohort: int  # for the instructor's learner page
    owner: Login  # holds the certificate below
    certificate_code: str
    section_slugs: list[str]
    small_cohort_id: int | None = None
    small_learner_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def find_fixtures(app: Flask, cohort_id: int | None = None) -> Fixtures:
    """The demo instructor, their largest cohort (or the one given), and a learner and a
    certificate in it."""
    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            instructor = session.scalar(select(User).where(User.email == INSTRUCTOR_EMAIL))
            if instructor is None:
                raise RuntimeError("the demo instructor is missing: `flask demo` did not run")
            sizes = (
                select(Enrolment.cohort_id, func.count().label("size"))
                .join(Cohort, Cohort.id == Enrolment.cohort_id)
                .where(cohorts.instructed_by(instructor.id))
                .group_by(Enrolment.cohort_id)
                .order_by(func.count().desc())
                .limit(1)
            )
            if cohort_id is not None:
                sizes = sizes.where(Enrolment.cohort_id == cohort_id)
            row = session.execute(sizes).first()
            if row is None:
                raise RuntimeError("the demo cohort is missing: `flask demo --learners N`")
            cohort_id, size = row
            members = select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id)
            certificate = session.scalar(
                select(Certificate)
                .where(
                    Certificate.user_id.in_(members),
                    Certificate.revoked_at.is_(None),
                    Certificate.superseded_at.is_(None),
                )
                .order_by(Certificate.id)
                .limit(1)
            )
            if certificate is None:
                raise RuntimeError("the demo cohort holds no certificate to download")
            # A learner part-way through: they have read something, and hold no certificate.
            reader = session.scalar(
                select(SectionRead.user_id)
                .where(
                    SectionRead.user_id.in_(members),
                    SectionRead.user_id.not_in(
                        select(Certificate.user_id).where(Certificate.user_id.is_not(None))
                    ),
                )
                .order_by(SectionRead.user_id)
                .limit(1)
            )
            lesson = app.extensions["learnapp.content"].lessons[LESSON]
            return Fixtures(
                instructor=login(app, session, instructor.id),
                cohort_id=cohort_id,
                cohort_size=size,
                learner=login(app, session, reader),
                learner_in_cohort=reader,
                owner=login(app, session, certificate.user_id),
                certificate_code=certificate.code,
                section_slugs=[s.slug for s in lesson.sections],
            )
        finally:
            session.close()


def ready_learners(
    app: Flask,
    count: int,
    label: str,
    open_attempts: bool = False,
    seed: int = 1,
    class_of: str | None = None,
) -> list[dict[str, Any]]:
    """Add `count` learners who have read every section and accepted the disclaimer, each
    with a login; with `open_attempts`, each also has a final-quiz attempt open, and the form
    body that submits it with answers (most right). With `class_of`, they are the learners of
    a new cohort of that name, created and joined through the app's cohort services
    (`cohorts.create`, `cohorts.join`), as a class arriving together is; otherwise of none.

    Accounts, reads and acknowledgements are bulk inserts in chunks, as `flask demo` loads
    them (a pool of thousands takes seconds), and their dashboard rows are made the way the
    demo makes them (`learner_progress.refresh_learners`)."""
    catalogue = app.extensions["learnapp.content"]
    lesson, quiz = catalogue.lessons[LESSON], catalogue.final_quiz(LESSON)
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            with writing(session):
                instructor = accounts.find_by_email(session, INSTRUCTOR_EMAIL)
                if instructor is None:
                    raise RuntimeError("the demo instructor is missing: `flask demo` did not run")
                password_hash = instructor.password_hash
                version_id = quiz_version(session, quiz, catalogue.version)
                cohort = None
                if class_of is not None:
                    cohort = cohorts.create(
                        session, instructor, class_of, utcnow().date(), lesson.slug, utcnow(), "UTC"
                    )
            now = utcnow()
            tag = secrets.token_hex(3)
            for first in range(0, count, 1000):
                numbers = range(first, min(first + 1000, count))
                with writing(session):
                    ids = _add_ready_learners(
                        session, lesson, numbers, f"{label}-{tag}", password_hash, now
                    )
                    if cohort is not None:
                        for user in session.scalars(select(User).where(User.id.in_(ids))):
                            cohorts.join(session, user, cohort)
                    entries = [{"user_id": i, "login": login(app, session, i)} for i in ids]
                    if cohort is not None:
                        for entry in entries:
                            entry["cohort_id"] = cohort.id
                    if open_attempts:
                        _open_attempts(session, quiz, version_id, entries, now, rng)
                    learner_progress.refresh_learners(session, lesson, quiz, ids)
                made += entries
        finally:
            session.close()
    return made


def _add_ready_learners(
    session: Session, lesson: Lesson, numbers: range, label: str, password_hash: str, now: datetime
) -> list[int]:
    """Accounts that have read the whole lesson and accepted its disclaimer; their ids."""
    ids = session.scalars(
        insert(User).returning(User.id, sort_by_parameter_order=True),
        [
            {
                "email": f"bench-{label}-{n:06d}@example.com",
                "name": f"Bench Learner {label} {n}",
                "password_hash": password_hash,
                "role": "learner",
                "session_version": 1,
                "is_enabled": True,
                "created_at": now,
            }
            for n in numbers
        ],
    ).all()
    session.execute(
        insert(SectionRead),
        [
            {"user_id": i, "lesson": lesson.slug, "section": s.slug, "read_at": now}
            for i in ids
            for s in lesson.sections
        ],
    )
    session.execute(
        insert(DisclaimerAcknowledgement),
        [
            {
                "user_id": i,
                "lesson": lesson.slug,
                "version": lesson.disclaimer_version,
                "acknowledged_at": now,
            }
            for i in ids
        ],
    )
    return list(ids)


def _open_attempts(
    session: Session,
    quiz: Quiz,
    version_id: int,
    entries: list[dict[str, Any]],
    now: datetime,
    rng: random.Random,
) -> None:
    """An open final-quiz attempt for each learner, and the form body that submits it."""
    drawn = [grading.draw_questions(quiz, rng) for _ in entries]
    attempt_ids = session.scalars(
        insert(QuizAttempt).returning(QuizAttempt.id, sort_by_parameter_order=True),
        [
            {
                "user_id": entry["user_id"],
                "quiz_id": quiz.id,
                "quiz_version_id": version_id,
                "state": "in_progress",
                "drawn": d,
                "started_at": now,
            }
            for entry, d in zip(entries, drawn, strict=True)
        ],
    ).all()
    for entry, attempt_id, d in zip(entries, attempt_ids, drawn, strict=True):
        entry["attempt_id"] = attempt_id
        entry["questions"] = len(d)
        entry["body"] = submit_body(quiz, d, entry["login"].csrf, rng)


def classes(app: Flask, count: int, size: int, label: str = "class") -> list[dict[str, Any]]:
    """`count` cohorts ("Class 1 of 20", ...) of `size` learners each, ready for the final
    quiz and enrolled in their cohort: [{"cohort_id", "name", "learners"}]."""
    made = []
    for number in range(count):
        name = f"Class {number + 1} of {count}"
        learners = ready_learners(app, size, f"{label}{number}", seed=100 + number, class_of=name)
        made.append({"cohort_id": learners[0]["cohort_id"], "name": name, "learners": learners})
    return made
