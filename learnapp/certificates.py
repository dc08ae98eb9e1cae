"""Certificates: issue once per pass, render with WeasyPrint (static files only), verify.

Rendering happens before the write transaction, so no database lock is held while a PDF is
made; the stored bytes are what every download returns.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnapp import certificate_pdf, learner_progress, names, retention
from learnapp.content import Catalogue
from learnapp.db import insert_ignoring_duplicates
from learnapp.models import (
    NOTE_MAX,
    REINSTATE_REASONS,
    REVOKE_REASONS,
    UNBLOCK_REASONS,
    WITHDRAWN,
    Certificate,
    CertificateEvent,
    CertificationBlock,
    Person,
    QuizAttempt,
    QuizVersion,
    User,
)

# Crockford's base32: no I, L, O or U, so a code read aloud cannot be misheard as another.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_BITS = 130  # 26 characters of 5 bits: at least 128 random bits


class CertificateError(ValueError):
    """A certificate request that cannot be granted; the message is for the user."""


class AlreadyCertified(CertificateError):
    """A valid certificate for the lesson was issued while this one was prepared: `code`."""

    def __init__(self, code: str) -> None:
        super().__init__("You already hold a valid certificate for this lesson: this is it.")
        self.code = code


def new_code() -> str:
    number = secrets.randbits(CODE_BITS)
    chars = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(CODE_BITS // 5))
    return "-".join(chars[i : i + 4] for i in range(0, len(chars), 4))


def normalise_code(raw: str) -> str | None:
    """A code as typed (any case, spaces, hyphens, O for 0, I or L for 1), or None if it
    cannot be one of ours."""
    cleaned = raw.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_BITS // 5 or any(c not in ALPHABET for c in cleaned):
        return None
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def clean_name(raw: str) -> str:
    """The name to print (learnapp/names.py), or CertificateError with the rule's message."""
    try:
        return names.clean_name(raw)
    except names.InvalidName as error:
        raise CertificateError(str(error)) from error


# --- Status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    kind: str  # valid, expired, revoked, withdrawn, superseded, renewed
    renewed_by: str | None = None

    @property
    def label(self) -> str:
        return {
            "valid": "Valid",
            "expired": "Expired",
            "revoked": "Revoked",
            "withdrawn": WITHDRAWN,
            "superseded": "Superseded by a corrected revision",
            "renewed": "Renewed",
        }[self.kind]


def status_of(certificate: Certificate, now: datetime, renewed_by: str | None = None) -> Status:
    if certificate.withdrawn_at is not None:
        return Status("withdrawn")
    if certificate.revoked_at is not None:
        return Status("revoked")
    if certificate.superseded_at is not None:
        return Status("superseded")
    if renewed_by is not None:
        return Status("renewed", renewed_by)
    if certificate.valid_until <= now:
        return Status("expired")
    return Status("valid")


def renewal_code(session: Session, certificate: Certificate) -> str | None:
    """The code of the certificate that renewed this one, if any."""
    # A renewal points at the revision current when it was issued: a later correction of
    # the renewed certificate (a new revision, same code) leaves it renewed.
    revisions = select(Certificate.id).where(Certificate.code == certificate.code)
    return session.scalar(
        select(Certificate.code)
        .where(Certificate.renews_id.in_(revisions), Certificate.revoked_at.is_(None))
        .limit(1)
    )


# Built once: the verify page runs it on every request.
_NEWEST_REVISION = (
    select(Certificate)
    .where(Certificate.code == bindparam("code"))
    .order_by(Certificate.revision.desc())
    .limit(1)
)


def current_revision(session: Session, code: str) -> Certificate | None:
    """The newest revision of a code."""
    return session.scalar(_NEWEST_REVISION, {"code": code})


class StoredPdf(NamedTuple):
    user_id: int | None
    code: str
    sha256: str
    pdf: bytes


def stored_pdf(session: Session, code: str) -> StoredPdf | None:
    """The PDF of a code's newest revision, as issued, with its holder and hash."""
    newest = (
        select(Certificate.user_id, Certificate.code, Certificate.sha256, Certificate.pdf)
        .where(Certificate.code == code)
        .order_by(Certificate.revision.desc())
        .limit(1)
    )
    # Core on the session's connection: every download runs it (see security.load_user).
    row = session.connection().execute(newest).first()
    return None if row is None else StoredPdf(*row)


