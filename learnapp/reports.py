"""Instructor reports: each one a fixed number of SQL statements, totals computed in SQL.

The cohort dashboard reads learner_progress, a row per learner kept by learner_progress.py;
a learner's timeline and the item analysis read the raw tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, String, and_, bindparam, case, cast, false, func, or_, select, true
from sqlalchemy.orm import Session

from learnapp import itemstats
from learnapp.caching import COHORT_OVERVIEW, remembered
from learnapp.cohorts import instructed_by
from learnapp.content import Lesson, Question, Quiz, parse_quiz
from learnapp.db import UTCDateTime
from learnapp.models import (
    Answer,
    Certificate,
    CertificateEvent,
    Cohort,
    CompletionRecord,
    Enrolment,
    LearnerProgress,
    Person,
    QuizAttempt,
    QuizVersion,
    SectionRead,
    User,
)
from learnapp.progress import read_in_a_hurry

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
    # Names the learners and the content, so that statements built for them can be reused.
    key: Hashable | None = None


def cohort_scope(cohort: Cohort, lesson: Lesson, quiz: Quiz | None) -> Scope:
    members = select(Enrolment.user_id).where(Enrolment.cohort_id == cohort.id)
    return Scope(members, lesson, quiz, ("cohort", cohort.id, lesson.slug))


def instructor_scope(instructor: Person, lesson: Lesson, quiz: Quiz | None) -> Scope:
    """Every learner in any cohort for this lesson the instructor is an instructor of
    (admins: all cohorts)."""
    query = (
        select(Enrolment.user_id)
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(Cohort.lesson == lesson.slug)
    )
    if instructor.role != "admin":
        query = query.where(instructed_by(instructor.id))
    return Scope(query.distinct(), lesson, quiz)


# The dashboard's queries are built on every view, so in Core (tables, not ORM classes),
# which costs a fraction to build, and the moments they compare with are parameters, so that
# a page's statement can be built once and reused (_page_statement).
PROGRESS = LearnerProgress.__table__
_PROGRESS_TOO = PROGRESS.alias("progress")  # for a subquery that reads the table again
USERS = User.__table__
NOW = bindparam("now", type_=UTCDateTime())
STUCK_BEFORE = bindparam("stuck_before", type_=UTCDateTime())
EXPIRING_BY = bindparam("expiring_by", type_=UTCDateTime())


def _moments(now: datetime) -> dict[str, datetime]:
    """The values of NOW, STUCK_BEFORE and EXPIRING_BY."""
    return {"now": now, "stuck_before": now - STUCK_AFTER, "expiring_by": now + EXPIRING_WITHIN}


def _progress_of(scope: Scope, progress: Any = PROGRESS) -> tuple[Any, Any]:
    """The scope's learners as a FROM clause, and how their learner_progress rows join it.

    An outer join: a learner who has done nothing has no row, and its columns read NULL,
    which every condition below treats as nothing done.
    """
    members = scope.learner_ids.subquery("members")
    joined = and_(progress.c.user_id == members.c.user_id, progress.c.lesson == scope.lesson.slug)
    return members, joined


def _certified(progress: Any = PROGRESS) -> Any:
    return and_(progress.c.certificate_revoked == false(), progress.c.certificate_valid_until > NOW)


def _state_condition(state: str, progress: Any = PROGRESS) -> Any | None:
    c = progress.c
    if state == "not_started":
        return or_(c.user_id.is_(None), and_(c.read_count == 0, c.attempts == 0))
    if state == "stuck":
        return and_(c.passed == false(), c.last_activity < STUCK_BEFORE)
    if state == "critical":
        return c.critical == true()
    if state == "expiring":
        return and_(_certified(progress), c.certificate_valid_until <= EXPIRING_BY)
    if state == "passed":
        return c.passed == true()
    return None


def _matching(state: str, search: str, progress: Any = PROGRESS) -> list[Any]:
    """The conditions of the table's filter and search (none: everyone)."""
    conditions = [_state_condition(state, progress)]
    if search:
        needle = search.lower()
        conditions.append(
            or_(
                func.lower(USERS.c.name).contains(needle, autoescape=True),
                func.lower(USERS.c.email).contains(needle, autoescape=True),
            )
        )
    return [c for c in conditions if c is not None]


