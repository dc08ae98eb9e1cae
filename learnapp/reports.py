"""Instructor reports: each one a fixed number of SQL statements, totals computed in SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from learnapp import itemstats
from learnapp.content import Lesson, Quiz
from learnapp.models import (
    Answer,
    Certificate,
    Cohort,
    Enrolment,
    Person,
    QuizAttempt,
    SectionRead,
    User,
)

FILTERS = {
    "": "Everyone",
    "not_started": "Not started",
    "stuck": "Stuck for 7 days",
    "critical": "Failed a critical question",
    "expiring": "Certificate expiring",
    "passed": "Passed",
}
SORTS = {
    "name": "Name",
    "activity": "Last activity",
    "score": "Best score",
    "read": "Sections read",
}
STUCK_AFTER = timedelta(days=7)
EXPIRING_WITHIN = timedelta(days=90)


@dataclass(frozen=True)
class Scope:
    """Which learners and which content a report covers."""

    learner_ids: Any  # a SELECT of user ids
    lesson: Lesson
    quiz: Quiz | None


def cohort_scope(cohort: Cohort, lesson: Lesson, quiz: Quiz | None) -> Scope:
    return Scope(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id), lesson, quiz)


def instructor_scope(instructor: Person, lesson: Lesson, quiz: Quiz | None) -> Scope:
    """Every learner in any of the instructor's cohorts for this lesson (admins: all cohorts)."""
    query = (
        select(Enrolment.user_id)
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(Cohort.lesson == lesson.slug)
    )
    if instructor.role != "admin":
        query = query.where(Cohort.instructor_id == instructor.id)
    return Scope(query.distinct(), lesson, quiz)


def _learner_table(scope: Scope, now: datetime) -> Any:
    """One row per learner in scope with their reading, attempts and current certificate."""
    lesson = scope.lesson
    slugs = [s.slug for s in lesson.sections]
    reads = (
        select(
            SectionRead.user_id,
            func.count().label("read_count"),
            func.max(SectionRead.read_at).label("last_read"),
            *[
                func.max(case((SectionRead.section == slug, 1), else_=0)).label(f"read_{i}")
                for i, slug in enumerate(slugs)
            ],
        )
        .where(
            SectionRead.lesson == lesson.slug,
            SectionRead.section.in_(slugs),
            SectionRead.user_id.in_(scope.learner_ids),
        )
        .group_by(SectionRead.user_id)
        .subquery()
    )
    quiz_id = scope.quiz.id if scope.quiz else ""
    tries = (
        select(
            QuizAttempt.user_id,
            func.count().label("attempts"),
            func.max(QuizAttempt.percent).label("best"),
            func.max(case((QuizAttempt.passed == true(), 1), else_=0)).label("passed"),
            func.max(case((QuizAttempt.critical_missed == true(), 1), else_=0)).label("critical"),
            func.max(func.coalesce(QuizAttempt.submitted_at, QuizAttempt.started_at)).label(
                "last_attempt"
            ),
        )
        .where(QuizAttempt.quiz_id == quiz_id, QuizAttempt.user_id.in_(scope.learner_ids))
        .group_by(QuizAttempt.user_id)
        .subquery()
    )
    ranked = (
        select(
            Certificate.user_id,
            Certificate.code,
            Certificate.issued_at,
            Certificate.valid_until,
            Certificate.revoked_at,
            func.row_number()
            .over(partition_by=Certificate.user_id, order_by=Certificate.issued_at.desc())
            .label("rank"),
        )
        .where(
            Certificate.lesson == lesson.slug,
            Certificate.superseded_at.is_(None),
            Certificate.user_id.in_(scope.learner_ids),
        )
        .subquery()
    )
    certs = select(ranked).where(ranked.c.rank == 1).subquery()
    last_activity = case(
        (reads.c.last_read.is_(None), tries.c.last_attempt),
        (tries.c.last_attempt.is_(None), reads.c.last_read),
        (reads.c.last_read > tries.c.last_attempt, reads.c.last_read),
        else_=tries.c.last_attempt,
    )
    certified = and_(
        certs.c.code.is_not(None), certs.c.revoked_at.is_(None), certs.c.valid_until > now
    )
    table = (
        select(
            User.id.label("user_id"),
            User.name,
            User.email,
            func.coalesce(reads.c.read_count, 0).label("read_count"),
            *[func.coalesce(reads.c[f"read_{i}"], 0).label(f"read_{i}") for i in range(len(slugs))],
            last_activity.label("last_activity"),
            func.coalesce(tries.c.attempts, 0).label("attempts"),
            tries.c.best,
            func.coalesce(tries.c.passed, 0).label("passed"),
            case(
                (and_(tries.c.critical == 1, func.coalesce(tries.c.passed, 0) == 0), 1), else_=0
            ).label("critical"),
            certs.c.code.label("certificate_code"),
            certs.c.issued_at.label("certificate_issued_at"),
            certs.c.valid_until.label("certificate_valid_until"),
            case((certs.c.revoked_at.is_not(None), 1), else_=0).label("certificate_revoked"),
            case((certified, 1), else_=0).label("certified"),
        )
        .where(User.id.in_(scope.learner_ids))
        .outerjoin(reads, reads.c.user_id == User.id)
        .outerjoin(tries, tries.c.user_id == User.id)
        .outerjoin(certs, certs.c.user_id == User.id)
    )
    return table.subquery("learners")


