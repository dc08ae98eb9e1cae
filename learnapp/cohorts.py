"""Cohort services: create a class session, join it by its link or its short code, leave it,
and what its instructors do to run it: rotate the codes, remove a learner, archive it, add
and remove co-instructors. Callers commit."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import Session

from learnapp import learner_progress, retention
from learnapp.db import insert_ignoring_duplicates, utcnow
from learnapp.emails import normalise_email
from learnapp.models import (
    INSTRUCTOR_ROLES,
    NAME_MAX,
    Certificate,
    Cohort,
    CohortInstructor,
    Enrolment,
    Person,
    QuizAttempt,
    User,
)

# Crockford's base32: no I, L, O or U, so that what is read aloud is typed right.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# The link's code: 20 characters, 100 random bits. Guessing one is hopeless, so it is never
# refused, however many wrong codes were tried from the same classroom.
CODE_LENGTH = 20
# The room's code: 8 characters (40 bits), read aloud and typed on a phone. It joins only
# until the end of the session's day, and wrong ones are throttled per account and
# site-wide (views/cohorts.py), which together keep guessing hopeless too.
SHORT_CODE_LENGTH = 8

ARCHIVED = "This cohort is archived: it takes no new members and cannot be changed."
LAST_INSTRUCTOR = "A cohort needs an instructor: add another one before removing the last."


class CohortError(ValueError):
    """A cohort request that cannot be granted; the message is for the user."""


def _random_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _cleaned(raw: str) -> str:
    """A code as typed, without separators and with look-alike letters read as Crockford's
    base32 reads them."""
    return raw.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))


def new_join_code() -> str:
    chars = _random_code(CODE_LENGTH)
    return "-".join(chars[i : i + 5] for i in range(0, CODE_LENGTH, 5))


def normalise_join_code(raw: str) -> str | None:
    """The link code `raw` is, as stored, or None if it cannot be one."""
    cleaned = _cleaned(raw)
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return "-".join(cleaned[i : i + 5] for i in range(0, CODE_LENGTH, 5))


def normalise_short_code(raw: str) -> str | None:
    """The short code `raw` is, as stored (8 characters, no dash), or None."""
    cleaned = _cleaned(raw)
    if len(cleaned) != SHORT_CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned


def end_of_day(day: date, time_zone: str) -> datetime:
    """The first moment after `day` where the site's readers are."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(time_zone))


def short_code_last_day(cohort: Cohort, now: datetime, time_zone: str) -> date | None:
    """The last day (where the site's readers are) the cohort's short code joins on, or
    None when it has none that joins any more."""
    expires = cohort.short_code_expires_at
    if cohort.short_code is None or expires is None or expires <= now:
        return None
    return (expires - timedelta(microseconds=1)).astimezone(ZoneInfo(time_zone)).date()


def _new_short_code(session: Session, cohort: Cohort, now: datetime, time_zone: str) -> None:
    """Give the cohort a short code no other cohort holds, joining until the end of its
    session's day (or of today, for a session already past)."""
    while True:
        code = _random_code(SHORT_CODE_LENGTH)
        if session.scalar(select(Cohort.id).where(Cohort.short_code == code)) is None:
            break
    today = now.astimezone(ZoneInfo(time_zone)).date()
    cohort.short_code = code
    cohort.short_code_expires_at = end_of_day(max(cohort.session_date, today), time_zone)


