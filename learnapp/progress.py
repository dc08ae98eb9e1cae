"""Learner progress services: sections read. They take a session and flush; callers commit."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from learnapp import learner_progress
from learnapp.content import Lesson, Section
from learnapp.db import insert_ignoring_duplicates, utcnow
from learnapp.models import SectionRead

_reads = SectionRead.__table__.c
_READS = select(_reads.section, _reads.read_at).where(
    _reads.user_id == bindparam("user_id"), _reads.lesson == bindparam("lesson")
)


def sections_read(session: Session, user_id: int, lesson: Lesson) -> dict[str, datetime]:
    """When the learner first read each section of the lesson, by section slug."""
    # Core on the session's connection: the lesson pages, the busiest, run it (see load_user).
    rows = session.connection().execute(_READS, {"user_id": user_id, "lesson": lesson.slug})
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
