"""Typed SQLAlchemy models; the rules that must always hold are constraints here."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any, Protocol

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from learnapp.db import Base, utcnow
from learnapp.emails import email_skeleton

ROLES = ("learner", "instructor", "admin")
# Who may run cohorts, and has an instructor profile.
INSTRUCTOR_ROLES = ("instructor", "admin")
NAME_MAX = 120
EMAIL_MAX = 254
INSTRUCTOR_NUMBER_MAX = 40


class Person(Protocol):
    """What services need to know of the person acting: a `User` row, or the signed-in
    account as each request loads it (security.SignedIn)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


# Ids reach cookies, URLs and certificates: SQLite's AUTOINCREMENT never hands a deleted
# row's id to a new one, as PostgreSQL's sequences never do.
NEVER_REUSED = {"sqlite_autoincrement": True}


def new_session_token() -> str:
    return secrets.token_urlsafe(12)


def session_identity(user_id: int, session_version: int, session_token: str) -> str:
    """What session and remember-me cookies name an account by (flask-login's user id)."""
    return f"{user_id}:{session_version}:{session_token}"


def _skeleton_of_email(context: Any) -> str:
    return email_skeleton(context.get_current_parameters()["email"])


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    # No two accounts whose addresses look alike (emails.email_skeleton). Accounts that
    # already collided when this column came get their id appended (migration 0005).
    email_skeleton: Mapped[str] = mapped_column(
        String(100), unique=True, default=_skeleton_of_email
    )
    # When a link mailed to `email` was followed (or a trusted sign-on gave the address);
    # NULL: not yet. Mail other than account mail waits for it (accounts.may_mail).
    email_confirmed_at: Mapped[datetime | None]
    # An address asked for and not yet confirmed: `email` stays the one logged in with, and
    # mailed, until the link sent here is followed (accounts.request_email_change).
    pending_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="learner")
    # Bumped at logout and password change: sessions carry it, and a stale one is refused.
    session_version: Mapped[int] = mapped_column(default=1)
    # Random, and renewed with the version: a cookie names the account by id and this, so
    # no cookie opens another account that has (or had) the same id.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The name an instructor or admin corrected this account's certificate to: later
    # certificates are offered it, until the learner changes their own name.
    certificate_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # An instructor's profile, for what they sign: the name to print (NULL: the account's
    # name), and the instructor number or ID with the body that issued it (both or neither:
    # accounts.change_instructor_profile). Nullable columns added by migration 0013.
    instructor_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    instructor_number: Mapped[str | None] = mapped_column(String(INSTRUCTOR_NUMBER_MAX))
    instructor_issuing_body: Mapped[str | None] = mapped_column(String(NAME_MAX))

    @property
    def printed_instructor_name(self) -> str:
        """The name to print where this instructor signs."""
        return self.instructor_name or self.name

    def get_id(self) -> str:
        return session_identity(self.id, self.session_version, self.session_token)

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def is_instructor(self) -> bool:
        return self.role in INSTRUCTOR_ROLES


# The cohort dashboard lists learners by name: walking this index, a page of a large cohort
# stops after its rows instead of sorting the whole cohort (see reports.learners_page).
Index("ix_users_lower_name", func.lower(User.name), User.id)


