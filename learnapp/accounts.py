"""Account services: create, change, reset and delete accounts (the data export is
personal_data.py). Callers commit."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from werkzeug.security import check_password_hash

from learnapp import learner_progress, retention
from learnapp.db import utcnow
from learnapp.emails import InvalidEmail, email_skeleton, normalise_email, valid_email
from learnapp.links import public_url_for
from learnapp.models import (
    INSTRUCTOR_NUMBER_MAX,
    ROLES,
    Cohort,
    CohortInstructor,
    Person,
    User,
    new_session_token,
)
from learnapp.names import InvalidName, clean_name
from learnapp.outbox import enqueue_mail
from learnapp.plurals import counted


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
    confirmed: bool = False,
) -> User:
    """Add a user with a hashed password; the e-mail must not be taken.

    Give `password`, or its `password_hash` when the caller hashed it already (the register
    view does, before its write transaction, so that no lock is held meanwhile).
    `confirmed=True` for an address that a trusted single sign-on (an LMS launch) vouches
    for; otherwise it waits for the link `send_confirmation` mails.
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
    user = User(
        email=email,
        name=name,
        password_hash=password_hash,
        role=role,
        email_confirmed_at=utcnow() if confirmed else None,
    )
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


def change_instructor_profile(
    user: User, printed_name: str, number: str, issuing_body: str
) -> None:
    """An instructor's profile: the name to print (empty: the account's name), and their
    instructor number with the body that issued it, both or neither. AccountError says
    what is wrong; nothing changes then."""
    name = _valid_name(printed_name) if printed_name.strip() else None
    cleaned = clean_instructor_number(number)
    body = _valid_name(issuing_body) if issuing_body.strip() else None
    if (cleaned is None) != (body is None):
        raise AccountError(NUMBER_NEEDS_BODY)
    user.instructor_name = name
    user.instructor_number = cleaned
    user.instructor_issuing_body = body


# An instructor number as issuing bodies write them (WSI-123456, IT 2024/0042): letters and
# digits of any script, spaces and a little punctuation; nothing that reorders or hides text.
NUMBER_PUNCTUATION = frozenset(" -/.#:")
NUMBER_CHARACTERS = "Give the number as issued: letters, digits, spaces and - / . # : only."
NUMBER_NEEDS_BODY = "Give the instructor number together with the body that issued it."


def clean_instructor_number(raw: str) -> str | None:
    """The number to store, spaces collapsed; None for none; AccountError if it is too long
    or has other characters."""
    number = " ".join(raw.split())
    if not number:
        return None
    if len(number) > INSTRUCTOR_NUMBER_MAX:
        raise AccountError(f"The number is too long: at most {INSTRUCTOR_NUMBER_MAX} characters.")
    if not all(c.isalnum() or c in NUMBER_PUNCTUATION for c in number):
        raise AccountError(NUMBER_CHARACTERS)
    return number


def change_name(user: User, name: str) -> None:
    user.name = _valid_name(name)
    # The learner's own choice now: a name an instructor corrected their certificate to is
    # no longer offered for later ones.
    user.certificate_name = None


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


def change_password(user: User, password: str) -> None:
    """Set a new password and end every other session: the caller logs this one in again.

    A pending e-mail change is withdrawn too: the notice of a change one did not ask for
    says that changing (or resetting) the password stops it."""
    user.password_hash = hash_password(password)
    user.pending_email = None
    end_sessions(user)


# --- Confirmed addresses -------------------------------------------------------------------
# An address is confirmed by following a link mailed to it. Until then the account is used
# as usual, and gets only mail about the account itself (ACCOUNT_MAIL): the confirmation, a
# password reset, the notice of an e-mail change. An e-mail change takes effect only once a
# link mailed to the new address is followed, so that a typo never loses the way back in.

# Mail that goes to an account's address whether or not it is confirmed: it is how an
# address gets confirmed, or how its owner keeps (or regains) the account.
ACCOUNT_MAIL = frozenset({"confirmation", "password-reset", "email-change-notice"})


def may_mail(user: User, kind: str) -> bool:
    """Whether mail of `kind` may go to the user's address: account mail (ACCOUNT_MAIL) to any
    enabled account; any other kind (reminders) only once the address is confirmed.

    A query that picks whom to mail says the same with
    `User.is_enabled.is_(True), User.email_confirmed_at.is_not(None)`."""
    if not user.is_enabled:
        return False
    return kind in ACCOUNT_MAIL or user.email_confirmed_at is not None