def _filtered(learners: Any, state: str, search: str, now: datetime) -> Select[Any]:
    query = select(learners)
    if state == "not_started":
        query = query.where(learners.c.read_count == 0, learners.c.attempts == 0)
    elif state == "stuck":
        query = query.where(
            learners.c.passed == 0,
            learners.c.last_activity.is_not(None),
            learners.c.last_activity < now - STUCK_AFTER,
        )
    elif state == "critical":
        query = query.where(learners.c.critical == 1)
    elif state == "expiring":
        query = query.where(
            learners.c.certified == 1, learners.c.certificate_valid_until <= now + EXPIRING_WITHIN
        )
    elif state == "passed":
        query = query.where(learners.c.passed == 1)
    if search:
        needle = search.lower()
        query = query.where(
            or_(
                func.lower(learners.c.name).contains(needle, autoescape=True),
                func.lower(learners.c.email).contains(needle, autoescape=True),
            )
        )
    return query


def _ordered(query: Select[Any], learners: Any, sort: str, descending: bool) -> Select[Any]:
    column = {
        "name": func.lower(learners.c.name),
        "activity": learners.c.last_activity,
        "score": learners.c.best,
        "read": learners.c.read_count,
    }.get(sort, func.lower(learners.c.name))
    key = column.desc() if descending else column.asc()
    # NULLs (never active, no score) last either way; the id makes pages stable.
    return query.order_by(column.is_(None), key, learners.c.user_id)


@dataclass(frozen=True)
class LearnerRow:
    user_id: int
    name: str
    email: str
    read_count: int
    read: tuple[bool, ...]  # by section, in lesson order
    last_activity: datetime | None
    attempts: int
    best: float | None
    passed: bool
    critical: bool
    certificate_code: str | None
    certificate_issued_at: datetime | None
    certificate_valid_until: datetime | None
    certificate_revoked: bool
    certified: bool


def _row(row: Any, sections: int) -> LearnerRow:
    return LearnerRow(
        user_id=row.user_id,
        name=row.name,
        email=row.email,
        read_count=row.read_count,
        read=tuple(bool(row[f"read_{i}"]) for i in range(sections)),
        last_activity=row.last_activity,
        attempts=row.attempts,
        best=row.best,
        passed=bool(row.passed),
        critical=bool(row.critical),
        certificate_code=row.certificate_code,
        certificate_issued_at=row.certificate_issued_at,
        certificate_valid_until=row.certificate_valid_until,
        certificate_revoked=bool(row.certificate_revoked),
        certified=bool(row.certified),
    )


