"""Final-quiz services: eligibility, disclaimer, starting, submitting and ranking attempts.

They take a session and flush; the view commits once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import (
    JSON,
    Select,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnapp import grading, learner_progress
from learnapp.content import Catalogue, ContentError, Lesson, Quiz, parse_quiz
from learnapp.db import (
    DirectQuery,
    insert_ignoring_duplicates,
    local_date,
    long_date,
    utcnow,
)
from learnapp.models import Answer, DisclaimerAcknowledgement, QuizAttempt, QuizVersion, User
from learnapp.progress import sections_read
from learnapp.security import signed_in_select


class QuizClosed(Exception):
    """The learner may not start an attempt now; the message says why and what to do."""


@dataclass(frozen=True)
class RetakePolicy:
    cooldown: timedelta = timedelta(0)
    per_day: int | None = None  # a daily cap can only delay a learner, never stop them


@dataclass(frozen=True)
class QuizStatus:
    sections_left: int
    acknowledged: bool
    open_attempt_id: int | None
    next_start: datetime | None  # when a cooldown or daily cap lets the learner retake

    @property
    def ready(self) -> bool:
        return self.sections_left == 0 and self.acknowledged


def acknowledged(session: Session, user_id: int, lesson: Lesson) -> bool:
    return (
        session.scalar(
            select(DisclaimerAcknowledgement.id).where(
                DisclaimerAcknowledgement.user_id == user_id,
                DisclaimerAcknowledgement.lesson == lesson.slug,
                DisclaimerAcknowledgement.version == lesson.disclaimer_version,
            )
        )
        is not None
    )


def acknowledge(session: Session, user_id: int, lesson: Lesson) -> None:
    """Record that the learner accepted this version of the educational-use disclaimer."""
    insert_ignoring_duplicates(
        session,
        DisclaimerAcknowledgement,
        user_id=user_id,
        lesson=lesson.slug,
        version=lesson.disclaimer_version,
        acknowledged_at=utcnow(),
    )


def status(
    session: Session, user_id: int, lesson: Lesson, quiz: Quiz, policy: RetakePolicy
) -> QuizStatus:
    read = sections_read(session, user_id, lesson)
    open_id = session.scalar(
        select(QuizAttempt.id).where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.quiz_id == quiz.id,
            QuizAttempt.state == "in_progress",
        )
    )
    return QuizStatus(
        sections_left=len(lesson.sections) - len(read),
        acknowledged=acknowledged(session, user_id, lesson),
        open_attempt_id=open_id,
        next_start=_next_start(session, user_id, quiz, policy),
    )


def _next_start(
    session: Session, user_id: int, quiz: Quiz, policy: RetakePolicy
) -> datetime | None:
    """When the retake policy next lets the learner start, or None when they may now."""
    if not policy.cooldown and policy.per_day is None:
        return None
    now = utcnow()
    recent = session.execute(
        select(QuizAttempt.started_at, QuizAttempt.submitted_at)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.quiz_id == quiz.id,
            QuizAttempt.started_at >= now - timedelta(days=1),
        )
        .order_by(QuizAttempt.started_at.desc())
    ).all()
    waits = []
    last_submitted = next((row.submitted_at for row in recent if row.submitted_at), None)
    if last_submitted and policy.cooldown:
        waits.append(last_submitted + policy.cooldown)
    if policy.per_day is not None and len(recent) >= policy.per_day:
        waits.append(recent[policy.per_day - 1].started_at + timedelta(days=1))
    latest = max(waits, default=None)
    return latest if latest and latest > now else None


def quiz_version(session: Session, quiz: Quiz, content_version: str) -> int:
    """The stored copy of this quiz at this content version, saved on first use."""
    insert_ignoring_duplicates(
        session,
        QuizVersion,
        quiz_id=quiz.id,
        content_version=content_version,
        document=quiz.document,
    )
    return session.scalar(
        select(QuizVersion.id).where(
            QuizVersion.quiz_id == quiz.id, QuizVersion.content_version == content_version
        )
    )


def start(
    session: Session,
    user_id: int,
    lesson: Lesson,
    quiz: Quiz,
    catalogue: Catalogue,
    policy: RetakePolicy,
    rng: random.Random | None = None,
    renewal_opens: datetime | None = None,
    time_zone: str = "UTC",
) -> QuizAttempt:
    """Open an attempt with its questions drawn, or return the one already open.

    `renewal_opens`: for the holder of a valid certificate, when recertifying opens (told
    as a day in `time_zone`, the site's).
    """
    state = status(session, user_id, lesson, quiz, policy)
    if state.open_attempt_id is not None:
        return session.get_one(QuizAttempt, state.open_attempt_id)
    if state.sections_left:
        raise QuizClosed(f"Read every section first: {state.sections_left} left.")
    if not state.acknowledged:
        raise QuizClosed("Please confirm you have read the educational-use notice first.")
    if state.next_start is not None:
        raise QuizClosed("You can retake the quiz a little later.")
    if renewal_opens is not None and utcnow() < renewal_opens:
        raise QuizClosed(
            "You already hold a valid certificate. You can retake the quiz to renew it from "
            f"{long_date(local_date(renewal_opens, time_zone))}."
        )
    attempt = QuizAttempt(
        user_id=user_id,
        quiz_id=quiz.id,
        quiz_version_id=quiz_version(session, quiz, catalogue.version),
        drawn=grading.draw_questions(quiz, rng or random.SystemRandom()),
        state="in_progress",
        started_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(attempt)
    except IntegrityError:
        # A simultaneous start (a second device, a double click) opened one first: resume it.
        open_id = status(session, user_id, lesson, quiz, policy).open_attempt_id
        if open_id is None:
            raise
        return session.get_one(QuizAttempt, open_id)
    learner_progress.refresh(session, user_id, lesson.slug)
    return attempt


# The version alone first: the stored document is large, and is needed only when the
# content has changed since the attempt was drawn. Built once: every submit runs it.
_CONTENT_VERSION = select(QuizVersion.__table__.c.content_version).where(
    QuizVersion.__table__.c.id == bindparam("id")
)


def content_version_of(session: Session, attempt: QuizAttempt) -> str:
    """The content version of the quiz the attempt was drawn from."""
    return session.scalar(_CONTENT_VERSION, {"id": attempt.quiz_version_id})


def quiz_of(
    session: Session,
    attempt: QuizAttempt | SubmittedAttempt,
    catalogue: Catalogue,
    drawn_from: str | None = None,
) -> Quiz:
    """The quiz as it stood when the attempt was drawn, even if the files changed since.
    `drawn_from`: the content version of the attempt's quiz, when the caller read it."""
    if drawn_from is None:
        drawn_from = content_version_of(session, attempt)
    current = catalogue.quizzes.get(attempt.quiz_id)
    if current is not None and drawn_from == catalogue.version:
        return current
    version = session.get_one(QuizVersion, attempt.quiz_version_id)
    quiz, problems = parse_quiz(
        version.document,
        f"stored quiz {version.quiz_id}@{version.content_version}",
        catalogue.lessons,
    )
    if quiz is None:
        raise ContentError(problems)
    return quiz


class SubmittedAttempt(NamedTuple):
    """What a submit needs of the attempt it closes, read with the signed-in user."""

    id: int
    user_id: int
    quiz_id: str
    quiz_version_id: int
    state: str
    drawn: list[dict[str, Any]]
    content_version: str  # of the quiz it was drawn from


# The submit's one read (security.load_user_with): the signed-in user, and the attempt if it
# is theirs (a row of None otherwise), with the content version it was drawn from.
_attempts_c, _versions_c = QuizAttempt.__table__.c, QuizVersion.__table__.c
SIGNED_IN_WITH_ATTEMPT = DirectQuery(
    signed_in_select(
        _attempts_c.id,
        _attempts_c.user_id,
        _attempts_c.quiz_id,
        _attempts_c.quiz_version_id,
        _attempts_c.state,
        _attempts_c.drawn,
        _versions_c.content_version,
    )
    .outerjoin(
        QuizAttempt.__table__,
        and_(_attempts_c.id == bindparam("attempt_id"), _attempts_c.user_id == bindparam("id")),
    )
    .outerjoin(QuizVersion.__table__, _versions_c.id == _attempts_c.quiz_version_id)
)


def submitted_attempt(rows: list[tuple[Any, ...]]) -> SubmittedAttempt | None:
    """The signed-in learner's attempt from SIGNED_IN_WITH_ATTEMPT's rows; None if it is not
    theirs or does not exist."""
    attempt = SubmittedAttempt(*rows[0])
    return attempt if attempt.id is not None else None


# The attempt page signs into its form what a submit needs of the attempt, so that the
# submit, the busiest write, need not read it first: on PostgreSQL that is a round trip of
# two. A signature proves only what the attempt was when the page was drawn; the close still
# checks that it is open and that its owner is signed in (`submit`).
SIGNED_ATTEMPT_FIELD = "attempt"


@lru_cache(maxsize=4)
def _attempt_signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="learnapp.attempt-to-submit")