def history(session: Session, user_id: int) -> list[Certificate]:
    """A learner's certificates, newest first, current revisions only."""
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.user_id == user_id, Certificate.superseded_at.is_(None))
            .order_by(Certificate.issued_at.desc())
        )
    )


def latest_for(session: Session, user_id: int, lesson: str) -> Certificate | None:
    """The learner's newest unrevoked, current certificate for a lesson."""
    return session.scalar(
        select(Certificate)
        .where(
            Certificate.user_id == user_id,
            Certificate.lesson == lesson,
            Certificate.superseded_at.is_(None),
            Certificate.revoked_at.is_(None),
        )
        .order_by(Certificate.issued_at.desc())
        .limit(1)
    )


def recertify_from(certificate: Certificate | None, window_days: int) -> datetime | None:
    """When the holder of a certificate may retake the final quiz to renew it."""
    return None if certificate is None else certificate.valid_until - timedelta(days=window_days)


# --- Issue, reissue, revoke --------------------------------------------------------------


def passed_attempt(session: Session, user_id: int, attempt_id: int) -> QuizAttempt | None:
    attempt = session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id or not attempt.passed:
        return None
    return attempt


def for_attempt(session: Session, attempt_id: int) -> Certificate | None:
    return session.scalar(
        select(Certificate)
        .where(Certificate.attempt_id == attempt_id)
        .order_by(Certificate.revision.desc())
        .limit(1)
    )


def draft(
    session: Session,
    user: Person,
    attempt: QuizAttempt,
    name: str,
    catalogue: Catalogue,
    now: datetime,
) -> Certificate:
    """An unsaved certificate for a passed attempt, with its PDF rendered."""
    quiz = catalogue.quizzes.get(attempt.quiz_id)
    lesson = catalogue.lessons[quiz.lesson] if quiz else None
    if lesson is None:
        raise CertificateError(
            "This quiz is no longer part of a lesson, so no certificate can be issued."
        )
    if block_in_force(session, user.id, lesson.slug) is not None:
        raise CertificateError(BLOCKED)
    previous = latest_for(session, user.id, lesson.slug)
    config = current_app.config
    opens = recertify_from(previous, config["RECERTIFY_WINDOW_DAYS"])
    if opens is not None and now < opens:
        raise CertificateError(
            f"You already hold a valid certificate ({previous.code}) for this lesson."
        )
    certificate = Certificate(
        code=new_code(),
        revision=1,
        user_id=user.id,
        attempt_id=attempt.id,
        renews_id=previous.id if previous else None,
        lesson=lesson.slug,
        lesson_title=lesson.title,
        name=clean_name(name),
        score_percent=attempt.percent,
        content_version=session.scalar(
            select(QuizVersion.content_version).where(QuizVersion.id == attempt.quiz_version_id)
        ),
        organisation=config["ORGANISATION"],
        issued_at=now,
        valid_until=add_years(now, config["CERTIFICATE_VALIDITY_YEARS"]),
        course_minutes=lesson.minutes,
    )
    _render(certificate)
    return certificate


def _render(certificate: Certificate) -> None:
    try:
        certificate_pdf.attach(certificate)
    except certificate_pdf.RenderError as error:
        raise CertificateError(str(error)) from error


def save_issued(session: Session, certificate: Certificate) -> Certificate:
    """Store a drafted certificate unless its attempt already has one; return the one kept.

    Raises AlreadyCertified when another claim issued the learner a valid certificate for
    the lesson meanwhile (the unique indexes on certificates refuse a second one), and
    CertificateError when the certificate it renews was corrected or revoked meanwhile."""
    existing = for_attempt(session, certificate.attempt_id)
    if existing is not None:
        return existing
    # Again inside the write: a revocation committed since the draft blocks this one too.
    if block_in_force(session, certificate.user_id, certificate.lesson) is not None:
        raise CertificateError(BLOCKED)
    # Read inside the write: a correction or revocation committed since the draft is seen
    # (one committed after this read is ordered after the renewal, as if it came later).
    if certificate.renews_id is not None and not _unrevoked_current(session, certificate.renews_id):
        raise CertificateError(
            "Your earlier certificate for this lesson changed while your certificate was being"
            " prepared (it was corrected or revoked): please confirm again."
        )
    try:
        with session.begin_nested():
            session.add(certificate)
    except IntegrityError:
        # A concurrent confirmation of this attempt won the race: keep theirs.
        kept = for_attempt(session, certificate.attempt_id)
        if kept is not None:
            return kept
        held = latest_for(session, certificate.user_id, certificate.lesson)
        if held is None:  # not a race over this learner's certificates: a real fault
            raise
        raise AlreadyCertified(held.code) from None
    learner_progress.refresh(session, certificate.user_id, certificate.lesson)
    return certificate


