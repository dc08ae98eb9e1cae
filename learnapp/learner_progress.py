"""learner_progress: each learner's standing in a lesson, derived from their reads, attempts and
certificates, so that the cohort dashboard reads one row per learner.

`aggregate` is the one definition of a row. Every service that writes reads, attempts or
certificates calls `refresh` in the same transaction, after its writes; bulk loads call
`refresh_learners`, and `flask progress rebuild` calls `rebuild` after the content changed.
Each of them also raises the progress_version of the learners' cohorts, which tells the
dashboard that the counts it cached for them are out of date.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Boolean,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.orm import Session

from learnapp.content import Catalogue, Lesson, Quiz
from learnapp.db import UTCDateTime, dialect_insert
from learnapp.models import (
    Certificate,
    Cohort,
    Enrolment,
    LearnerProgress,
    QuizAttempt,
    SectionRead,
    User,
)

KEY = ("user_id", "lesson")
# Names this module's advisory locks on PostgreSQL (the first of the two lock keys).
LOCK_CLASS = 0x4C50


def aggregate(lesson: Lesson, quiz: Quiz | None, learner_ids: Any) -> Select[Any]:
    """The learner_progress rows of the learners in `learner_ids` (a SELECT of user ids, or a
    list), computed from the raw tables: one row per learner, with zeros if they did nothing.

    Only sections still in the lesson count, and bit i of read_mask is its i-th section now.
    """
    slugs = [s.slug for s in lesson.sections]
    bits = {slug: 1 << i for i, slug in enumerate(slugs)}
    reads = (
        select(
            SectionRead.user_id,
            func.count().label("read_count"),
            func.max(SectionRead.read_at).label("last_read"),
            # A section is read once (a unique constraint), so the sum of the bits is their OR.
            cast(func.sum(case(bits, value=SectionRead.section, else_=0)), BigInteger).label(
                "read_mask"
            ),
        )
        .where(
            SectionRead.lesson == lesson.slug,
            SectionRead.section.in_(slugs),
            SectionRead.user_id.in_(learner_ids),
        )
        .group_by(SectionRead.user_id)
        .subquery()
    )
    quiz_id = quiz.id if quiz else ""
    tries = (
        select(
            QuizAttempt.user_id,
            func.count().label("attempts"),
            func.max(QuizAttempt.percent).label("best"),  # open attempts have none
            func.max(case((QuizAttempt.passed == true(), 1), else_=0)).label("passed"),
            func.max(case((QuizAttempt.critical_missed == true(), 1), else_=0)).label("critical"),
            func.max(func.coalesce(QuizAttempt.submitted_at, QuizAttempt.started_at)).label(
                "last_attempt"
            ),
        )
        .where(QuizAttempt.quiz_id == quiz_id, QuizAttempt.user_id.in_(learner_ids))
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
            .over(
                partition_by=Certificate.user_id,
                # The id only breaks ties, so that every refresh picks the same one.
                order_by=(Certificate.issued_at.desc(), Certificate.id.desc()),
            )
            .label("rank"),
        )
        .where(
            Certificate.lesson == lesson.slug,
            Certificate.superseded_at.is_(None),
            Certificate.user_id.in_(learner_ids),
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
    passed = func.coalesce(tries.c.passed, 0) == 1
    return (
        select(
            User.id.label("user_id"),
            literal(lesson.slug, String(100)).label("lesson"),
            func.coalesce(reads.c.read_count, 0).label("read_count"),
            func.coalesce(reads.c.read_mask, 0).label("read_mask"),
            last_activity.label("last_activity"),
            func.coalesce(tries.c.attempts, 0).label("attempts"),
            tries.c.best.label("best"),
            passed.label("passed"),
            and_(func.coalesce(tries.c.critical, 0) == 1, ~passed).label("critical"),
            certs.c.code.label("certificate_code"),
            certs.c.issued_at.label("certificate_issued_at"),
            certs.c.valid_until.label("certificate_valid_until"),
            certs.c.revoked_at.is_not(None).label("certificate_revoked"),
        )
        .where(User.id.in_(learner_ids))
        .outerjoin(reads, reads.c.user_id == User.id)
        .outerjoin(tries, tries.c.user_id == User.id)
        .outerjoin(certs, certs.c.user_id == User.id)
    )


def refresh(session: Session, user_id: int | None, lesson: str) -> None:
    """Recompute one learner's row for a lesson (by slug). Call it in the transaction that
    changed their reads, attempts or certificates, after those writes."""
    catalogue: Catalogue | None = current_app.extensions.get("learnapp.content")
    found = catalogue.lessons.get(lesson) if catalogue else None
    if user_id is None or found is None:
        return  # a deleted account, or a lesson no longer offered: no dashboard shows it
    lock(session, user_id, lesson)
    for statement in _refresh_statements(session, found, catalogue.final_quiz(lesson)):
        session.execute(statement, {"user_id": user_id})


_LOCK = select(func.pg_advisory_xact_lock(LOCK_CLASS, bindparam("user_id")))
_progress = LearnerProgress.__table__
_LOCK_ROW = (
    select(_progress.c.user_id)
    .where(_progress.c.user_id == bindparam("user_id"), _progress.c.lesson == bindparam("lesson"))
    .with_for_update()
)

# A closed attempt folded into a row, as `aggregate` would count it: the best percent, a
# pass, a critical miss until a pass, the latest activity. SET reads the row's old values.
_percent, _at = bindparam("attempt_percent"), bindparam("attempt_at", type_=UTCDateTime())
_passed = bindparam("attempt_passed", type_=Boolean())
_CLOSED_ATTEMPT_COUNTED = {
    "best": case(
        (or_(_progress.c.best.is_(None), _progress.c.best < _percent), _percent),
        else_=_progress.c.best,
    ),
    "passed": or_(_progress.c.passed, _passed),
    "critical": and_(
        or_(_progress.c.critical, bindparam("attempt_critical", type_=Boolean())),
        not_(or_(_progress.c.passed, _passed)),
    ),
    "last_activity": case(
        (or_(_progress.c.last_activity.is_(None), _progress.c.last_activity < _at), _at),
        else_=_progress.c.last_activity,
    ),
}
_COUNT_CLOSED_ATTEMPT = (
    update(_progress)
    .where(_progress.c.user_id == bindparam("learner"), _progress.c.lesson == bindparam("slug"))
    .values(_CLOSED_ATTEMPT_COUNTED)
)


def closed_attempt_parameters(
    user_id: int, lesson: str, percent: float, passed: bool, critical: bool, at: datetime
) -> dict[str, Any]:
    """The parameters of the statements that count a closed attempt in a row."""
    return {
        "learner": user_id,
        "slug": lesson,
        "attempt_percent": percent,
        "attempt_passed": passed,
        "attempt_critical": critical,
        "attempt_at": at,
    }


def counts_in_place(quiz: Quiz) -> bool:
    """Whether a closed attempt of `quiz` can be counted in place (`add_closed_attempt`):
    only the lesson's current final quiz counts at all."""
    catalogue: Catalogue | None = current_app.extensions.get("learnapp.content")
    final = catalogue.final_quiz(quiz.lesson) if catalogue else None
    return final is not None and final.id == quiz.id


