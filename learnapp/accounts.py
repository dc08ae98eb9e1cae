"""Account services: create, change, reset, export and delete accounts. Callers commit."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from learnapp import learner_progress, retention
from learnapp.db import utcnow
from learnapp.emails import InvalidEmail, email_skeleton, normalise_email, valid_email
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
    new_session_token,
)
from learnapp.names import InvalidName, clean_name


class AccountError(ValueError):
    """A request about an account that cannot be granted; the message is for the user."""


class HashingBusy(RuntimeError):
    """Every slot for computing a password hash in this worker stayed taken for the short
    wait allowed: the request is refused, so that a flood is turned away, not queued."""


ARGON2_PREFIX = "$argon2"


class Passwords:
    """This worker's password hashing: Argon2id at the configured cost (argon2-cffi), and
    the slots that bound how many hashes it computes at once."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.hasher = PasswordHasher(
            time_cost=config["PASSWORD_ARGON2_TIME_COST"],
            memory_cost=config["PASSWORD_ARGON2_MEMORY_KIB"],
            parallelism=config["PASSWORD_ARGON2_PARALLELISM"],
        )
        self.slots = threading.BoundedSemaphore(config["PASSWORD_HASHES_AT_ONCE"])
        self.wait = float(config["PASSWORD_HASH_WAIT_SECONDS"])
        # A hash of no one's password, checked for an unknown e-mail; made now, so that not
        # even the first such login costs more than a wrong password.
        self.stand_in = self.hasher.hash(secrets.token_urlsafe(16))

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self.slots.acquire(timeout=self.wait):
            raise HashingBusy("Every password-hashing slot of this worker is busy.")
        try:
            yield
        finally:
            self.slots.release()

    def verify(self, stored: str, password: str) -> bool:
        if not stored.startswith(ARGON2_PREFIX):
            # werkzeug's format (scrypt, before Argon2id): checked at its own cost, and
            # replaced at the next successful login (`upgraded_hash`).
            return check_password_hash(stored, password)
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def init_app(app: Flask) -> None:
    app.extensions["learnapp.passwords"] = Passwords(app.config)


def _passwords() -> Passwords:
    return current_app.extensions["learnapp.passwords"]


def hash_password(password: str) -> str:
    """An Argon2id hash (parameters, salt and digest in one string) at the configured cost."""
    passwords = _passwords()
    with passwords.slot():
        return passwords.hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    passwords = _passwords()
    with passwords.slot():
        if user is None:
            # One check anyway, so that an unknown e-mail costs what a wrong password does.
            passwords.verify(passwords.stand_in, password)
            return False
        return passwords.verify(user.password_hash, password)


def upgraded_hash(user: User, password: str) -> str | None:
    """For a password just checked: a hash at today's cost when the stored one is older
    (werkzeug's scrypt, or Argon2 at other parameters), else None."""
    stored = user.password_hash
    if stored.startswith(ARGON2_PREFIX) and not _passwords().hasher.check_needs_rehash(stored):
        return None
    return hash_password(password)


def replace_hash(session: Session, user_id: int, old_hash: str, new_hash: str) -> None:
    """Store `new_hash` unless the password changed since `old_hash` was read: a login
    racing a password change must not bring the old password back."""
    session.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str | None = None,
    password_hash: str | None = None,
    role: str = "learner",
) -> User:
    """Add a user with a hashed password; the e-mail must not be taken.

    Give `password`, or its `password_hash` when the caller hashed it already (the register
    view does, before its write transaction, so that no lock is held meanwhile).
    """
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    email = _storable(email)
    name = _valid_name(name)
    if password_hash is None:
        if password is None:
            raise TypeError("create_user needs a password or its hash")
        # Hashed before the e-mail is looked up: a taken e-mail costs what a new one does.
        password_hash = hash_password(password)
    _refuse_taken(session, email, None, TAKEN, LOOKS_TAKEN)
    user = User(email=email, name=name, password_hash=password_hash, role=role)
    try:
        # A savepoint: a look-alike registered at the same moment (the unique skeleton
        # refuses the second) gets the message, and the caller's transaction goes on.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise AccountError(LOOKS_TAKEN) from None
    return user


