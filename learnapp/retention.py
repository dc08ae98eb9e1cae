"""Retention: the completion records a cohort keeps once a learner's account is deleted or a
certificate withdrawn at the holder's request, and their purge after the kept period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from learnapp.cohorts import earned_in_cohort
from learnapp.models import Certificate, Cohort, CompletionRecord, Enrolment


def keep_records(session: Session, now: datetime, *which: Any) -> int:
    """Copy the certificates matching `which` (current revisions, not yet withdrawn) as
    completion records into each cohort they were earned in, once; how many were new.

    Called before the account or the certificate's personal fields go."""
    rows = session.execute(
        select(
            Enrolment.cohort_id,
            Enrolment.joined_at,
            Certificate.code,
            Certificate.name,
            Certificate.lesson_title,
            Certificate.score_percent,
            Certificate.issued_at,
            Certificate.valid_until,
            Certificate.revoked_at,
        )
        .select_from(Certificate)
        .join(Enrolment, Enrolment.user_id == Certificate.user_id)
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(
            earned_in_cohort(),
            Certificate.superseded_at.is_(None),
            Certificate.withdrawn_at.is_(None),
            *which,
        )
    ).all()
    if not rows:
        return 0
    kept = {
        tuple(kept_row)
        for kept_row in session.execute(
            select(CompletionRecord.cohort_id, CompletionRecord.code).where(
                CompletionRecord.code.in_({row.code for row in rows})
            )
        )
    }
    new = [
        CompletionRecord(**row._asdict(), recorded_at=now)
        for row in rows
        if (row.cohort_id, row.code) not in kept
    ]
    session.add_all(new)
    session.flush()
    return len(new)


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
