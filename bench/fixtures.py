"""What the scenarios need, made in-process with the app's own models and keys: session
cookies (signed as a login would sign them), CSRF tokens, learners ready for the final quiz,
attempts opened in advance with full answers to submit (and the signed attempt their page's
form carries)."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, insert, select

from learnapp import cohorts, grading, learner_progress
from learnapp.attempts import SIGNED_ATTEMPT_FIELD, quiz_version, sign_attempt
from learnapp.content import Question, Quiz
from learnapp.db import begin_write, utcnow
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


def login(app: Flask, user_id: int, session_version: int = 1) -> Login:
    """The cookie flask-login would set at login, signed with the app's key, with a CSRF
    token in the session as Flask-WTF keeps it."""
    raw_csrf = secrets.token_hex(20)
    data = {"_user_id": f"{user_id}:{session_version}", "_fresh": True, "csrf_token": raw_csrf}
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


def submit_body(
    quiz: Quiz, drawn: list[dict[str, Any]], csrf: str, signed: str, rng: random.Random
) -> str:
    """The attempt page's form, as a browser posts it: `signed` is its signed attempt."""
    fields = [("csrf_token", csrf), (SIGNED_ATTEMPT_FIELD, signed)]
    for entry in drawn:
        question = quiz.question(entry["id"])
        fields += answer_fields(question, entry["order"], rng.random() < WRONG_SHARE)
    return urlencode(fields)


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
                .where(Cohort.instructor_id == instructor.id)
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
                instructor=login(app, instructor.id, instructor.session_version),
                cohort_id=cohort_id,
                cohort_size=size,
                learner=login(app, reader),
                learner_in_cohort=reader,
                owner=login(app, certificate.user_id),
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
    a new cohort of that name, as a class arriving together is; otherwise of none.

    Bulk inserts, in chunks: a pool of thousands takes seconds."""
    catalogue = app.extensions["learnapp.content"]
    lesson, quiz = catalogue.lessons[LESSON], catalogue.final_quiz(LESSON)
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            begin_write(session)
            password_hash = session.scalar(
                select(User.password_hash).where(User.email == INSTRUCTOR_EMAIL)
            )
            version_id = quiz_version(session, quiz, catalogue.version)
            cohort_id = None
            if class_of is not None:
                instructor = session.scalar(select(User).where(User.email == INSTRUCTOR_EMAIL))
                cohort_id = cohorts.create(
                    session, instructor, class_of, utcnow().date(), lesson.slug
                ).id
            session.commit()
            now = utcnow()
            tag = secrets.token_hex(3)
            for first in range(0, count, 1000):
                numbers = range(first, min(first + 1000, count))
                begin_write(session)
                ids = session.scalars(
                    insert(User).returning(User.id, sort_by_parameter_order=True),
                    [
                        {
                            "email": f"bench-{label}-{tag}-{n:06d}@example.com",
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
                if cohort_id is not None:
                    session.execute(
                        insert(Enrolment),
                        [{"cohort_id": cohort_id, "user_id": i, "joined_at": now} for i in ids],
                    )
                entries = [{"user_id": i, "login": login(app, i)} for i in ids]
                if open_attempts:
                    drawn = [grading.draw_questions(quiz, rng) for _ in ids]
                    attempt_ids = session.scalars(
                        insert(QuizAttempt).returning(QuizAttempt.id, sort_by_parameter_order=True),
                        [
                            {
                                "user_id": i,
                                "quiz_id": quiz.id,
                                "quiz_version_id": version_id,
                                "state": "in_progress",
                                "drawn": d,
                                "started_at": now,
                            }
                            for i, d in zip(ids, drawn, strict=True)
                        ],
                    ).all()
                    for entry, attempt_id, d in zip(entries, attempt_ids, drawn, strict=True):
                        entry["attempt_id"] = attempt_id
                        entry["questions"] = len(d)
                        signed = sign_attempt(
                            app.secret_key,
                            QuizAttempt(
                                id=attempt_id,
                                user_id=entry["user_id"],
                                quiz_id=quiz.id,
                                quiz_version_id=version_id,
                                drawn=d,
                            ),
                            catalogue.version,
                        )
                        entry["body"] = submit_body(quiz, d, entry["login"].csrf, signed, rng)
                # Their dashboard rows, as the app keeps them (bulk loads refresh in bulk).
                learner_progress.refresh_learners(session, lesson, quiz, ids)
                session.commit()
                made += entries
        finally:
            session.close()
    return made
