"""Cohort services: create a class session, join it by code, leave it. Callers commit."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from learnapp import learner_progress, retention
from learnapp.db import insert_ignoring_duplicates, utcnow
from learnapp.models import NAME_MAX, Certificate, Cohort, Enrolment, Person, QuizAttempt, User

# 20 characters of Crockford base32 = 100 random bits: guessing is hopeless, and guesses are
# throttled anyway (see views/cohorts.py).
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20


class CohortError(ValueError):
    """A cohort request that cannot be granted; the message is for the user."""


def new_join_code() -> str:
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(chars[i : i + 5] for i in range(0, CODE_LENGTH, 5))


def normalise_join_code(raw: str) -> str | None:
    cleaned = raw.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return "-".join(cleaned[i : i + 5] for i in range(0, CODE_LENGTH, 5))


def create(
    session: Session, instructor: Person, name: str, session_date: date, lesson: str
) -> Cohort:
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise CohortError(f"Give the cohort a name of 1 to {NAME_MAX} characters.")
    cohort = Cohort(
        name=name,
        session_date=session_date,
        lesson=lesson,
        join_code=new_join_code(),
        instructor_id=instructor.id,
    )
    session.add(cohort)
    session.flush()
    return cohort


def by_code(session: Session, raw_code: str) -> Cohort | None:
    code = normalise_join_code(raw_code)
    return None if code is None else session.scalar(select(Cohort).where(Cohort.join_code == code))


def join(session: Session, user: Person, cohort: Cohort) -> bool:
    """Enrol the learner; True if they were not in the cohort already.

    A learner who left and joins again keeps the completion records the cohort kept of
    them: the dashboard shows a member's certificate in their own row and leaves their
    records out (reports.former_members), so they appear once. Deleting the records instead
    would lose them: a certificate earned before this joining is not earned in the new
    enrolment, so leaving again would not copy it back."""
    joined = insert_ignoring_duplicates(
        session, Enrolment, cohort_id=cohort.id, user_id=user.id, joined_at=utcnow()
    )
    if joined:
        learner_progress.touch_cohorts(session, Cohort.id == cohort.id)
    return joined


def leave(session: Session, user: Person, cohort_id: int) -> bool:
    """End the learner's membership; the cohort keeps the completion record of what they
    earned in it (retention.py). True if they were in the cohort."""
    # Copied before the enrolment goes: it says what was earned in the cohort.
    retention.keep_for_former_member(session, utcnow(), user.id, retention.LEFT, cohort_id)
    result = session.execute(
        delete(Enrolment).where(Enrolment.cohort_id == cohort_id, Enrolment.user_id == user.id)
    )
    if result.rowcount:
        learner_progress.touch_cohorts(session, Cohort.id == cohort_id)
    return bool(result.rowcount)


def earned_in_cohort() -> ColumnElement[bool]:
    """SQL: the Certificate was earned by the Enrolment's learner while in its Cohort, for the
    cohort's lesson. Earned means passed: a pass from before joining, claimed after, is not.
    This scopes what an instructor may change, and what a cohort keeps (retention.py)."""
    passed_at = (
        select(QuizAttempt.submitted_at)
        .where(QuizAttempt.id == Certificate.attempt_id)
        .scalar_subquery()
    )
    return and_(
        Enrolment.user_id == Certificate.user_id,
        Enrolment.cohort_id == Cohort.id,
        Cohort.lesson == Certificate.lesson,
        # A certificate whose attempt is gone counts from its issue.
        func.coalesce(passed_at, Certificate.issued_at) >= Enrolment.joined_at,
    )


def memberships(session: Session, user_id: int) -> list[tuple[Cohort, Enrolment, User]]:
    """The cohorts a learner belongs to, with each one's instructor."""
    rows = session.execute(
        select(Cohort, Enrolment, User)
        .join(Enrolment, Enrolment.cohort_id == Cohort.id)
        .join(User, User.id == Cohort.instructor_id)
        .where(Enrolment.user_id == user_id)
        .order_by(Cohort.session_date.desc())
    )
    return [tuple(row) for row in rows]


def visible_to(session: Session, user: Person) -> list[Cohort]:
    """Instructors see their own cohorts; admins see all."""
    query = select(Cohort).order_by(Cohort.session_date.desc(), Cohort.id.desc())
    if user.role != "admin":
        query = query.where(Cohort.instructor_id == user.id)
    return list(session.scalars(query))