@dataclass(frozen=True)
class Page:
    rows: list[LearnerRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def learners_page(
    session: Session,
    scope: Scope,
    now: datetime,
    *,
    state: str = "",
    search: str = "",
    sort: str = "name",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """One page of the dashboard table: one SQL statement whatever the cohort's size."""
    learners = _learner_table(scope, now)
    query = _filtered(learners, state, search, now).add_columns(func.count().over().label("total"))
    query = (
        _ordered(query, learners, sort, descending).limit(per_page).offset((page - 1) * per_page)
    )
    rows = session.execute(query).mappings().all()
    total = rows[0]["total"] if rows else 0
    if not rows and page > 1:
        total = session.scalar(
            select(func.count()).select_from(_filtered(learners, state, search, now).subquery())
        )
    sections = len(scope.lesson.sections)
    return Page([_row(r, sections) for r in rows], total, page, per_page)


def all_learners(session: Session, scope: Scope, now: datetime) -> list[LearnerRow]:
    """Every learner in scope, by name: for the CSV export."""
    learners = _learner_table(scope, now)
    rows = session.execute(_ordered(select(learners), learners, "name", False)).mappings().all()
    return [_row(r, len(scope.lesson.sections)) for r in rows]


@dataclass(frozen=True)
class Summary:
    enrolled: int
    started: int
    read_everything: int
    passed: int
    certified: int
    expiring: int


def summary(session: Session, scope: Scope, now: datetime) -> Summary:
    learners = _learner_table(scope, now)
    sections = len(scope.lesson.sections)

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(),
            total(or_(learners.c.read_count > 0, learners.c.attempts > 0)),
            total(learners.c.read_count >= sections),
            total(learners.c.passed == 1),
            total(learners.c.certified == 1),
            total(
                and_(
                    learners.c.certified == 1,
                    learners.c.certificate_valid_until <= now + EXPIRING_WITHIN,
                )
            ),
        ).select_from(learners)
    ).one()
    return Summary(*(int(v) for v in row))


def funnel(session: Session, scope: Scope) -> list[tuple[str, int]]:
    """How many learners in scope read each section, in lesson order."""
    counts = dict(
        session.execute(
            select(SectionRead.section, func.count())
            .where(
                SectionRead.lesson == scope.lesson.slug, SectionRead.user_id.in_(scope.learner_ids)
            )
            .group_by(SectionRead.section)
        ).all()
    )
    return [(s.title, counts.get(s.slug, 0)) for s in scope.lesson.sections]


def score_distribution(session: Session, scope: Scope) -> list[tuple[str, int]]:
    """Learners by best score, in bands of ten percent (100% joins the top band)."""
    if scope.quiz is None:
        return []
    best = (
        select(func.max(QuizAttempt.percent).label("best"))
        .where(
            QuizAttempt.quiz_id == scope.quiz.id,
            QuizAttempt.state == "closed",
            QuizAttempt.user_id.in_(scope.learner_ids),
        )
        .group_by(QuizAttempt.user_id)
        .subquery()
    )
    # Comparisons, not CAST: PostgreSQL rounds a cast to integer where SQLite truncates.
    band = case(*[(best.c.best >= 10 * b, b) for b in range(9, 0, -1)], else_=0)
    counts = dict(session.execute(select(band, func.count()).group_by(band)).all())
    return [(f"{10 * b}-{10 * b + 9 if b < 9 else 100}%", counts.get(b, 0)) for b in range(10)]


# --- A learner's timeline ----------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # read, attempt, certificate
    subject: Any


def timeline(session: Session, user_id: int, lesson: Lesson, quiz: Quiz | None) -> list[Event]:
    """Everything the learner did in this lesson, oldest first: three statements."""
    events = [
        Event(at, "read", lesson.section(slug))
        for slug, at in session.execute(
            select(SectionRead.section, SectionRead.read_at).where(
                SectionRead.user_id == user_id, SectionRead.lesson == lesson.slug
            )
        )
        if lesson.section(slug)
    ]
    if quiz is not None:
        events += [
            Event(a.submitted_at or a.started_at, "attempt", a)
            for a in session.scalars(
                select(QuizAttempt).where(
                    QuizAttempt.user_id == user_id, QuizAttempt.quiz_id == quiz.id
                )
            )
        ]
    events += [
        Event(c.created_at, "certificate", c)
        for c in session.scalars(
            select(Certificate).where(
                Certificate.user_id == user_id, Certificate.lesson == lesson.slug
            )
        )
    ]
    return sorted(events, key=lambda e: e.at)


