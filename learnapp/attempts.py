"""Final-quiz services: eligibility, disclaimer, starting, submitting and ranking attempts.

They take a session and flush; the view's `writing()` block commits.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnapp import grading, learner_progress
from learnapp.content import Catalogue, ContentError, Lesson, Quiz, parse_quiz
from learnapp.db import insert_ignoring_duplicates, local_date, long_date, utcnow
from learnapp.models import Answer, DisclaimerAcknowledgement, QuizAttempt, QuizVersion
from learnapp.progress import sections_read


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


def refusal(state: QuizStatus, renewal_opens: datetime | None, time_zone: str) -> str | None:
    """Why `start` would refuse a new attempt now, in words that say what to do or from
    when; None when it would start one (or resume the one open). The one check: pages ask
    it before they offer a start or a retake.

    `renewal_opens`: for the holder of a valid certificate, when recertifying opens (told
    as a day in `time_zone`, the site's).
    """
    if state.open_attempt_id is not None:
        return None
    if state.sections_left:
        return f"Read every section first: {state.sections_left} left."
    if not state.acknowledged:
        return "Please confirm you have read the educational-use notice first."
    now = utcnow()
    if state.next_start is not None:
        return f"You can retake the quiz {opening(state.next_start, now, time_zone)}."
    if renewal_opens is not None and now < renewal_opens:
        return (
            "You already hold a valid certificate. You can retake the quiz to renew it from "
            f"{long_date(local_date(renewal_opens, time_zone))}."
        )
    return None


def opening(moment: datetime, now: datetime, time_zone: str) -> str:
    """When something opens, as a learner reads it in the site's time zone: "from 14:05",
    "tomorrow from 09:30", or "from 3 March 2026, 14:05"."""
    if moment.second or moment.microsecond:
        # Told to the minute, rounded up: a learner who comes back at 14:05 is let in.
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    zone = ZoneInfo(time_zone)
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return f"from {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow from {clock}"
    return f"from {long_date(local.date())}, {clock}"


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
    refused = refusal(state, renewal_opens, time_zone)
    if refused is not None:
        raise QuizClosed(refused)
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


def own_attempt(session: Session, attempt_id: int, user_id: int) -> tuple[QuizAttempt, str] | None:
    """The learner's attempt with the content version of the quiz it was drawn from, in one
    indexed statement; None when there is no such attempt or it is someone else's."""
    row = session.execute(
        select(QuizAttempt, QuizVersion.content_version)
        .join(QuizVersion, QuizVersion.id == QuizAttempt.quiz_version_id)
        .where(QuizAttempt.id == attempt_id, QuizAttempt.user_id == user_id)
    ).first()
    return None if row is None else (row[0], row[1])


def quiz_of(session: Session, attempt: QuizAttempt, catalogue: Catalogue, drawn_from: str) -> Quiz:
    """The quiz as it stood when the attempt was drawn (content version `drawn_from`), even
    if the files changed since."""
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
        if name == "csrf_token":
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


@dataclass(frozen=True)
class Blank:
    """A question a submission leaves blank, whole or in part."""

    number: int  # as the attempt page numbers it, from 1
    question: grading.Question
    parts: int  # the answers left blank (grading.parts_to_answer(question) when all are)

    @property
    def whole(self) -> bool:
        return self.parts == grading.parts_to_answer(self.question)


@dataclass(frozen=True)
class Unfinished:
    """What a submission leaves to ask the learner about before it is graded: questions left
    blank (graded only once confirmed), and ordering questions with a step chosen for two
    positions (never graded: the learner must choose again)."""

    blanks: tuple[Blank, ...]
    repeated: dict[str, dict[str, list[int]]]  # question id -> step id -> its positions

    @property
    def numbers(self) -> str:
        """The blank questions' numbers, as the confirmation sends them back: "2 7 9"."""
        return " ".join(str(blank.number) for blank in self.blanks)

    def confirmed_by(self, sent: Sequence[str]) -> bool:
        """Whether `sent` (the form's `confirmed` values) accepts every blank: the learner
        was shown each of them and chose to submit. Anything but numbers is no answer."""
        accepted = {
            int(word)
            for value in sent
            for word in value.split()
            if word.isascii() and word.isdigit() and len(word) <= 4
        }
        return {blank.number for blank in self.blanks} <= accepted


def unfinished(
    drawn: Sequence[Mapping[str, Any]], quiz: Quiz, responses: Mapping[str, Any]
) -> Unfinished:
    """The blanks and repeated steps of parsed responses to the questions `drawn` (pure)."""
    blanks, repeated = [], {}
    for number, entry in enumerate(drawn, start=1):
        question, response = quiz.question(entry["id"]), responses.get(entry["id"])
        if parts := grading.blank_parts(question, response):
            blanks.append(Blank(number, question, parts))
        if steps := grading.repeated_steps(question, response):
            repeated[question.id] = steps
    return Unfinished(tuple(blanks), repeated)


class GradedAttempt(NamedTuple):
    """An attempt graded and ready to close: what `submit` writes."""

    attempt_id: int
    user_id: int
    quiz: Quiz
    closing: dict[str, Any]  # the attempt's columns a close sets
    answers: list[dict[str, Any]]  # the Answer rows


def grade_attempt(attempt: QuizAttempt, quiz: Quiz, responses: Mapping[str, Any]) -> GradedAttempt:
    """Grade the responses to the attempt's questions (pure: done before the write begins)."""
    questions = [quiz.question(entry["id"]) for entry in attempt.drawn]
    grades = [grading.grade(q, responses.get(q.id)) for q in questions]
    result = grading.result_of(questions, grades, quiz.pass_mark)
    return GradedAttempt(
        attempt_id=attempt.id,
        user_id=attempt.user_id,
        quiz=quiz,
        closing={"state": "closed", "submitted_at": utcnow(), **result_columns(result)},
        answers=_answer_rows(attempt.id, questions, grades, responses),
    )


def submit(session: Session, graded: GradedAttempt) -> bool:
    """Close the graded attempt with its answers; False if it was already closed (a double
    submit), and then nothing is written.

    The close is conditional (`state = 'in_progress'`), so of two simultaneous submits
    exactly one wins, and only the winner writes answers and counts the attempt.
    """
    closed = session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == graded.attempt_id, QuizAttempt.state == "in_progress")
        .values(graded.closing)
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        return False
    session.execute(insert(Answer), graded.answers)
    closing, lesson = graded.closing, graded.quiz.lesson
    if learner_progress.counts_in_place(graded.quiz):
        learner_progress.add_closed_attempt(
            session,
            learner_progress.closed_attempt_parameters(
                graded.user_id,
                lesson,
                closing["percent"],
                closing["passed"],
                closing["critical_missed"],
                closing["submitted_at"],
            ),
        )
    else:
        learner_progress.refresh(session, graded.user_id, lesson)
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