def create(
    session: Session,
    instructor: Person,
    name: str,
    session_date: date,
    lesson: str,
    now: datetime,
    time_zone: str,
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
    _new_short_code(session, cohort, now, time_zone)
    session.add(cohort)
    session.flush()
    # Its creator is its first instructor: the one who may run it until they add others.
    session.add(
        CohortInstructor(cohort_id=cohort.id, user_id=instructor.id, added_by_id=instructor.id)
    )
    session.flush()
    return cohort


def by_link_code(session: Session, raw_code: str) -> Cohort | None:
    code = normalise_join_code(raw_code)
    return None if code is None else session.scalar(select(Cohort).where(Cohort.join_code == code))


def by_short_code(session: Session, raw_code: str, now: datetime) -> Cohort | None:
    """The cohort whose short code this is, while it still joins."""
    code = normalise_short_code(raw_code)
    if code is None:
        return None
    return session.scalar(
        select(Cohort).where(Cohort.short_code == code, Cohort.short_code_expires_at > now)
    )


def join(session: Session, user: Person, cohort: Cohort) -> bool:
    """Enrol the learner; True if they were not in the cohort already.

    A learner who left and joins again keeps the completion records the cohort kept of
    them: the dashboard shows a member's certificate in their own row and leaves their
    records out (reports.former_members), so they appear once. Deleting the records instead
    would lose them: a certificate earned before this joining is not earned in the new
    enrolment, so leaving again would not copy it back."""
    if cohort.archived_at is not None:
        raise CohortError(ARCHIVED)
    joined = insert_ignoring_duplicates(
        session, Enrolment, cohort_id=cohort.id, user_id=user.id, joined_at=utcnow()
    )
    if joined:
        learner_progress.touch_cohorts(session, Cohort.id == cohort.id)
    return joined


def leave(session: Session, user: Person, cohort_id: int) -> bool:
    """End the learner's membership; the cohort keeps the completion record of what they
    earned in it (retention.py). True if they were in the cohort."""
    return _end_membership(session, user.id, cohort_id, retention.LEFT)


def remove(session: Session, cohort: Cohort, user_id: int) -> bool:
    """An instructor ends a learner's membership. The learner keeps their own progress and
    certificates; the cohort keeps its completion records, as when they leave. True if they
    were in the cohort."""
    if cohort.archived_at is not None:
        raise CohortError(ARCHIVED)
    return _end_membership(session, user_id, cohort.id, retention.REMOVED)


def _end_membership(session: Session, user_id: int, cohort_id: int, because: str) -> bool:
    # Copied before the enrolment goes: it says what was earned in the cohort.
    retention.keep_for_former_member(session, utcnow(), user_id, because, cohort_id)
    result = session.execute(
        delete(Enrolment).where(Enrolment.cohort_id == cohort_id, Enrolment.user_id == user_id)
    )
    if result.rowcount:
        learner_progress.touch_cohorts(session, Cohort.id == cohort_id)
    return bool(result.rowcount)


def rotate_codes(session: Session, cohort: Cohort, now: datetime, time_zone: str) -> None:
    """New link and short codes: the old ones join no one from now on. Members stay."""
    if cohort.archived_at is not None:
        raise CohortError(ARCHIVED)
    cohort.join_code = new_join_code()
    _new_short_code(session, cohort, now, time_zone)


def archive(session: Session, cohort: Cohort, now: datetime) -> None:
    """Read-only from now on, and out of the default list; its codes join no one."""
    if cohort.archived_at is None:
        cohort.archived_at = now
        cohort.short_code = None
        cohort.short_code_expires_at = None


def restore(session: Session, cohort: Cohort) -> None:
    """Running again; a new short code comes with the next rotation."""
    cohort.archived_at = None


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


def memberships(session: Session, user_id: int) -> list[tuple[Cohort, Enrolment, list[str]]]:
    """The cohorts a learner belongs to, newest session first, each with the names of its
    instructors in the order they were added: one statement, a row per instructor."""
    rows = session.execute(
        select(Cohort, Enrolment, User.name)
        .join(Enrolment, Enrolment.cohort_id == Cohort.id)
        .outerjoin(CohortInstructor, CohortInstructor.cohort_id == Cohort.id)
        .outerjoin(User, User.id == CohortInstructor.user_id)
        .where(Enrolment.user_id == user_id)
        .order_by(
            Cohort.session_date.desc(),
            Cohort.id.desc(),
            CohortInstructor.added_at,
            CohortInstructor.id,
        )
    )
    found: dict[int, tuple[Cohort, Enrolment, list[str]]] = {}
    for cohort, enrolment, name in rows:
        names = found.setdefault(cohort.id, (cohort, enrolment, []))[2]
        if name is not None:
            names.append(name)
    return list(found.values())


# --- Who runs a cohort: its instructors (cohort_instructors), each with the same powers ----


def instructed_by(user_id: int) -> ColumnElement[bool]:
    """SQL: the user is one of the Cohort's instructors. Every check of who may see or change
    a cohort (or a learner or certificate through one) goes through this; admins aside."""
    return exists().where(
        CohortInstructor.cohort_id == Cohort.id, CohortInstructor.user_id == user_id
    )


def instructors(session: Session, cohort_id: int) -> list[User]:
    """The cohort's instructors, in the order they were added."""
    return list(
        session.scalars(
            select(User)
            .join(CohortInstructor, CohortInstructor.user_id == User.id)
            .where(CohortInstructor.cohort_id == cohort_id)
            .order_by(CohortInstructor.added_at, CohortInstructor.id)
        )
    )


def add_instructor(session: Session, cohort: Cohort, email: str, by: Person) -> User:
    """Make the account with this e-mail an instructor of the cohort, with the same powers
    as those who run it; CohortError says why not (no such account, not an instructor,
    already one of the cohort's)."""
    if cohort.archived_at is not None:
        raise CohortError(ARCHIVED)
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise CohortError(
            f"No account has the e-mail {address}. Ask them to register, or an admin to"
            " create their account, then add them."
        )
    if user.role not in INSTRUCTOR_ROLES:
        raise CohortError(
            f"{user.name} ({user.email}) is not an instructor: an admin can give the account"
            " the instructor role first."
        )
    added = insert_ignoring_duplicates(
        session,
        CohortInstructor,
        cohort_id=cohort.id,
        user_id=user.id,
        added_at=utcnow(),
        added_by_id=by.id,
    )
    if not added:
        raise CohortError(f"{user.name} is already an instructor of {cohort.name}.")
    return user


def remove_instructor(session: Session, cohort: Cohort, user_id: int) -> bool:
    """The user is no longer an instructor of the cohort; never its last one (CohortError).
    True if they were one."""
    if cohort.archived_at is not None:
        raise CohortError(ARCHIVED)
    # Two instructors removing each other at once: the cohort's row lock (PostgreSQL; on
    # SQLite the write transaction itself) makes the second count what the first left.
    session.execute(select(Cohort.id).where(Cohort.id == cohort.id).with_for_update())
    user_ids = session.scalars(
        select(CohortInstructor.user_id).where(CohortInstructor.cohort_id == cohort.id)
    ).all()
    if user_id not in user_ids:
        return False
    if len(user_ids) == 1:
        raise CohortError(LAST_INSTRUCTOR)
    session.execute(
        delete(CohortInstructor).where(
            CohortInstructor.cohort_id == cohort.id, CohortInstructor.user_id == user_id
        )
    )
    return True


def visible_to(session: Session, user: Person, archived: bool = False) -> list[Cohort]:
    """Instructors see the cohorts they are instructors of; admins see all. Running ones, or
    the archived."""
    query = select(Cohort).order_by(Cohort.session_date.desc(), Cohort.id.desc())
    query = query.where(
        Cohort.archived_at.is_not(None) if archived else Cohort.archived_at.is_(None)
    )
    if user.role != "admin":
        query = query.where(instructed_by(user.id))
    return list(session.scalars(query))


def archived_count(session: Session, user: Person) -> int:
    query = select(func.count()).select_from(Cohort).where(Cohort.archived_at.is_not(None))
    if user.role != "admin":
        query = query.where(instructed_by(user.id))
    return session.scalar(query) or 0