def _unrevoked_current(session: Session, certificate_id: int) -> bool:
    return (
        session.scalar(
            select(Certificate.id).where(
                Certificate.id == certificate_id,
                Certificate.superseded_at.is_(None),
                Certificate.revoked_at.is_(None),
            )
        )
        is not None
    )


def reissue(session: Session, certificate: Certificate, name: str, now: datetime) -> Certificate:
    """A corrected revision with the same code and dates; the old revision is superseded.

    A revoked certificate can be corrected too (its record then shows the right name) and
    stays revoked, with the same reason."""
    if certificate.withdrawn_at is not None:
        raise CertificateError(
            "A withdrawn certificate cannot be corrected: its details were deleted."
        )
    revision = Certificate(
        code=certificate.code,
        revision=certificate.revision + 1,
        user_id=certificate.user_id,
        attempt_id=certificate.attempt_id,
        renews_id=certificate.renews_id,
        lesson=certificate.lesson,
        lesson_title=certificate.lesson_title,
        name=clean_name(name),
        score_percent=certificate.score_percent,
        content_version=certificate.content_version,
        organisation=certificate.organisation,
        issued_at=certificate.issued_at,
        valid_until=certificate.valid_until,
        course_minutes=certificate.course_minutes,
        revoked_at=certificate.revoked_at,
        revoked_by_id=certificate.revoked_by_id,
        revoke_reason=certificate.revoke_reason,
        revoke_note=certificate.revoke_note,
    )
    _render(revision)
    return revision