TAKEN = "An account with this e-mail already exists. Log in instead, or use another e-mail."
LOOKS_TAKEN = (
    "This e-mail looks like the address of an existing account (some characters look alike)."
    " If it is yours, log in; otherwise please use another address."
)
USED_ELSEWHERE = "Another account uses this e-mail."
LOOKS_USED_ELSEWHERE = (
    "This e-mail looks like another account's address (some characters look alike)."
    " Please use another address."
)


def _valid_name(name: str) -> str:
    """The name as stored (learnapp/names.py), or AccountError with the rule's message."""
    try:
        return clean_name(name)
    except InvalidName as error:
        raise AccountError(str(error)) from error


def change_name(user: User, name: str) -> None:
    user.name = _valid_name(name)


def _storable(email: str) -> str:
    """The normalised address, or AccountError saying why it cannot be stored."""
    try:
        return valid_email(email)
    except InvalidEmail as error:
        raise AccountError(str(error)) from None


def _refuse_taken(
    session: Session, email: str, own_id: int | None, taken: str, looks_taken: str
) -> None:
    """AccountError if another account has this (normalised) address, or one that looks
    like it (the same UTS #39 skeleton)."""
    query = select(User.email).where(
        or_(User.email == email, User.email_skeleton == email_skeleton(email))
    )
    if own_id is not None:
        query = query.where(User.id != own_id)
    other = session.scalar(query.limit(1))
    if other is not None:
        raise AccountError(taken if other == email else looks_taken)


def end_sessions(user: User) -> None:
    """Invalidate every session and remember-me cookie the user holds."""
    # An SQL increment, so that two logouts at once both count.
    user.session_version = User.session_version + 1
    user.session_token = new_session_token()


def change_email(session: Session, user: User, email: str) -> None:
    email = _storable(email)
    if email == user.email:
        return
    _refuse_taken(session, email, user.id, USED_ELSEWHERE, LOOKS_USED_ELSEWHERE)
    user.email = email
    user.email_skeleton = email_skeleton(email)


def change_password(user: User, password: str) -> None:
    """Set a new password and end every other session: the caller logs this one in again."""
    user.password_hash = hash_password(password)
    end_sessions(user)


# Reset links carry a fingerprint of the password hash and the address: once the password
# changes, every link issued before stops working, so a link is single-use without storing
# anything; and once the address changes, a link mailed to the old one stops working too.


def _fingerprint(user: User) -> str:
    bound = f"{user.password_hash}\x00{user.email}"
    return hashlib.sha256(bound.encode()).hexdigest()[:16]


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


NOT_EXPORTED = ("pdf", "password_hash", "session_token", "email_skeleton")


def personal_data(session: Session, user: Person) -> dict[str, Any]:
    """Everything stored about a user, for them to download (certificate PDFs by hash; no
    credentials: the password hash and the session token stay on the server, as does the
    e-mail's look-alike skeleton, derived from the address).

    One thing waits: while an attempt is open, its draw lists each question's choices
    (options, pairs or items) by display position only, as the attempt page does, since their
    ids in display order would give the key away. The row says so in a `note`; the ids are
    exported once the attempt is closed.
    """

    def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
        columns = [c for c in model.__table__.columns if c.key not in NOT_EXPORTED]
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
    """Delete the account and its progress; certificates stay as verifiable records, and
    each cohort keeps a completion record of those earned in it (retention.py)."""
    if user.role != "learner":
        raise AccountError(
            "Instructor and admin accounts are closed by an admin, so that cohorts are handed over first."
        )
    # Its enrolments and learner_progress rows go with it (ON DELETE CASCADE), so the counts
    # its cohorts' dashboards cached are out of date.
    learner_progress.lock(session, user.id)
    learner_progress.touch_cohorts(session, Cohort.id.in_(learner_progress.cohorts_of([user.id])))
    # Copied before the enrolments go: they say which cohort each certificate was earned in.
    retention.keep_records(session, utcnow(), Certificate.user_id == user.id)
    session.delete(user)
    session.flush()
