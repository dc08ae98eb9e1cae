"""Account services: create, change, reset, export and delete accounts. Callers commit."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from learnapp import learner_progress
from learnapp.models import (
    ROLES,
    Answer,
    Certificate,
    Cohort,
    DisclaimerAcknowledgement,
    Enrolment,
    Person,
    QuizAttempt,
    SectionRead,
    User,
)


class AccountError(ValueError):
    """A request about an account that cannot be granted; the message is for the user."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user: User | None, password: str) -> bool:
    if user is None:
        # Hash anyway, so that an unknown e-mail takes as long as a wrong password.
        hash_password(password)
        return False
    return check_password_hash(user.password_hash, password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session, *, email: str, name: str, password: str, role: str = "learner"
) -> User:
    """Add a user with a hashed password; the e-mail must not be taken."""
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    email = normalise_email(email)
    name = " ".join(name.split())
    if not name:
        raise AccountError("Please give a name.")
    if find_by_email(session, email) is not None:
        raise AccountError(
            "An account with this e-mail already exists. Log in instead, or use another e-mail."
        )
    user = User(email=email, name=name, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session and remember-me cookie the user holds."""
    # An SQL increment, so that two logouts at once both count.
    user.session_version = User.session_version + 1


def change_email(session: Session, user: User, email: str) -> None:
    email = normalise_email(email)
    if email == user.email:
        return
    if find_by_email(session, email) is not None:
        raise AccountError("Another account uses this e-mail.")
    user.email = email


def change_password(user: User, password: str) -> None:
    """Set a new password and end every other session: the caller logs this one in again."""
    user.password_hash = hash_password(password)
    end_sessions(user)


# Reset links carry a fingerprint of the password hash: once the password changes, every
# link issued before stops working, so a link is single-use without storing anything.


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _reset_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="password-reset")


def reset_token(user: User, secret_key: str) -> str:
    return _reset_serializer(secret_key).dumps({"user": user.id, "fp": _fingerprint(user)})


def user_for_reset(session: Session, token: str, secret_key: str, max_age: int) -> User | None:
    """The user a reset link is for, or None if it is forged, expired or already used."""
    try:
        data = _reset_serializer(secret_key).loads(token, max_age=max_age)
    except BadSignature:
        return None
    user = session.get(User, data.get("user")) if isinstance(data, dict) else None
    if user is None or not user.is_enabled or data.get("fp") != _fingerprint(user):
        return None
    return user


def personal_data(session: Session, user: Person) -> dict[str, Any]:
    """Everything stored about a user, for them to download (certificate PDFs by hash).

    One thing waits: while an attempt is open, its draw lists each question's choices
    (options, pairs or items) by display position only, as the attempt page does, since their
    ids in display order would give the key away. The row says so in a `note`; the ids are
    exported once the attempt is closed.
    """

    def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
        columns = [c for c in model.__table__.columns if c.key not in ("pdf", "password_hash")]
        return [
            {c.key: _jsonable(value) for c, value in zip(columns, row, strict=True)}
            for row in session.execute(select(*columns).where(*where))
        ]

    attempts = [
        _without_key(attempt) for attempt in rows(QuizAttempt, QuizAttempt.user_id == user.id)
    ]
    attempt_ids = [a["id"] for a in attempts]
    return {
        "account": rows(User, User.id == user.id)[0],
        "section_reads": rows(SectionRead, SectionRead.user_id == user.id),
        "disclaimer_acknowledgements": rows(
            DisclaimerAcknowledgement, DisclaimerAcknowledgement.user_id == user.id
        ),
        "quiz_attempts": attempts,
        "answers": rows(Answer, Answer.attempt_id.in_(attempt_ids)),
        "certificates": rows(Certificate, Certificate.user_id == user.id),
        "cohorts": rows(Enrolment, Enrolment.user_id == user.id),
    }


OPEN_DRAW_NOTE = (
    "This attempt is still open, so each drawn question lists only the positions its choices"
    " are shown at. Which choice is at which position is added here once you submit it."
)


def _without_key(attempt: dict[str, Any]) -> dict[str, Any]:
    """An exported attempt row, its draw as display positions unless the attempt is closed."""
    if attempt["state"] == "closed":
        return attempt
    drawn = [
        {"id": entry["id"], "positions": list(range(1, len(entry["order"]) + 1))}
        for entry in attempt["drawn"]
    ]
    return {**attempt, "drawn": drawn, "note": OPEN_DRAW_NOTE}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def delete_account(session: Session, user: User) -> None:
    """Delete the account and its progress; certificates stay as verifiable records."""
    if user.role != "learner":
        raise AccountError(
            "Instructor and admin accounts are closed by an admin, so that cohorts are handed over first."
        )
    # Its enrolments and learner_progress rows go with it (ON DELETE CASCADE), so the counts
    # its cohorts' dashboards cached are out of date.
    learner_progress.lock(session, user.id)
    learner_progress.touch_cohorts(session, Cohort.id.in_(learner_progress.cohorts_of([user.id])))
    session.delete(user)
    session.flush()