class SectionRead(Base):
    """A section a learner has read, once, keyed by slugs so edits to the text keep it."""

    __tablename__ = "section_reads"
    __table_args__ = (UniqueConstraint("user_id", "lesson", "section"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson: Mapped[str] = mapped_column(String(100))
    section: Mapped[str] = mapped_column(String(100))
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Seconds from the page being served (a signed time in the mark-read form) to the mark-read
    # POST; NULL when not known (reads before migration 0011, a missing or bad signature).
    reading_seconds: Mapped[int | None]


class DisclaimerAcknowledgement(Base):
    __tablename__ = "disclaimer_acknowledgements"
    __table_args__ = (UniqueConstraint("user_id", "lesson", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuizVersion(Base):
    """A quiz as it stood in one content version: attempts are graded against it."""

    __tablename__ = "quiz_versions"
    __table_args__ = (UniqueConstraint("quiz_id", "content_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[str] = mapped_column(String(100))
    content_version: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


ATTEMPT_STATES = ("in_progress", "closed")


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        CheckConstraint(f"state IN {ATTEMPT_STATES}", name="state"),
        CheckConstraint(
            "(state = 'closed') = (submitted_at IS NOT NULL AND score IS NOT NULL AND passed IS NOT NULL)",
            name="closed_has_result",
        ),
        Index("ix_quiz_attempts_user_quiz", "user_id", "quiz_id"),
        # One open attempt per learner and quiz: a double "start" resumes instead of forking.
        Index(
            "uq_quiz_attempts_open",
            "user_id",
            "quiz_id",
            unique=True,
            sqlite_where=text("state = 'in_progress'"),
            postgresql_where=text("state = 'in_progress'"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quiz_id: Mapped[str] = mapped_column(String(100))
    quiz_version_id: Mapped[int] = mapped_column(ForeignKey("quiz_versions.id"))
    state: Mapped[str] = mapped_column(String(20), default="in_progress")
    # [{"id": question id, "order": [option/pair/item ids as shown]}], in display order.
    drawn: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    score: Mapped[float | None]
    points: Mapped[int | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    critical_missed: Mapped[bool | None]
    # {section slug: [score, points]}
    by_section: Mapped[dict[str, list[float]] | None] = mapped_column(JSON)

    quiz_version: Mapped[QuizVersion] = relationship(lazy="raise")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="attempt", order_by="Answer.position", lazy="raise", passive_deletes=True
    )


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "question_id"),
        CheckConstraint("score >= 0 AND score <= points", name="score_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(100))
    section: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    response: Mapped[Any | None] = mapped_column(JSON)
    score: Mapped[float]
    points: Mapped[int]
    correct: Mapped[bool]

    attempt: Mapped[QuizAttempt] = relationship(back_populates="answers", lazy="raise")


# The public reasons a revocation gives, shown on the verify page to anyone: chosen from this
# list, so that no instructor's free text about a learner is published. The private note
# (revoke_note) says the rest. WITHDRAWN is set by an admin's withdrawal alone, and the
# neutral "Revoked by the issuer" is what revocations made before this list say.
REVOKE_REASONS = ("Issued in error", "Requirements not met", "Revoked by the issuer")
WITHDRAWN = "Withdrawn at the holder's request"
# The public reasons for undoing a revocation (reinstating the certificate) and for lifting
# the certification block a revocation sets: chosen from lists too, for the same reason.
REINSTATE_REASONS = ("Revoked in error", "Requirements met on review", "Reinstated by the issuer")
UNBLOCK_REASONS = ("Requirements now met", "Blocked in error", "Lifted by the issuer")
NOTE_MAX = 500


def _sql_in(values: tuple[str, ...]) -> str:
    """`(...)` of SQL string literals, for a CHECK constraint (quotes doubled)."""
    return "(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


# A certificate's current revision, not revoked (withdrawn ones are revoked too).
_UNREVOKED = "superseded_at IS NULL AND revoked_at IS NULL"
_UNREVOKED_FIRST = f"renews_id IS NULL AND {_UNREVOKED}"


class Certificate(Base):
    """A document of record: its fields are copied here and its PDF stored as issued.

    A name correction adds a revision with the same code; a renewal is a new code whose
    `renews_id` points at the certificate it renews.
    """

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("code", "revision"),
        # One certificate per pass: a repeated or concurrent confirmation cannot issue two.
        UniqueConstraint("attempt_id", "revision"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint("valid_until > issued_at", name="valid_after_issue"),
        CheckConstraint(
            "(revoked_at IS NULL) = (revoke_reason IS NULL)", name="revocation_has_reason"
        ),
        CheckConstraint(
            f"revoke_reason IN {_sql_in((*REVOKE_REASONS, WITHDRAWN))}", name="public_reason"
        ),
        CheckConstraint("revoke_note IS NULL OR revoked_at IS NOT NULL", name="note_if_revoked"),
        # A withdrawal (at the holder's request) revokes the certificate and deletes its PDF.
        CheckConstraint("withdrawn_at IS NULL OR revoked_at IS NOT NULL", name="withdrawn_revoked"),
        CheckConstraint("(pdf IS NULL) = (withdrawn_at IS NOT NULL)", name="pdf_until_withdrawn"),
        Index("ix_certificates_user_lesson", "user_id", "lesson"),
        # One valid certificate per learner and lesson, checked by the write itself, so that
        # two claims racing (two passes claimed at once) cannot both insert. A renewed
        # certificate stays current beside its renewal, hence two rules over the current,
        # unrevoked rows: one first certificate per learner and lesson, and one renewal per
        # certificate (save_issued checks that the renewed one is still current).
        Index(
            "uq_certificates_one_first",
            "user_id",
            "lesson",
            unique=True,
            sqlite_where=text(_UNREVOKED_FIRST),
            postgresql_where=text(_UNREVOKED_FIRST),
        ),
        Index(
            "uq_certificates_one_renewal",
            "renews_id",
            unique=True,
            sqlite_where=text(_UNREVOKED),
            postgresql_where=text(_UNREVOKED),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    revision: Mapped[int] = mapped_column(default=1)
    # Certificates outlive accounts as records: deleting a learner keeps them verifiable.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempt_id: Mapped[int | None] = mapped_column(
        ForeignKey("quiz_attempts.id", ondelete="SET NULL")
    )
    # Indexed: the verify page asks "what renewed this one?" on every lookup.
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    lesson: Mapped[str] = mapped_column(String(100))
    lesson_title: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    score_percent: Mapped[float]
    content_version: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime]
    valid_until: Mapped[datetime]
    superseded_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))  # public: REVOKE_REASONS
    # Private: shown to those who manage the certificate, never on the public pages.
    revoke_note: Mapped[str | None] = mapped_column(String(NOTE_MAX))
    withdrawn_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # when this revision was made
    # None once withdrawn: the PDF is deleted, its sha256 kept so a copy reads "withdrawn".
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The lesson's length when issued, printed as the course's duration (None before 0009).
    course_minutes: Mapped[int | None]


class CertificationBlock(Base):
    """Set by a revocation: the learner gets no new certificate for the lesson until an
    instructor or admin who manages the revoked certificate lifts it (certificates.py)."""

    __tablename__ = "certification_blocks"
    __table_args__ = (
        CheckConstraint("(lifted_at IS NULL) = (lift_reason IS NULL)", name="lifted_with_reason"),
        CheckConstraint(
            f"lift_reason IS NULL OR lift_reason IN {_sql_in(UNBLOCK_REASONS)}",
            name="public_lift_reason",
        ),
        # One block in force per learner and lesson: a second revocation finds it there.
        Index(
            "uq_certification_blocks_in_force",
            "user_id",
            "lesson",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson: Mapped[str] = mapped_column(String(100))
    # The revoked certificate (its code): who manages it may lift the block.
    code: Mapped[str] = mapped_column(String(40), index=True)
    blocked_at: Mapped[datetime]
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lift_reason: Mapped[str | None] = mapped_column(String(500))  # public: UNBLOCK_REASONS


CERTIFICATE_ACTIONS = ("revoke", "reinstate", "block", "unblock", "reissue", "withdraw")


class CertificateEvent(Base):
    """The audit log of a certificate (by code): each revocation, reinstatement, block,
    lifted block, reissue and withdrawal, who made it, its public reason and private note.
    Shown on the certificate's page to those who manage it; never on the public pages."""

    __tablename__ = "certificate_events"
    __table_args__ = (
        CheckConstraint(f"action IN {_sql_in(CERTIFICATE_ACTIONS)}", name="action"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Copied: the log still says who acted once that account is deleted.
    actor_name: Mapped[str] = mapped_column(String(NAME_MAX))
    reason: Mapped[str | None] = mapped_column(String(500))  # public
    note: Mapped[str | None] = mapped_column(String(NOTE_MAX))  # private
    # For a reissue: the name before and after (the certificate's own fields say the rest).
    detail: Mapped[str | None] = mapped_column(String(2 * NAME_MAX + 10))


class Cohort(Base):
    """One class session run by an instructor; learners join it with its code."""

    __tablename__ = "cohorts"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    session_date: Mapped[date]
    lesson: Mapped[str] = mapped_column(String(100))
    # The link's code: 100 random bits, never refused (cohorts.py).
    join_code: Mapped[str] = mapped_column(String(40), unique=True)
    # The room's code: 8 characters to read aloud, joining until the end of the session's
    # day; NULL for cohorts made before short codes, until their instructor rotates.
    short_code: Mapped[str | None] = mapped_column(String(8), unique=True, index=True)
    short_code_expires_at: Mapped[datetime | None]
    # Read-only once set: no one joins, the codes cannot be rotated, no one is removed.
    archived_at: Mapped[datetime | None]

    @property
    def spoken_short_code(self) -> str | None:
        """The short code as shown and read aloud: two groups of four."""
        code = self.short_code
        return None if code is None else f"{code[:4]}-{code[4:]}"

    # Who created the cohort: a record, not a power, and NULL once that account is deleted
    # (migration 0013). Who runs the cohort is `cohort_instructors` (CohortInstructor): every
    # access check reads that, never this.
    instructor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Raised, in the same transaction, by every change to its learners' progress or to who
    # its learners are: the dashboard's counts are cached while it stays the same.
    progress_version: Mapped[int] = mapped_column(default=0, server_default="0")


class CohortInstructor(Base):
    """An instructor of a cohort. A cohort may have several, each with the same powers over
    it (views/instructor.py); its creator is the first. The last one cannot be removed
    (cohorts.remove_instructor)."""

    __tablename__ = "cohort_instructors"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    # The unique constraint's index serves a cohort's instructors; this one a person's cohorts.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The instructor (or admin) who added them; the creator added themselves. NULL once that
    # account is deleted.
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class CompletionRecord(Base):
    """What a cohort keeps of a certificate earned in it once the learner leaves the cohort,
    deletes the account or has the certificate withdrawn at their request (retention.py):
    the name as certified, the result, the code and the dates, until
    COMPLETION_RECORDS_KEPT_DAYS after the certificate's validity ends (`flask retention
    purge` deletes them then)."""

    # Why it is kept: the learner left the cohort, an instructor removed them, they deleted
    # the account, or (still a member then) had the certificate withdrawn. The end of a
    # membership replaces a withdrawal.
    KEPT_BECAUSE = ("left", "removed", "deleted", "withdrawn")

    __tablename__ = "completion_records"
    __table_args__ = (
        UniqueConstraint("cohort_id", "code"),
        CheckConstraint(f"kept_because IN {_sql_in(KEPT_BECAUSE)}", name="kept_because"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    # The holder while the account exists: a record of someone who is a member again is
    # theirs, shown in their own row of the dashboard and not a second time.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    kept_because: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    lesson_title: Mapped[str] = mapped_column(String(300))
    score_percent: Mapped[float]
    joined_at: Mapped[datetime]
    issued_at: Mapped[datetime]
    valid_until: Mapped[datetime] = mapped_column(index=True)  # the purge reads by it
    revoked_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearnerProgress(Base):
    """One learner's standing in one lesson, derived from their reads, attempts and
    certificates (learner_progress.py keeps it current) so that the cohort dashboard reads a
    row per learner instead of aggregating their whole history on every view.

    Facts that depend on the clock (a certificate still valid, a learner stuck) are not
    stored: the dashboard derives them from the stored times when it reads.
    """

    __tablename__ = "learner_progress"
    __table_args__ = (
        CheckConstraint("read_count >= 0", name="read_count_not_negative"),
        CheckConstraint("read_mask >= 0", name="read_mask_not_negative"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("NOT (passed AND critical)", name="critical_only_until_passed"),
        CheckConstraint(
            "(certificate_code IS NULL) = (certificate_valid_until IS NULL)",
            name="certificate_has_dates",
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    lesson: Mapped[str] = mapped_column(String(100), primary_key=True)
    read_count: Mapped[int] = mapped_column(default=0)
    # Bit i set: the learner read the lesson's i-th section, in the lesson's current order
    # (so reordering or renaming sections needs `flask progress rebuild`).
    read_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    last_activity: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    best: Mapped[float | None]  # the best percent of a closed attempt
    passed: Mapped[bool] = mapped_column(default=False)
    # Missed a safety-critical question and has not passed since.
    critical: Mapped[bool] = mapped_column(default=False)
    # The current certificate: the newest by issue date among current revisions.
    certificate_code: Mapped[str | None] = mapped_column(String(40))
    certificate_issued_at: Mapped[datetime | None]
    certificate_valid_until: Mapped[datetime | None]
    certificate_revoked: Mapped[bool] = mapped_column(default=False)


OUTBOX_KINDS = ("mail",)  # outbox.HANDLERS runs each; a new kind is a migration of the CHECK
OUTBOX_ERROR_MAX = 2000


class OutboxMessage(Base):
    """Outgoing work (a mail today; LMS grades, reminders later), inserted in the transaction
    of the change that causes it and run by `flask worker` (outbox.py), with retries.

    A row is waiting (neither done nor failed), done, or failed. `claimed_until` is a
    worker's lease: while it lies ahead no other worker claims the row, and when the worker
    dies the lease runs out and the row is claimed again."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"kind IN {_sql_in(OUTBOX_KINDS)}", name="kind"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("done_at IS NULL OR failed_at IS NULL", name="done_or_failed"),
        # What the worker looks for: waiting rows by their next attempt. Partial, so that
        # the done rows (nearly all of them) stay out of it.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            sqlite_where=text("done_at IS NULL AND failed_at IS NULL"),
            postgresql_where=text("done_at IS NULL AND failed_at IS NULL"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)  # failed runs so far
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(OUTBOX_ERROR_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_until: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
