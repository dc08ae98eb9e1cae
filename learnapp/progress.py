"""Learner progress services: sections read. They take a session and flush; callers commit."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from learnapp import learner_progress
from learnapp.content import Lesson, Section
from learnapp.db import DirectQuery, insert_ignoring_duplicates, utcnow
from learnapp.models import SectionRead
from learnapp.security import signed_in_select

_reads = SectionRead.__table__.c
_READS = select(_reads.section, _reads.read_at).where(
    _reads.user_id == bindparam("user_id"), _reads.lesson == bindparam("lesson")
)
# The lesson pages' one statement (security.load_user_with): the signed-in user, and a row
# per section of the lesson they have read (a single row of None when there is none).
SIGNED_IN_WITH_READS = DirectQuery(
    signed_in_select(_reads.section).outerjoin(
        SectionRead.__table__,
        and_(_reads.user_id == bindparam("id"), _reads.lesson == bindparam("lesson")),
    )
)


def slugs_read(rows: Iterable[tuple[str | None]], lesson: Lesson) -> frozenset[str]:
    """The sections of the lesson read, by slug, from SIGNED_IN_WITH_READS's rows."""
    return frozenset(slug for (slug,) in rows) & lesson.slugs


def sections_read(session: Session, user_id: int, lesson: Lesson) -> dict[str, datetime]:
    """When the learner first read each section of the lesson, by section slug."""
    rows = session.execute(_READS, {"user_id": user_id, "lesson": lesson.slug})
    known = {s.slug for s in lesson.sections}
    # Slugs of sections since removed from the lesson no longer count.
    return {slug: read_at for slug, read_at in rows if slug in known}


def mark_read(session: Session, user_id: int, lesson: Lesson, section: Section) -> bool:
    """Record the section as read, once; True the first time."""
    inserted = insert_ignoring_duplicates(
        session,
        SectionRead,
        user_id=user_id,
        lesson=lesson.slug,
        section=section.slug,
        read_at=utcnow(),
    )
    if inserted:
        learner_progress.refresh(session, user_id, lesson.slug)
    return inserted


def resume_point(lesson: Lesson, read: Collection[str]) -> Section | None:
    """The first section not yet read, where a returning learner picks up."""
    return next((s for s in lesson.sections if s.slug not in read), None)