@dataclass(frozen=True)
class Summary:
    enrolled: int
    started: int
    read_everything: int
    passed: int
    certified: int
    expiring: int


@dataclass(frozen=True)
class Overview:
    summary: Summary
    funnel: list[tuple[str, int]]  # learners who read each section, in lesson order
    distribution: list[tuple[str, int]]  # learners by best score, in bands of ten percent
    totals: dict[str, int]  # learners each filter (a key of FILTERS) matches
    accounts: int  # about how many accounts exist (the highest id): plans the page query
    # The first moment a count changes by the passing of time alone (a certificate expires
    # or falls due, a learner becomes stuck); None if none will.
    until: datetime | None


def overview(session: Session, scope: Scope, now: datetime) -> Overview:
    """Everything the dashboard counts, in one statement over the learners' progress rows."""
    progress = PROGRESS.c
    members, joined = _progress_of(scope)
    sections = scope.lesson.sections
    counted = ("stuck", "critical", "expiring", "passed")
    unrevoked = progress.certificate_revoked == false()
    columns = [
        func.count(),
        func.count().filter(or_(progress.read_count > 0, progress.attempts > 0)),
        func.count().filter(progress.read_count >= len(sections)),
        func.count().filter(_certified()),
        *[func.count().filter(_state_condition(state)) for state in counted],
        *[
            func.count().filter(progress.read_mask.bitwise_and(1 << i) != 0)
            for i in range(len(sections))
        ],
        # Learners whose best is at least 0, 10, ... 90 percent: the bands are differences.
        func.count(progress.best),
        *[func.count().filter(progress.best >= 10 * band) for band in range(1, 10)],
        select(func.max(USERS.c.id)).scalar_subquery(),
        # When the clock next changes a count: the next certificate to expire, the next to
        # fall due, and the next learner to become stuck.
        func.min(progress.certificate_valid_until).filter(
            unrevoked, progress.certificate_valid_until > NOW
        ),
        func.min(progress.certificate_valid_until).filter(
            unrevoked, progress.certificate_valid_until > EXPIRING_BY
        ),
        func.min(progress.last_activity).filter(
            progress.passed == false(), progress.last_activity >= STUCK_BEFORE
        ),
    ]
    query = select(*columns).select_from(members).outerjoin(PROGRESS, joined)
    *numbers, expires, falls_due, last_active = session.execute(query, _moments(now)).one()
    values = [int(n or 0) for n in numbers]
    enrolled, started, read_everything, certified = values[:4]
    totals = {"": enrolled, "not_started": enrolled - started}
    totals.update(zip(counted, values[4:8], strict=True))
    readers, at_least = values[8 : 8 + len(sections)], [*values[8 + len(sections) : -1], 0]
    bands = [
        (f"{10 * b}-{10 * b + 9 if b < 9 else 100}%", at_least[b] - at_least[b + 1])
        for b in range(10)
    ]
    changes = [
        expires,
        falls_due and falls_due - EXPIRING_WITHIN,
        last_active and last_active + STUCK_AFTER,
    ]
    return Overview(
        summary=Summary(
            enrolled=enrolled,
            started=started,
            read_everything=read_everything,
            passed=totals["passed"],
            certified=certified,
            expiring=totals["expiring"],
        ),
        funnel=[(s.title, n) for s, n in zip(sections, readers, strict=True)],
        distribution=bands if scope.quiz is not None else [],
        totals=totals,
        accounts=values[-1],
        until=min((moment for moment in changes if moment is not None), default=None),
    )


