"""Account services: register and create users. Callers commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from learnapp.models import ROLES, User
from learnapp.security import hash_password, normalise_email

__all__ = ["AccountError", "create_user", "end_sessions", "find_by_email", "normalise_email"]


class AccountError(ValueError):
    """A request about an account that cannot be granted; the message is for the user."""


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