def add_closed_attempt(session: Session, parameters: dict[str, Any]) -> None:
    """Count a just-closed attempt (closed_attempt_parameters) in the learner's row with one
    UPDATE, where `refresh` would recompute the row from every read, attempt and certificate:
    the submit is the busiest write. The row exists from the attempt's start; where it does
    not, the row is computed whole. Only for a quiz that `counts_in_place`."""
    if session.execute(_COUNT_CLOSED_ATTEMPT, parameters).rowcount != 1:
        refresh(session, parameters["learner"], parameters["slug"])
        return
    session.execute(_RAISE_COHORT_VERSIONS, parameters)


def lock(session: Session, user_id: int, lesson: str | None = None) -> None:
    """On PostgreSQL, wait until no other transaction is changing this learner's progress
    (in `lesson`: its row too).

    A refresh computes the row from its statement's snapshot, and two transactions refreshing
    one learner at once would each miss the other's change: the advisory lock makes the
    second wait for the first to commit. An attempt counted in place (`add_closed_attempt`)
    changes the row without recomputing it, and holds the row's own lock until it commits:
    locking the row too makes a refresh wait for that, so that it reads the attempt closed.
    SQLite needs neither: its writers take turns (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"user_id": user_id})
        if lesson is not None:
            session.execute(_LOCK_ROW, {"user_id": user_id, "lesson": lesson})


_REFRESHES: dict[Hashable, tuple[Any, ...]] = {}


def _refresh_statements(session: Session, lesson: Lesson, quiz: Quiz | None) -> tuple[Any, ...]:
    """refresh_learners' statements for one learner (bound as `user_id`), built once per
    dialect and content: building them costs far more than running them."""
    key = (
        session.get_bind().dialect.name,
        lesson.slug,
        tuple(s.slug for s in lesson.sections),
        quiz.id if quiz else None,
    )
    if key not in _REFRESHES:
        _REFRESHES[key] = _refreshing(session, lesson, quiz, [bindparam("user_id")])
    return _REFRESHES[key]


def refresh_learners(session: Session, lesson: Lesson, quiz: Quiz | None, learner_ids: Any) -> None:
    """Recompute (insert or update) the rows of these learners."""
    for statement in _refreshing(session, lesson, quiz, learner_ids):
        session.execute(statement)


def _refreshing(
    session: Session, lesson: Lesson, quiz: Quiz | None, learner_ids: Any
) -> tuple[Any, ...]:
    """An upsert of the learners' rows, and the raising of their cohorts' progress_version."""
    rows = aggregate(lesson, quiz, learner_ids)
    names = [column.name for column in rows.selected_columns]
    # Core tables, not the ORM classes: executed with parameters, an ORM INSERT or UPDATE
    # would be taken for a bulk operation by primary key.
    upsert = dialect_insert(session, LearnerProgress.__table__).from_select(names, rows)
    upsert = upsert.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: upsert.excluded[name] for name in names if name not in KEY},
    )
    return upsert, _touch(Cohort.lesson == lesson.slug, Cohort.id.in_(cohorts_of(learner_ids)))


def cohorts_of(learner_ids: Any) -> Select[Any]:
    return select(Enrolment.cohort_id).where(Enrolment.user_id.in_(learner_ids))


def touch_cohorts(session: Session, *where: Any) -> None:
    """Raise the progress_version of the cohorts matching `where`: the counts their
    dashboards cached are out of date. Call it in the transaction that made the change."""
    session.execute(_touch(*where))


def _touch(*where: Any) -> Any:
    cohorts = Cohort.__table__
    return update(cohorts).where(*where).values(progress_version=cohorts.c.progress_version + 1)


# add_closed_attempt's: the cohorts of the learner bound as `learner`, in the lesson `slug`.
_RAISE_COHORT_VERSIONS = _touch(
    Cohort.lesson == bindparam("slug"), Cohort.id.in_(cohorts_of([bindparam("learner")]))
)


def refresh_lesson(session: Session, lesson: Lesson, quiz: Quiz | None) -> int:
    """Replace every row of the lesson with one computed from the raw tables, set-based;
    the number of rows written."""
    session.execute(delete(LearnerProgress).where(LearnerProgress.lesson == lesson.slug))
    active = [
        select(SectionRead.user_id).where(SectionRead.lesson == lesson.slug),
        select(Certificate.user_id).where(
            Certificate.lesson == lesson.slug, Certificate.user_id.is_not(None)
        ),
    ]
    if quiz is not None:
        active.append(select(QuizAttempt.user_id).where(QuizAttempt.quiz_id == quiz.id))
    rows = aggregate(lesson, quiz, union(*active))
    names = [column.name for column in rows.selected_columns]
    session.execute(insert(LearnerProgress).from_select(names, rows))
    touch_cohorts(session, Cohort.lesson == lesson.slug)
    # Counted, not rowcount: psycopg reports -1 for an INSERT ... SELECT.
    return session.scalar(select(func.count()).where(LearnerProgress.lesson == lesson.slug))


def rebuild(session: Session, catalogue: Catalogue) -> dict[str, int]:
    """Recompute the whole table for the content as it is now (after sections were renamed,
    removed or reordered); rows written by lesson slug."""
    session.execute(
        delete(LearnerProgress).where(LearnerProgress.lesson.not_in(list(catalogue.lessons)))
    )
    return {
        slug: refresh_lesson(session, lesson, catalogue.final_quiz(slug))
        for slug, lesson in catalogue.lessons.items()
    }