def sign_attempt(
    secret_key: str, attempt: QuizAttempt | SubmittedAttempt, content_version: str
) -> str:
    """The attempt page's SIGNED_ATTEMPT_FIELD: the attempt as `signed_attempt` returns it."""
    return _attempt_signer(secret_key).dumps(
        [
            attempt.id,
            attempt.user_id,
            attempt.quiz_id,
            attempt.quiz_version_id,
            attempt.drawn,
            content_version,
        ]
    )


def signed_attempt(
    secret_key: str, signed: str, attempt_id: int, user_id: int
) -> SubmittedAttempt | None:
    """The attempt `sign_attempt` signed, if the signature holds and it is attempt
    `attempt_id` of user `user_id`; None otherwise (a missing or altered field, another
    attempt's, a key changed since), and the submit reads the attempt instead. Its state is
    "in_progress", as it was when signed."""
    try:
        id_, owner, quiz_id, version_id, drawn, content_version = _attempt_signer(secret_key).loads(
            signed
        )
    except (BadSignature, TypeError, ValueError):
        return None
    if id_ != attempt_id or owner != user_id:
        return None
    return SubmittedAttempt(id_, owner, quiz_id, version_id, "in_progress", drawn, content_version)


def drawn_questions(attempt: QuizAttempt, quiz: Quiz) -> list[tuple[grading.Question, list[str]]]:
    """The attempt's questions in display order, each with its stored part order."""
    return [(quiz.question(entry["id"]), entry["order"]) for entry in attempt.drawn]


