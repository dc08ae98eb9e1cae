"""Retention: the completion records a cohort keeps once a learner leaves it, deletes their
account or has a certificate withdrawn at their request, and their purge after the kept
period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, literal, select, update
from sqlalchemy.orm import Session

from learnapp import cohorts
from learnapp.db import UTCDateTime, dialect_insert
from learnapp.models import Certificate, Cohort, CompletionRecord, Enrolment

# Why a record is kept (CompletionRecord.KEPT_BECAUSE).
LEFT, REMOVED, DELETED, WITHDRAWN = "left", "removed", "deleted", "withdrawn"

_COPIED = (
    "cohort_id",
    "user_id",
    "joined_at",
    "code",
    "name",
    "lesson_title",
    "score_percent",
    "issued_at",
    "valid_until",
    "revoked_at",
    "kept_because",
    "recorded_at",
)


def keep_records(session: Session, now: datetime, *which: Any, because: str = WITHDRAWN) -> int:
    """Copy the certificates matching `which` (current revisions, not yet withdrawn) as
    completion records, kept `because`, into each cohort they were earned in, once; how many
    were new. `which` may name certificates and enrolments.

    Called before the enrolment, the account or the certificate's personal fields go. A
    withdrawn certificate is not copied again: its name is gone, and a record kept before
    the withdrawal holds it for the kept period already."""
    copied = (
        select(
            Enrolment.cohort_id,
            Enrolment.user_id,
            Enrolment.joined_at,
            Certificate.code,
            Certificate.name,
            Certificate.lesson_title,
            Certificate.score_percent,
            Certificate.issued_at,
            Certificate.valid_until,
            Certificate.revoked_at,
            literal(because),
            literal(now, UTCDateTime()),
        )
        .select_from(Certificate)
        .join(Enrolment, Enrolment.user_id == Certificate.user_id)
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(
            cohorts.earned_in_cohort(),
            Certificate.superseded_at.is_(None),
            Certificate.withdrawn_at.is_(None),
            *which,
        )
    )
    # One statement, and a record already kept (by an earlier leaving, or by a withdrawal
    # or a leaving committed meanwhile) is left as it is rather than failing the request.
    statement = (
        dialect_insert(session, CompletionRecord)
        .from_select(_COPIED, copied)
        .on_conflict_do_nothing(index_elements=["cohort_id", "code"])
        .returning(CompletionRecord.id)
    )
    return len(session.execute(statement).all())


def keep_for_former_member(
    session: Session, now: datetime, user_id: int, because: str, cohort_id: int | None = None
) -> int:
    """Before the learner's enrolment in the cohort (every enrolment, without `cohort_id`)
    ends, as they leave (LEFT) or delete the account (DELETED): keep the records of what they
    earned there, and mark every record those cohorts keep of them as kept `because`, since
    that is now why (not an earlier withdrawal, nor a leaving before they joined again); how
    many records were new."""
    enrolments = [Enrolment.user_id == user_id]
    if cohort_id is not None:
        enrolments.append(Enrolment.cohort_id == cohort_id)
    kept = keep_records(session, now, *enrolments, because=because)
    session.execute(
        update(CompletionRecord)
        .where(
            CompletionRecord.user_id == user_id,
            CompletionRecord.cohort_id.in_(select(Enrolment.cohort_id).where(*enrolments)),
            CompletionRecord.kept_because != because,
        )
        .values(kept_because=because)
        .execution_options(synchronize_session=False)
    )
    return kept


def cohort_records(session: Session, cohort_id: int) -> list[CompletionRecord]:
    """A cohort's kept completion records, by name."""
    return list(
        session.scalars(
            select(CompletionRecord)
            .where(CompletionRecord.cohort_id == cohort_id)
            .order_by(CompletionRecord.name, CompletionRecord.id)
        )
    )


def kept_until(record: CompletionRecord, kept_days: int) -> datetime:
    return record.valid_until + timedelta(days=kept_days)


def purge(session: Session, now: datetime, kept_days: int) -> int:
    """Delete the completion records past their period; how many."""
    result = session.execute(
        delete(CompletionRecord)
        .where(CompletionRecord.valid_until < now - timedelta(days=kept_days))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