def cohort_overview(
    session: Session, cohort: Cohort, scope: Scope, now: datetime, content_version: str
) -> Overview:
    """The cohort's overview, kept while its progress_version and the content are the ones
    it was counted at, and the clock has not reached the moment it changes by itself (`until`).

    Counting a large cohort costs a scan of its rows, where the rest of the page reads one
    page of them; every change to what it counts raises progress_version, in the same
    transaction (see learner_progress.touch_cohorts).
    """
    return remembered(
        COHORT_OVERVIEW,
        (cohort.id, cohort.progress_version, content_version),
        lambda: overview(session, scope, now),
        still_good=lambda counted: counted.until is None or now < counted.until,
    )


class LearnerRow(NamedTuple):
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


def _columns() -> tuple[Any, ...]:
    c = PROGRESS.c
    return (
        USERS.c.id,
        USERS.c.name,
        USERS.c.email,
        c.read_count,
        c.read_mask,
        c.last_activity,
        c.attempts,
        c.best,
        c.passed,
        c.critical,
        c.certificate_code,
        c.certificate_issued_at,
        c.certificate_valid_until,
        c.certificate_revoked,
        _certified().label("certified"),
    )


def _rows(scope: Scope, conditions: Sequence[Any] = ()) -> Select[Any]:
    """The table's rows: from the scope's learners, each joined to their account and row."""
    members, joined = _progress_of(scope)
    return (
        select(*_columns())
        .select_from(members)
        .join(USERS, USERS.c.id == members.c.user_id)
        .outerjoin(PROGRESS, joined)
        .where(*conditions)
    )


def _rows_by_walking(scope: Scope, state: str, search: str) -> Select[Any]:
    """The same rows, driven by `users` alone: whether an account belongs to the scope and
    matches the filter is one correlated EXISTS, so the only way through is every account
    in name order (ix_users_lower_name), stopping when the page is full."""
    progress = _PROGRESS_TOO
    members, joined = _progress_of(scope, progress)
    matches = (
        select(members.c.user_id)
        .outerjoin(progress, joined)
        .where(members.c.user_id == USERS.c.id, *_matching(state, search, progress))
    )
    own = and_(PROGRESS.c.user_id == USERS.c.id, PROGRESS.c.lesson == scope.lesson.slug)
    return select(*_columns()).select_from(USERS).outerjoin(PROGRESS, own).where(matches.exists())


def _ordered(query: Select[Any], sort: str, descending: bool) -> Select[Any]:
    if sort not in ("activity", "score", "read"):
        # Ties go the same way as names, so that ix_users_lower_name serves either order.
        keys = (func.lower(USERS.c.name), USERS.c.id)
        return query.order_by(*(key.desc() if descending else key for key in keys))
    column = {
        "activity": PROGRESS.c.last_activity,
        "score": PROGRESS.c.best,
        "read": func.coalesce(PROGRESS.c.read_count, 0),
    }[sort]
    key = column.desc() if descending else column.asc()
    # NULLs (never active, no score) last either way; the id makes pages stable.
    return query.order_by(column.is_(None), key, USERS.c.id)


@lru_cache(maxsize=4096)  # a lesson's learners share a few patterns
def _sections_read(mask: int, sections: int) -> tuple[bool, ...]:
    return tuple(bool(mask >> i & 1) for i in range(sections))