def parse_form(
    drawn: Sequence[Mapping[str, Any]], quiz: Quiz, form: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Responses by question id from a submitted form, for the questions `drawn` (as an
    attempt stores them); InvalidResponse for any field that is not one of theirs."""
    orders = {entry["id"]: entry["order"] for entry in drawn}
    fields: dict[str, dict[str, list[str]]] = {qid: {} for qid in orders}
    for name, values in form.items():
        if name in ("csrf_token", SIGNED_ATTEMPT_FIELD):
            continue
        prefix, _, rest = name.partition(".")
        qid, _, part = rest.partition(".")
        if prefix != "q" or qid not in orders:
            raise grading.InvalidResponse(
                "The form named a question that is not part of this quiz."
            )
        fields[qid][part] = list(values)
    responses = {}
    for qid, order in orders.items():
        question = quiz.question(qid)
        responses[qid] = grading.parse_response(
            question, grading.form_values(question, order, fields[qid])
        )
    return responses


# Built once on table columns: the submit is the busiest write. The close sets the columns
# given at execution, and only while the attempt is still open and its owner signed in with
# the session version given (an account disabled or signed out everywhere closes nothing):
# a submit from a signed form has not read the user.
_attempts, _answers, _users = QuizAttempt.__table__, Answer.__table__, User.__table__
_ANSWERED = ("question_id", "section", "position", "response", "score", "points", "correct")
# The attempt's columns a submit sets.
_CLOSED = (
    "state",
    "submitted_at",
    "score",
    "points",
    "percent",
    "passed",
    "critical_missed",
    "by_section",
)
_CLOSE_OPEN_ATTEMPT = (
    _attempts.update()
    .where(
        _attempts.c.id == bindparam("attempt_id"),
        _attempts.c.state == "in_progress",
        _attempts.c.user_id == bindparam("owner_id"),
        exists().where(
            _users.c.id == bindparam("owner_id"),
            _users.c.is_enabled.is_(True),
            _users.c.session_version == bindparam("owner_session_version"),
        ),
    )
    .values({name: bindparam(f"closed_{name}", type_=_attempts.c[name].type) for name in _CLOSED})
)
_CLOSE = DirectQuery(_CLOSE_OPEN_ATTEMPT)
_INSERT_ANSWERS = DirectQuery(_answers.insert(), column_keys=("attempt_id", *_ANSWERED))


def _submit_as_one_statement() -> Select[Any]:
    """PostgreSQL: the whole submit in one statement, so one round trip: close the attempt
    if still open, insert its answers (a JSON array of rows), count it in the learner's
    progress row and raise their cohorts' versions. Returns how many attempts it closed and
    how many progress rows it counted them in (0 or 1 each)."""
    closed = _CLOSE_OPEN_ATTEMPT.returning(_attempts.c.id, _attempts.c.user_id).cte("closed")
    given = (
        func.json_to_recordset(bindparam("answers", type_=JSON()))
        .table_valued(*(column(name, _answers.c[name].type) for name in _ANSWERED))
        .render_derived(name="given", with_types=True)
    )
    answered = (
        insert(_answers)
        .from_select(
            ["attempt_id", *_ANSWERED],
            select(
                closed.c.id,
                *(
                    # A JSON null comes out of json_to_recordset as NULL; store it as JSON
                    # null, as SQLAlchemy's JSON type does on the other path.
                    func.coalesce(given.c[name], cast(literal("null"), JSON()))
                    if name == "response"
                    else given.c[name]
                    for name in _ANSWERED
                ),
            ).join_from(closed, given, true()),
        )
        .cte("answered")
    )
    counted, touched = learner_progress.counting_closed_attempt(closed)
    return select(
        select(func.count()).select_from(closed).scalar_subquery().label("closed"),
        select(func.count()).select_from(counted).scalar_subquery().label("counted"),
    ).add_cte(answered, touched)


_SUBMIT_AS_ONE_STATEMENT = DirectQuery(_submit_as_one_statement())


def submit(
    session: Session,
    attempt: QuizAttempt | SubmittedAttempt,
    quiz: Quiz,
    responses: Mapping[str, Any],
    session_version: int,
    autocommit: Connection | None = None,
) -> bool:
    """Grade and close the attempt; False if it was already closed (a double submit), or
    if its owner is no longer signed in with `session_version` (see `SignedIn`), or disabled.

    The close is conditional (`state = 'in_progress'`), so of two simultaneous submits
    exactly one wins, and only the winner writes answers and counts the attempt.

    On PostgreSQL the submit is one statement. Given `autocommit` (a connection outside any
    transaction: the request's `db.autocommit()`) and a session with no transaction open,
    it runs there as a transaction of its own, with no BEGIN and COMMIT round trips;
    otherwise in the session's transaction, which the caller commits.
    """
    questions = [quiz.question(entry["id"]) for entry in attempt.drawn]
    grades = [grading.grade(q, responses.get(q.id)) for q in questions]
    result = grading.result_of(questions, grades, quiz.pass_mark)
    closing = {"state": "closed", "submitted_at": utcnow(), **result_columns(result)}
    answers = _answer_rows(attempt.id, questions, grades, responses)
    counting = learner_progress.closed_attempt_parameters(
        attempt.user_id,
        quiz.lesson,
        closing["percent"],
        closing["passed"],
        closing["critical_missed"],
        closing["submitted_at"],
    )
    in_place = learner_progress.counts_in_place(quiz)
    closing_parameters = {
        "attempt_id": attempt.id,
        "owner_id": attempt.user_id,
        "owner_session_version": session_version,
        **{f"closed_{name}": value for name, value in closing.items()},
    }
    if in_place and session.get_bind().dialect.name == "postgresql":
        on_its_own = autocommit is not None and not session.in_transaction()
        closed, counted = _SUBMIT_AS_ONE_STATEMENT.all(
            autocommit if on_its_own else session.connection(),
            **closing_parameters,
            answers=answers,  # json_to_recordset takes the columns it names (not attempt_id)
            **counting,
        )[0]
        if closed and not counted:  # no row yet (a bulk-loaded attempt): compute it whole
            learner_progress.refresh(session, attempt.user_id, quiz.lesson)
        return bool(closed)
    # Direct statements on the session's connection, in its transaction: SQLAlchemy's
    # execution path adds nothing here but cost, and the submit holds the write lock.
    connection = session.connection()
    if _CLOSE.run(connection, **closing_parameters) != 1:
        return False
    _INSERT_ANSWERS.run_many(connection, answers)  # one executemany, not a unit-of-work flush
    if in_place:
        learner_progress.add_closed_attempt(session, counting)
    else:
        learner_progress.refresh(session, attempt.user_id, quiz.lesson)
    return True


def result_columns(result: grading.Result) -> dict[str, Any]:
    """A graded result as a closed attempt stores it."""
    return {
        "score": float(result.score),
        "points": result.points,
        "percent": round(result.percent, 2),
        "passed": result.passed,
        "critical_missed": bool(result.critical_missed),
        "by_section": {
            slug: [float(score), points] for slug, (score, points) in result.by_section.items()
        },
    }


def _answer_rows(
    attempt_id: int,
    questions: Sequence[grading.Question],
    grades: Sequence[grading.Grade],
    responses: Mapping[str, Any],
) -> list[dict[str, Any]]:
    return [
        {
            "attempt_id": attempt_id,
            "question_id": q.id,
            "section": q.section,
            "position": position,
            "response": responses.get(q.id),
            "score": float(g.score),
            "points": g.points,
            "correct": g.correct,
        }
        for position, (q, g) in enumerate(zip(questions, grades, strict=True), start=1)
    ]


def attempts_of(session: Session, user_id: int, quiz_id: str) -> list[QuizAttempt]:
    return list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.user_id == user_id, QuizAttempt.quiz_id == quiz_id)
            .order_by(QuizAttempt.started_at.desc())
        )
    )


def best_attempt(attempts: Sequence[QuizAttempt]) -> QuizAttempt | None:
    """The learner's grade: the best passing attempt, else the best score. A pass always
    outranks a higher score that missed a critical question."""
    closed = [a for a in attempts if a.state == "closed"]
    return max(closed, key=lambda a: (a.passed, a.percent, a.submitted_at), default=None)


def answers_of(session: Session, attempt_id: int) -> dict[str, Answer]:
    return {
        a.question_id: a
        for a in session.scalars(select(Answer).where(Answer.attempt_id == attempt_id))
    }