LINK_INVALID = "This confirmation link is not valid. You can ask for a new one on this page."
LINK_EXPIRED = "This confirmation link has expired. You can ask for a new one on this page."
LINK_FOR_ANOTHER_ACCOUNT = (
    "This confirmation link was sent for another account. Log out, then log in with that"
    " account and open the link again."
)
LINK_SUPERSEDED = (
    "This link is for an address this account no longer asks for: a newer request replaced"
    " it, or it was withdrawn. Nothing was changed."
)
LINK_TAKEN = (
    "Another account uses {address} now (or an address that looks like it), so it cannot"
    " become yours. Nothing was changed."
)


def _confirmation_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="email-confirmation")


def confirmation_token(user: User, address: str, secret_key: str) -> str:
    """A link's token for confirming `address` (the account's own, or its pending one).

    It binds the account and the address: a link for an address the account no longer has or
    asks for confirms nothing, and once a pending address has become the account's, its link
    only says so. No state is stored for it."""
    return _confirmation_serializer(secret_key).dumps({"user": user.id, "email": address})


def address_to_confirm(
    session: Session, user: User, token: str, secret_key: str, max_age: int
) -> str:
    """The address a link confirms for the signed-in `user`: their own (the link sent at
    registration or by "send again") or their pending one (an e-mail change).

    AccountError, with the message, when the link is forged or expired, was sent for another
    account, is for an address the account no longer asks for (a newer request replaced it),
    or is for an address that another account (or a look-alike) has taken since."""
    try:
        data = _confirmation_serializer(secret_key).loads(token, max_age=max_age)
    except SignatureExpired:
        raise AccountError(LINK_EXPIRED) from None
    except BadSignature:
        raise AccountError(LINK_INVALID) from None
    if not isinstance(data, dict) or not isinstance(data.get("email"), str):
        raise AccountError(LINK_INVALID)
    if data.get("user") != user.id:
        raise AccountError(LINK_FOR_ANOTHER_ACCOUNT)
    address = data["email"]
    if address == user.email:
        return address
    if address != user.pending_email:
        raise AccountError(LINK_SUPERSEDED)
    # Checked again now, as when it was asked for: the address is not reserved meanwhile.
    taken = LINK_TAKEN.format(address=address)
    _refuse_taken(session, address, user.id, taken, taken)
    return address


def confirm_email(session: Session, user: User, token: str, secret_key: str, max_age: int) -> bool:
    """Follow a confirmation link, checked again as `address_to_confirm` does: the address is
    marked confirmed, and a pending one becomes the account's address (the one to log in
    with, and mailed), which ends every session: the caller logs this one in again.

    True when the address changed; AccountError (nothing changed) when the link is refused."""
    address = address_to_confirm(session, user, token, secret_key, max_age)
    if address == user.email:
        if user.email_confirmed_at is None:
            user.email_confirmed_at = utcnow()
            session.flush()
        return False
    try:
        # A savepoint: an address (or a look-alike) taken at the same moment is refused by
        # the unique columns, and the caller gets the message rather than an IntegrityError.
        with session.begin_nested():
            user.email = address
            user.email_skeleton = email_skeleton(address)
            user.pending_email = None
            user.email_confirmed_at = utcnow()
            # Other devices signed in with the old address log in again with the new one.
            end_sessions(user)
    except IntegrityError:
        raise AccountError(LINK_TAKEN.format(address=address)) from None
    return True


