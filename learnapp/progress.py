"""Learner progress services: sections read. They take a session and flush; callers commit."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import String, bindparam, cast, null, select
from sqlalchemy.orm import Session

from learnapp import learner_progress
from learnapp.content import Lesson, Section
from learnapp.db import insert_ignoring_duplicates, utcnow
from learnapp.models import DisclaimerAcknowledgement, SectionRead

_reads = SectionRead.__table__.c
_READS = select(_reads.section, _reads.read_at).where(
    _reads.user_id == bindparam("user_id"), _reads.lesson == bindparam("lesson")
)
_acks = DisclaimerAcknowledgement.__table__.c
# The reads, and a row without a section if the learner acknowledged the lesson's current
# educational-use notice (the row attempts.acknowledge writes): the lesson pages need both,
# and one statement costs less than two on the busiest page.
_READS_AND_NOTICE = _READS.union_all(
    select(cast(null(), String), _acks.acknowledged_at).where(
        _acks.user_id == bindparam("user_id"),
        _acks.lesson == bindparam("lesson"),
        _acks.version == bindparam("version"),
    )
)


def sections_read(session: Session, user_id: int, lesson: Lesson) -> dict[str, datetime]:
    """When the learner first read each section of the lesson, by section slug."""
    # Core on the session's connection: the lesson pages, the busiest, run it (see load_user).
    rows = session.connection().execute(_READS, {"user_id": user_id, "lesson": lesson.slug})
    known = {s.slug for s in lesson.sections}
    # Slugs of sections since removed from the lesson no longer count.
    return {slug: read_at for slug, read_at in rows if slug in known}


def reading_state(
    session: Session, user_id: int, lesson: Lesson
) -> tuple[dict[str, datetime], bool]:
    """What `sections_read` returns, and whether the learner acknowledged the current version
    of the lesson's educational-use notice (`attempts.acknowledged`), in one statement."""
    rows = session.connection().execute(
        _READS_AND_NOTICE,
        {"user_id": user_id, "lesson": lesson.slug, "version": lesson.disclaimer_version},
    )
    known = {s.slug for s in lesson.sections}
    read: dict[str, datetime] = {}
    acknowledged = False
    for slug, moment in rows:
        if slug is None:
            acknowledged = True
        elif slug in known:
            read[slug] = moment
    return read, acknowledged


def mark_read(
    session: Session,
    user_id: int,
    lesson: Lesson,
    section: Section,
    reading_seconds: int | None = None,
) -> bool:
    """Record the section as read, once, with how long the page was open if that is known
    (`reading_seconds`); True the first time."""
    inserted = insert_ignoring_duplicates(
        session,
        SectionRead,
        user_id=user_id,
        lesson=lesson.slug,
        section=section.slug,
        read_at=utcnow(),
        reading_seconds=reading_seconds,
    )
    if inserted:
        learner_progress.refresh(session, user_id, lesson.slug)
    return inserted


# --- Reading time: the section page carries the moment it was served, signed ------------

# A served time older than this (or from the future) is not believed: no reading time.
SERVED_MAX_AGE = timedelta(days=1)
SERVED_TOKEN_MAX = 200  # characters; ours are about 80


def served_serializer(secret_key: str) -> URLSafeTimedSerializer:
    """Signs the mark-read form's `served` field; its timestamp is the moment of serving."""
    return URLSafeTimedSerializer(secret_key, salt="section-served")


def served_token(secret_key: str, user_id: int, lesson: Lesson, section: Section) -> str:
    """The `served` field of a section page served now to this learner: it binds the learner
    and the section, so that it times nothing else."""
    return served_serializer(secret_key).dumps([user_id, lesson.slug, section.slug])


def reading_seconds(
    secret_key: str, token: str | None, user_id: int, lesson: Lesson, section: Section
) -> int | None:
    """Seconds from serving the section page to now, from its `served` field; None for a
    missing, tampered or foreign token, or a served time in the future or over a day old."""
    if not token or len(token) > SERVED_TOKEN_MAX:
        return None
    try:
        # max_age also refuses a timestamp from the future (itsdangerous: age < 0).
        payload, served_at = served_serializer(secret_key).loads(
            token, max_age=int(SERVED_MAX_AGE.total_seconds()), return_timestamp=True
        )
    except BadData:
        return None
    if payload != [user_id, lesson.slug, section.slug]:
        return None
    seconds = int((utcnow() - served_at).total_seconds())
    return seconds if 0 <= seconds <= SERVED_MAX_AGE.total_seconds() else None


def read_in_a_hurry(seconds: int | None, section: Section) -> bool:
    """Marked read in under a quarter of the minutes the section says it takes."""
    return seconds is not None and seconds * 4 < section.minutes * 60


def resume_point(lesson: Lesson, read: Collection[str]) -> Section | None:
    """The first section not yet read, where a returning learner picks up."""
    return next((s for s in lesson.sections if s.slug not in read), None)