# --- Item analysis -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemReport:
    question_id: str
    sums: itemstats.ItemSums
    facility: float | None
    discrimination: float | None
    wrong_choices: list[tuple[str, int]]  # option text, times chosen
    flags: list[str]


def _attempts_in_scope(scope: Scope, first_only: bool) -> Any:
    closed = (QuizAttempt.quiz_id == scope.quiz.id) & (QuizAttempt.state == "closed")
    in_scope = QuizAttempt.user_id.in_(scope.learner_ids)
    if not first_only:
        return select(QuizAttempt.id).where(closed, in_scope)
    return select(func.min(QuizAttempt.id)).where(closed, in_scope).group_by(QuizAttempt.user_id)


def item_analysis(
    session: Session, scope: Scope, limits: itemstats.Thresholds, first_only: bool = True
) -> list[ItemReport]:
    """Facility, discrimination and wrong-option counts per question: two statements."""
    if scope.quiz is None:
        return []
    attempt_ids = _attempts_in_scope(scope, first_only)
    rest = QuizAttempt.score - Answer.score
    sums = session.execute(
        select(
            Answer.question_id,
            func.count(),
            func.sum(Answer.points),
            func.sum(Answer.score),
            func.sum(rest),
            func.sum(Answer.score * Answer.score),
            func.sum(rest * rest),
            func.sum(Answer.score * rest),
        )
        .join(QuizAttempt, QuizAttempt.id == Answer.attempt_id)
        .where(Answer.attempt_id.in_(attempt_ids))
        .group_by(Answer.question_id)
    ).all()
    choice_counts = _wrong_choice_counts(session, scope.quiz, attempt_ids)
    reports = []
    for question_id, n, max_points, sx, sy, sxx, syy, sxy in sums:
        item = itemstats.ItemSums(
            n, float(max_points), float(sx), float(sy), float(sxx), float(syy), float(sxy)
        )
        reports.append(
            ItemReport(
                question_id=question_id,
                sums=item,
                facility=itemstats.facility(item),
                discrimination=itemstats.discrimination(item),
                wrong_choices=choice_counts.get(question_id, []),
                flags=itemstats.flags(item, limits),
            )
        )
    order = {q.id: i for i, q in enumerate(scope.quiz.questions)}
    return sorted(reports, key=lambda r: order.get(r.question_id, len(order)))


def _wrong_choice_counts(
    session: Session, quiz: Quiz, attempt_ids: Any
) -> dict[str, list[tuple[str, int]]]:
    """How often each wrong option of single and multiple-response questions was chosen."""
    choice_ids = [q.id for q in quiz.questions if q.type in ("single", "multiple")]
    counts: dict[str, Counter[str]] = {}
    rows = session.execute(
        select(Answer.question_id, Answer.response).where(
            Answer.attempt_id.in_(attempt_ids),
            Answer.question_id.in_(choice_ids),
            Answer.correct == false(),
        )
    )
    for question_id, response in rows:
        chosen = response if isinstance(response, list) else [response] if response else []
        counts.setdefault(question_id, Counter()).update(chosen)
    result = {}
    for question_id, counter in counts.items():
        question = quiz.question(question_id)
        keys = {question.answer} if question.type == "single" else set(question.answer)
        result[question_id] = [
            (o.text, counter.get(o.id, 0)) for o in question.options if o.id not in keys
        ]
    return result


def cohort_counts(session: Session, cohorts: Sequence[Cohort]) -> dict[int, int]:
    """Learners per cohort, for the cohort list."""
    ids = [c.id for c in cohorts]
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Enrolment.cohort_id, func.count())
            .where(Enrolment.cohort_id.in_(ids))
            .group_by(Enrolment.cohort_id)
        ).all()
    )