def save_revision(
    session: Session, old: Certificate, new: Certificate, by: Person, now: datetime
) -> bool:
    """Supersede `old` by `new`; False, storing nothing, if `old` was corrected, revoked or
    reinstated meanwhile. One conditional UPDATE, so of two racing writers only one proceeds.

    The corrected name is the one this account's later certificates are offered."""
    unchanged = (
        Certificate.revoked_at.is_(None)
        if old.revoked_at is None
        else Certificate.revoked_at.is_not(None)
    )
    superseded = session.execute(
        update(Certificate)
        .where(
            Certificate.id == old.id,
            Certificate.superseded_at.is_(None),
            Certificate.withdrawn_at.is_(None),
            unchanged,
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    if superseded.rowcount != 1:
        return False
    session.add(new)
    if new.user_id is not None:
        session.execute(
            update(User).where(User.id == new.user_id).values(certificate_name=new.name)
        )
    record(session, new.code, "reissue", by, now, detail=f"{old.name} → {new.name}")
    session.flush()
    learner_progress.refresh(session, new.user_id, new.lesson)
    return True


def revoke(
    session: Session,
    certificate: Certificate,
    by: Person,
    reason: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Revoke the certificate in every revision (an older PDF must not still verify), and
    block the learner from a new certificate for the lesson until someone lifts the block.

    `reason` is public (one of REVOKE_REASONS); `note`, optional, is private."""
    note = _reason_and_note(reason, REVOKE_REASONS, note)
    if certificate.revoked_at is not None:
        raise CertificateError("This certificate is already revoked.")
    revoked = 0
    # Repeated until nothing is left: a revision committed while this ran (PostgreSQL's
    # statement snapshot would miss it) is caught by the next pass.
    while True:
        result = session.execute(
            update(Certificate)
            .where(Certificate.code == certificate.code, Certificate.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by_id=by.id, revoke_reason=reason, revoke_note=note)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:
            break
        revoked += result.rowcount
    if not revoked:  # a simultaneous revocation won
        raise CertificateError("This certificate is already revoked.")
    record(session, certificate.code, "revoke", by, now, reason, note)
    # Without the block the learner could pass again and be certified at once, which
    # would undo the revocation (and print whatever name the account has).
    if certificate.user_id is not None and insert_ignoring_duplicates(
        session,
        CertificationBlock,
        user_id=certificate.user_id,
        lesson=certificate.lesson,
        code=certificate.code,
        blocked_at=now,
        blocked_by_id=by.id,
    ):
        record(session, certificate.code, "block", by, now, reason)
    learner_progress.refresh(session, certificate.user_id, certificate.lesson)


def reinstate(
    session: Session,
    certificate: Certificate,
    by: Person,
    reason: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Undo a revocation, in every revision, and lift the block it set.

    `reason` is public (one of REINSTATE_REASONS); `note`, optional, is private. The
    revocation's own reason and note stay in the certificate's log."""
    note = _reason_and_note(reason, REINSTATE_REASONS, note)
    if certificate.withdrawn_at is not None:
        raise CertificateError(
            "A withdrawn certificate cannot be reinstated: its details were deleted."
        )
    if certificate.revoked_at is None:
        raise CertificateError("This certificate is not revoked.")
    undo = (
        update(Certificate)
        .where(
            Certificate.code == certificate.code,
            Certificate.revoked_at.is_not(None),
            Certificate.withdrawn_at.is_(None),
        )
        .values(revoked_at=None, revoked_by_id=None, revoke_reason=None, revoke_note=None)
        .execution_options(synchronize_session=False)
    )
    try:
        # A savepoint: the learner may hold a newer valid certificate for the lesson by now,
        # and the one-valid-certificate indexes then refuse this one.
        with session.begin_nested():
            reinstated = session.execute(undo).rowcount
    except IntegrityError:
        held = latest_for(session, certificate.user_id, certificate.lesson)
        raise CertificateError(
            "The learner now holds another valid certificate for this lesson"
            f"{f' ({held.code})' if held else ''}: only one can be valid at a time."
        ) from None
    if not reinstated:  # a simultaneous reinstatement won
        raise CertificateError("This certificate is not revoked.")
    record(session, certificate.code, "reinstate", by, now, reason, note)
    block = block_in_force(session, certificate.user_id, certificate.lesson)
    if block is not None and block.code == certificate.code:
        _lift(session, block, by, "Lifted by the issuer", None, now)
    learner_progress.refresh(session, certificate.user_id, certificate.lesson)


def block_in_force(session: Session, user_id: int | None, lesson: str) -> CertificationBlock | None:
    """The block a revocation set on this learner and lesson, if no one has lifted it."""
    if user_id is None:
        return None
    return session.scalar(
        select(CertificationBlock).where(
            CertificationBlock.user_id == user_id,
            CertificationBlock.lesson == lesson,
            CertificationBlock.lifted_at.is_(None),
        )
    )


def blocks_attempt(session: Session, attempt: QuizAttempt, catalogue: Catalogue) -> bool:
    """Whether a block keeps this attempt's pass from being certified."""
    quiz = catalogue.quizzes.get(attempt.quiz_id)
    return quiz is not None and block_in_force(session, attempt.user_id, quiz.lesson) is not None


def block_set_by(session: Session, code: str) -> CertificationBlock | None:
    """The block in force that the revocation of this code set."""
    return session.scalar(
        select(CertificationBlock).where(
            CertificationBlock.code == code, CertificationBlock.lifted_at.is_(None)
        )
    )


def unblock(
    session: Session,
    block: CertificationBlock,
    by: Person,
    reason: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Lift a certification block: the learner may be certified for the lesson again.

    `reason` is public (one of UNBLOCK_REASONS); `note`, optional, is private."""
    note = _reason_and_note(reason, UNBLOCK_REASONS, note)
    _lift(session, block, by, reason, note, now)


def _lift(
    session: Session,
    block: CertificationBlock,
    by: Person,
    reason: str,
    note: str | None,
    now: datetime,
) -> None:
    lifted = session.execute(
        update(CertificationBlock)
        .where(CertificationBlock.id == block.id, CertificationBlock.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by_id=by.id, lift_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if lifted.rowcount != 1:  # a simultaneous lift won
        raise CertificateError("This block was already lifted.")
    record(session, block.code, "unblock", by, now, reason, note)


def _reason_and_note(reason: str, allowed: tuple[str, ...], note: str | None) -> str | None:
    """Check a public reason against its list; the private note, stripped, or None."""
    if reason not in allowed:
        raise CertificateError("Please choose the public reason from the list.")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise CertificateError(f"The note is too long: at most {NOTE_MAX} characters.")
    return note


BLOCKED = (
    "Your certificate for this lesson was revoked, so no new one can be issued until your"
    " instructor has reviewed it. Please contact them."
)


def record(
    session: Session,
    code: str,
    action: str,
    by: Person,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
    detail: str | None = None,
) -> None:
    """Add a line to the certificate's audit log."""
    session.add(
        CertificateEvent(
            code=code,
            action=action,
            at=now,
            actor_id=by.id,
            actor_name=by.name,
            reason=reason,
            note=note,
            detail=detail,
        )
    )


def log_of(session: Session, code: str) -> list[CertificateEvent]:
    """A certificate's audit log, oldest first."""
    return list(
        session.scalars(
            select(CertificateEvent)
            .where(CertificateEvent.code == code)
            .order_by(CertificateEvent.at, CertificateEvent.id)
        )
    )


def reinstatement(session: Session, certificate: Certificate) -> CertificateEvent | None:
    """The latest reinstatement of a certificate in force now (its public reason is shown)."""
    if certificate.revoked_at is not None:
        return None
    return session.scalar(
        select(CertificateEvent)
        .where(CertificateEvent.code == certificate.code, CertificateEvent.action == "reinstate")
        .order_by(CertificateEvent.id.desc())
        .limit(1)
    )


def name_to_offer(session: Session, user_id: int) -> str:
    """The name a new certificate is offered: one an instructor corrected, else the account's."""
    return session.scalar(
        select(func.coalesce(User.certificate_name, User.name)).where(User.id == user_id)
    )


def withdraw(session: Session, certificate: Certificate, by: Person, now: datetime) -> None:
    """Withdraw a certificate at its holder's request, in every revision: the PDF and the
    name on it are deleted and the verify page says WITHDRAWN, while each cohort it was
    earned in keeps its completion record for the retention period (retention.py).

    A certificate not yet revoked is revoked by the withdrawal; an earlier revocation keeps
    its reason, note and author."""
    if certificate.withdrawn_at is not None:
        raise CertificateError("This certificate is already withdrawn.")
    retention.keep_records(session, now, Certificate.code == certificate.code)
    unrevoked = Certificate.revoked_at.is_(None)
    withdrawal = (
        update(Certificate)
        .where(Certificate.code == certificate.code, Certificate.withdrawn_at.is_(None))
        .values(
            withdrawn_at=now,
            pdf=None,
            name="",
            revoked_at=case((unrevoked, now), else_=Certificate.revoked_at),
            revoked_by_id=case((unrevoked, by.id), else_=Certificate.revoked_by_id),
            revoke_reason=case((unrevoked, WITHDRAWN), else_=Certificate.revoke_reason),
        )
        .execution_options(synchronize_session=False)
    )
    withdrawn = 0
    # Repeated until nothing is left, as revoke() is: a revision committed meanwhile too.
    while rowcount := session.execute(withdrawal).rowcount:
        withdrawn += rowcount
    if not withdrawn:  # a simultaneous withdrawal won
        raise CertificateError("This certificate is already withdrawn.")
    # The log's name corrections go with the name: the holder asked for it deleted.
    session.execute(
        update(CertificateEvent)
        .where(CertificateEvent.code == certificate.code)
        .values(detail=None)
        .execution_options(synchronize_session=False)
    )
    record(session, certificate.code, "withdraw", by, now, WITHDRAWN)
    if certificate.user_id is not None:
        learner_progress.refresh(session, certificate.user_id, certificate.lesson)


def by_pdf(session: Session, data: bytes) -> Certificate | None:
    """The certificate whose stored PDF has exactly these bytes."""
    return session.scalar(
        select(Certificate).where(Certificate.sha256 == hashlib.sha256(data).hexdigest())
    )