def request_email_change(session: Session, user: User, email: str) -> bool:
    """Ask for `email` to become the account's address. It is kept as the pending address, a
    link to confirm it is mailed to it, and the address in use is told; that one stays the
    address to log in with and to reset the password through until the link is followed
    (`confirm_email`). A newer request replaces the pending address, and its links.

    Giving the current address withdraws a pending change instead, and mails nothing.
    True when a change is now pending; AccountError when the address is refused."""
    email = _storable(email)
    if email == user.email:
        user.pending_email = None
        session.flush()
        return False
    _refuse_taken(session, email, user.id, USED_ELSEWHERE, LOOKS_USED_ELSEWHERE)
    user.pending_email = email
    config = current_app.config
    hours = config["EMAIL_CONFIRMATION_MAX_AGE"] // 3600
    site = config["SITE_NAME"]
    link = _confirmation_link(user, email)
    enqueue_mail(
        session,
        email,
        f"Confirm your new e-mail address for {site}",
        f"Hello {user.name},\n\nYou asked to use this address for your {site} account instead"
        f" of {user.email}. To make the change, open this link within {hours} hours (log in"
        f" if you are asked to) and press the button on the page:\n\n{link}\n\n"
        f"Until then you keep logging in with {user.email}. If you did not ask for this,"
        " ignore this message: nothing changes.\n",
    )
    enqueue_mail(
        session,
        user.email,
        f"Someone asked to change the e-mail address of your {site} account",
        f"Hello {user.name},\n\nSomeone signed in to your {site} account asked to change its"
        f" e-mail address from this one to {email}. Nothing changes until the link we sent to"
        f" {email} is followed; until then you keep logging in with this address.\n\n"
        "If it was you, there is nothing more to do here. If it was not you, change your"
        " password now (or reset it from the login page, through this address): that stops"
        " the change and logs every other device out of your account.\n",
    )
    session.flush()
    return True


def send_confirmation(session: Session, user: User) -> None:
    """Mail the account's address a link that confirms it (at registration, and "send
    again"), through the outbox, in the caller's transaction."""
    config = current_app.config
    hours = config["EMAIL_CONFIRMATION_MAX_AGE"] // 3600
    site = config["SITE_NAME"]
    link = _confirmation_link(user, user.email)
    enqueue_mail(
        session,
        user.email,
        f"Confirm your e-mail address for {site}",
        f"Hello {user.name},\n\nTo confirm that this address is yours, open this link within"
        f" {hours} hours (log in if you are asked to) and press the button on the page:\n\n"
        f"{link}\n\nYou can use your account meanwhile; until the address is confirmed we"
        " send it nothing but mail about the account itself (no reminders). If you did not"
        f" create a {site} account, ignore this message.\n",
    )


def _confirmation_link(user: User, address: str) -> str:
    token = confirmation_token(user, address, current_app.secret_key)
    return public_url_for("account.confirm_email", token=token)


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


STAFF_CLOSED_BY_ADMIN = (
    "Instructor and admin accounts are closed by an admin, so that cohorts are handed over first."
)


def deletion_refused(session: Session, user: User, by_admin: Person | None = None) -> str | None:
    """Why the account cannot be deleted (by its owner, or by the admin `by_admin`), else None.

    Its owner may delete a learner's account. An admin may delete anyone's but their own,
    unless the account is the only instructor of a cohort, which would be left with no one
    to run it. A co-instructor's account goes from the cohorts it shares (cohort_instructors
    cascades); a cohort outlives its creator's (cohorts.instructor_id is set to NULL)."""
    if by_admin is None:
        return STAFF_CLOSED_BY_ADMIN if user.role != "learner" else None
    if user.id == by_admin.id:
        return "You cannot delete your own account; ask another admin."
    others = aliased(CohortInstructor)
    alone = session.scalar(
        select(func.count())
        .select_from(CohortInstructor)
        .where(
            CohortInstructor.user_id == user.id,
            ~exists().where(
                others.cohort_id == CohortInstructor.cohort_id, others.user_id != user.id
            ),
        )
    )
    if alone:
        return (
            f"{user.name} runs {counted(alone, 'cohort')} (archived ones included) with no"
            " other instructor. Add another instructor to each on its dashboard, then delete"
            " the account. Disable the account to stop it logging in meanwhile."
        )
    return None


def delete_account(session: Session, user: User, by_admin: Person | None = None) -> None:
    """Delete the account and its progress; certificates stay as verifiable records, and
    each cohort keeps a completion record of those earned in it (retention.py). The owner's
    request, or `by_admin`'s; AccountError when `deletion_refused` says why not."""
    refusal = deletion_refused(session, user, by_admin)
    if refusal is not None:
        raise AccountError(refusal)
    # Its enrolments and learner_progress rows go with it (ON DELETE CASCADE), so the counts
    # its cohorts' dashboards cached are out of date.
    learner_progress.lock(session, user.id)
    learner_progress.touch_cohorts(session, Cohort.id.in_(learner_progress.cohorts_of([user.id])))
    # Copied before the enrolments go: they say which cohort each certificate was earned in.
    retention.keep_for_former_member(session, utcnow(), user.id, retention.DELETED)
    session.delete(user)
    session.flush()