def _row(row: Any, sections: int) -> LearnerRow:
    (user_id, name, email, read_count, mask, last_activity, attempts, best, passed, critical,
     code, issued_at, valid_until, revoked, certified) = row  # fmt: skip
    return LearnerRow(
        user_id,
        name,
        email,
        read_count or 0,
        _sections_read(mask or 0, sections),
        last_activity,
        attempts or 0,
        best,
        bool(passed),
        bool(critical),
        code,
        issued_at,
        valid_until,
        bool(revoked),
        bool(certified),
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
    counted: Overview,
    now: datetime,
    *,
    state: str = "",
    search: str = "",
    sort: str = "name",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """One page of the dashboard table: one statement whatever the cohort's size (two with a
    search, whose total the overview cannot know)."""
    total = counted.totals[state]
    if search:
        rows = _rows(scope, _matching(state, search)).subquery()
        total = session.scalar(select(func.count()).select_from(rows), _moments(now))
    offset = (page - 1) * per_page
    # Two ways to a page by name: sort every learner who matches, or walk all accounts in
    # name order until the page is full. Walking takes about (offset + per_page) * accounts
    # / total lookups, sorting about `enrolled`: for a large cohort walking wins by far.
    # PostgreSQL's planner weighs this from its statistics (and walks the join form best);
    # SQLite's, without any, would always sort, so there the query's form says which.
    walk = (
        sort == "name"
        and session.get_bind().dialect.name == "sqlite"
        and (offset + per_page) * counted.accounts < total * counted.totals[""]
    )
    query = _page_statement(scope, state, search, sort, descending, walk)
    rows = session.execute(query, {**_moments(now), "limit": per_page, "offset": offset})
    sections = len(scope.lesson.sections)
    return Page([_row(r, sections) for r in rows], total, page, per_page)


_PAGE_STATEMENTS: dict[Hashable, Select[Any]] = {}
PAGE_STATEMENTS_KEPT = 1000


def _page_statement(
    scope: Scope, state: str, search: str, sort: str, descending: bool, walk: bool
) -> Select[Any]:
    """The statement for a page of the table, built once per scope and shape (a search is
    built each time: its text is part of the statement)."""
    key = (scope.key, state, sort, descending, walk)
    statement = _PAGE_STATEMENTS.get(key) if scope.key and not search else None
    if statement is None:
        query = (
            _rows_by_walking(scope, state, search)
            if walk
            else _rows(scope, _matching(state, search))
        )
        statement = _ordered(query, sort, descending)
        statement = statement.limit(bindparam("limit")).offset(bindparam("offset"))
        if scope.key and not search:
            if len(_PAGE_STATEMENTS) >= PAGE_STATEMENTS_KEPT:
                _PAGE_STATEMENTS.clear()
            _PAGE_STATEMENTS[key] = statement
    return statement


def all_learners(session: Session, scope: Scope, now: datetime) -> list[LearnerRow]:
    """Every learner in scope, by name: for the CSV export."""
    rows = session.execute(_ordered(_rows(scope), "name", False), _moments(now))
    return [_row(r, len(scope.lesson.sections)) for r in rows]


def pass_dates(session: Session, scope: Scope) -> dict[int, datetime]:
    """When each learner in scope last passed the final quiz (a renewal passes it again), by
    user id: for the CSV export, one statement."""
    if scope.quiz is None:
        return {}
    return dict(
        session.execute(
            select(QuizAttempt.user_id, func.max(QuizAttempt.submitted_at))
            .where(
                QuizAttempt.quiz_id == scope.quiz.id,
                QuizAttempt.state == "closed",
                QuizAttempt.passed == true(),
                QuizAttempt.user_id.in_(scope.learner_ids),
            )
            .group_by(QuizAttempt.user_id)
        ).all()
    )


# --- Former members ----------------------------------------------------------------------


class FormerMember(NamedTuple):
    """A completion record the cohort keeps of someone no longer in it (retention.py)."""

    record_id: int
    user_id: int | None  # None once the account is deleted
    name: str  # as certified
    kept_because: str  # left, removed, deleted, withdrawn (CompletionRecord.KEPT_BECAUSE)
    score_percent: float
    code: str
    issued_at: datetime
    valid_until: datetime
    status: str  # the certificate's now: valid, expired, revoked, withdrawn
    revoked_at: datetime | None


def former_members(session: Session, cohort_id: int, now: datetime) -> list[FormerMember]:
    """The completion records the cohort keeps of people who are not its members now, by
    name, each with its certificate's status now: one statement, whatever their number.

    A member's records are left out: their own row of the table shows their certificate."""
    record = CompletionRecord
    member = (
        select(Enrolment.id)
        .where(Enrolment.cohort_id == record.cohort_id, Enrolment.user_id == record.user_id)
        .exists()
    )
    current = and_(Certificate.code == record.code, Certificate.superseded_at.is_(None))
    rows = session.execute(
        select(
            record.id.label("record_id"),
            record.user_id,
            record.name,
            record.kept_because,
            record.score_percent,
            record.code,
            record.issued_at,
            record.valid_until,
            record.revoked_at.label("kept_revoked_at"),
            Certificate.id.label("certificate_id"),
            Certificate.revoked_at,
            Certificate.withdrawn_at,
        )
        .outerjoin(Certificate, current)
        .where(record.cohort_id == cohort_id, ~member)
        .order_by(func.lower(record.name), record.id)
    )
    return [_former(row, now) for row in rows]


def _former(row: Any, now: datetime) -> FormerMember:
    # The certificate's row says what became of it since the record was copied (revoked,
    # reinstated, withdrawn); the record's copy stands in if that row cannot be found.
    revoked_at = row.kept_revoked_at if row.certificate_id is None else row.revoked_at
    if row.withdrawn_at is not None or row.kept_because == "withdrawn":
        status = "withdrawn"
    elif revoked_at is not None:
        status = "revoked"
    else:
        status = "valid" if row.valid_until > now else "expired"
    return FormerMember(
        record_id=row.record_id,
        user_id=row.user_id,
        name=row.name,
        kept_because=row.kept_because,
        score_percent=row.score_percent,
        code=row.code,
        issued_at=row.issued_at,
        valid_until=row.valid_until,
        status=status,
        revoked_at=revoked_at,
    )


def people(former: Sequence[FormerMember]) -> int:
    """How many people the records are of: one per account, and one per record once the
    account is deleted (a deleted account's two certificates count twice)."""
    return len({("user", r.user_id) if r.user_id else ("record", r.record_id) for r in former})


# --- A learner's timeline ----------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # read, attempt, certificate, log (a line of a certificate's audit log)
    subject: Any  # a Section, QuizAttempt, Certificate or CertificateEvent
    # read: seconds the page was open before "Mark as read" (None: not known), and whether
    # that was under a quarter of the section's minutes.
    reading_seconds: int | None = None
    hurried: bool = False
    # attempt: the safety-critical questions it got wrong, as the attempt's quiz had them.
    missed: tuple[Question, ...] = ()


# The audit log's lines a timeline shows; a reissue is there already, as the new revision.
TIMELINE_ACTIONS = ("revoke", "reinstate", "block", "unblock", "withdraw")


def timeline(
    session: Session,
    user_id: int,
    lesson: Lesson,
    quiz: Quiz | None,
    content_version: str | None = None,
) -> list[Event]:
    """Everything the learner did in this lesson, and what was done to their certificates,
    oldest first: four statements, and at most two more when an attempt missed a critical
    question (its wrong answers; the quizzes of attempts not drawn from `content_version`,
    the current content, which `quiz` is)."""
    events = []
    for slug, at, seconds in session.execute(
        select(SectionRead.section, SectionRead.read_at, SectionRead.reading_seconds).where(
            SectionRead.user_id == user_id, SectionRead.lesson == lesson.slug
        )
    ):
        section = lesson.section(slug)
        if section is not None:
            hurried = read_in_a_hurry(seconds, section)
            events.append(Event(at, "read", section, reading_seconds=seconds, hurried=hurried))
    if quiz is not None:
        attempts = session.execute(
            select(QuizAttempt, QuizVersion.content_version)
            .join(QuizVersion, QuizVersion.id == QuizAttempt.quiz_version_id)
            .where(QuizAttempt.user_id == user_id, QuizAttempt.quiz_id == quiz.id)
        ).all()
        missed = _critical_misses(session, attempts, lesson, quiz, content_version)
        events += [
            Event(a.submitted_at or a.started_at, "attempt", a, missed=missed.get(a.id, ()))
            for a, _drawn_from in attempts
        ]
    codes = select(Certificate.code).where(
        Certificate.user_id == user_id, Certificate.lesson == lesson.slug
    )
    events += [
        Event(c.created_at, "certificate", c)
        for c in session.scalars(
            select(Certificate).where(
                Certificate.user_id == user_id, Certificate.lesson == lesson.slug
            )
        )
    ]
    events += [
        Event(line.at, "log", line)
        for line in session.scalars(
            select(CertificateEvent)
            .where(
                CertificateEvent.code.in_(codes.distinct()),
                CertificateEvent.action.in_(TIMELINE_ACTIONS),
            )
            .order_by(CertificateEvent.id)
        )
    ]
    # Stable: a revocation and the block it set, made at one moment, stay in that order.
    return sorted(events, key=lambda e: e.at)


def _critical_misses(
    session: Session,
    attempts: Sequence[Any],
    lesson: Lesson,
    quiz: Quiz,
    content_version: str | None,
) -> dict[int, tuple[Question, ...]]:
    """The safety-critical questions each closed attempt got wrong, by attempt id, in the
    order they were shown, judged by the quiz as the attempt was drawn from it."""
    flagged = {a.id: (a, drawn_from) for a, drawn_from in attempts if a.critical_missed}
    if not flagged:
        return {}
    wrong = session.execute(
        select(Answer.attempt_id, Answer.question_id)
        .where(Answer.attempt_id.in_(flagged), Answer.correct == false())
        .order_by(Answer.attempt_id, Answer.position)
    ).all()
    older = {
        a.quiz_version_id
        for a, drawn_from in flagged.values()
        if content_version is not None and drawn_from != content_version
    }
    drawn_quizzes = _stored_quizzes(session, older, lesson) if older and wrong else {}
    missed: dict[int, list[Question]] = {}
    for attempt_id, question_id in wrong:
        attempt, _ = flagged[attempt_id]
        asked = drawn_quizzes.get(attempt.quiz_version_id, quiz)
        question = asked.question(question_id) or quiz.question(question_id)
        if question is not None and question.critical:
            missed.setdefault(attempt_id, []).append(question)
    return {attempt_id: tuple(questions) for attempt_id, questions in missed.items()}


def _stored_quizzes(session: Session, version_ids: set[int], lesson: Lesson) -> dict[int, Quiz]:
    """Quizzes as stored with attempts (quiz_versions), by version id; one that no longer
    parses is left out (the current quiz stands in for it)."""
    stored = {}
    for version_id, quiz_id, drawn_from, document in session.execute(
        select(
            QuizVersion.id, QuizVersion.quiz_id, QuizVersion.content_version, QuizVersion.document
        ).where(QuizVersion.id.in_(version_ids))
    ):
        parsed, _problems = parse_quiz(
            document, f"stored quiz {quiz_id}@{drawn_from}", {lesson.slug: lesson}
        )
        if parsed is not None:
            stored[version_id] = parsed
    return stored


# --- Item analysis -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemReport:
    question_id: str
    sums: itemstats.ItemSums
    facility: float | None
    discrimination: float | None
    wrong_choices: list[tuple[str, int]]  # option text, times chosen
    flags: list[str]
    blank: int = 0  # answers left blank
    too_few: bool = False  # too few attempts for the flags (the page says so once)
    low_facility: bool = False  # facility under Thresholds.low_facility


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
            func.count(case((_left_blank(), 1))),
        )
        .join(QuizAttempt, QuizAttempt.id == Answer.attempt_id)
        .where(Answer.attempt_id.in_(attempt_ids))
        .group_by(Answer.question_id)
    ).all()
    choice_counts = _wrong_choice_counts(session, scope.quiz, attempt_ids)
    reports = []
    for question_id, n, max_points, sx, sy, sxx, syy, sxy, blank in sums:
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
                blank=blank,
                too_few=itemstats.too_few(item, limits),
                low_facility=itemstats.low_facility(item, limits),
            )
        )
    order = {q.id: i for i, q in enumerate(scope.quiz.questions)}
    return sorted(reports, key=lambda r: order.get(r.question_id, len(order)))


def _left_blank() -> Any:
    """An answer left blank: its response is JSON null (or, written otherwise, SQL NULL)."""
    return or_(Answer.response.is_(None), cast(Answer.response, String) == "null")


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
