"""Who may do what: login manager, role checks, throttles, safe redirects, headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, user_logged_in, user_login_confirmed
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from learnapp.db import get_session
from learnapp.models import Cohort, Enrolment, Person, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
# flask-login's own "strong" protection would log users out when their address changes
# (phones on the move); session versions in the user id give us revocation instead.
login_manager.session_protection = None


def _drop_session_identifier(_app: Flask, **_extra: Any) -> None:
    """flask-login stores a hash of the address and browser (`_id`) at every login for its
    session protection, which is off: kept, it would only double the size of the session
    cookie that every request sends and every page decodes."""
    session.pop("_id", None)


@login_manager.needs_refresh_handler
def ask_for_password_again() -> Response:
    """A session restored from a remember-me cookie must log in again before it may change
    how the account logs in. After a POST (a settings form), back to the settings page."""
    flash("Please log in again to confirm it is you.", "info")
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=safe_next(back) or url_for("account.settings")))


@dataclass(frozen=True)
class SignedIn(UserMixin):
    """The signed-in account as every request sees it (`current_user`): the columns pages
    and permission checks need, read with one plain query and no ORM object. It is not
    the `User` row: a view that changes the account loads that with `account_row()`."""

    id: int
    name: str
    email: str
    role: str
    session_version: int

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_instructor(self) -> bool:
        return self.role in ("instructor", "admin")


# The columns `SignedIn` is made of, for the account a session names.
_SIGNED_IN = select(User.id, User.name, User.email, User.role, User.session_version).where(
    User.id == bindparam("id"), User.is_enabled.is_(True)
)


def _identity_in(user_id: str) -> tuple[int, int] | None:
    """The account id and session version a session cookie names (see `SignedIn.get_id`)."""
    raw_id, _, version = user_id.partition(":")
    if not raw_id.isdigit() or not version.isdigit():
        return None
    return int(raw_id), int(version)


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    identity = _identity_in(user_id)
    if identity is None:
        return None
    row = get_session().execute(_SIGNED_IN, {"id": identity[0]}).first()
    user = None if row is None else SignedIn(*row)
    # A password change or "log out everywhere" raised the version: this session has ended.
    return user if user is not None and user.session_version == identity[1] else None


def account_row(db: Session) -> User:
    """The signed-in user's `User` row, for the views that change the account."""
    return db.get_one(User, current_user.id)


def role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Anonymous users are sent to log in; a signed-in user without the role gets 403."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


class Throttle:
    """Counts events (failed logins, guesses) per key in storage all workers share."""

    def __init__(self, storage_url: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def allows(self, limit: str, *key: str) -> bool:
        return self.limiter.test(parse(limit), *key)

    def record(self, limit: str, *key: str) -> None:
        self.limiter.hit(parse(limit), *key)

    def forget(self, limit: str, *key: str) -> None:
        self.limiter.clear(parse(limit), *key)

    def retry_after(self, limit: str, *key: str) -> int:
        """Seconds until the next event is allowed again."""
        reset, _remaining = self.limiter.get_window_stats(parse(limit), *key)
        return max(1, int(reset - time.time()))


def throttle() -> Throttle:
    return current_app.extensions["learnapp.throttle"]


def client_address() -> str:
    # Behind a reverse proxy, ProxyFix (LEARNAPP_PROXY_FIX) has already put the real address here.
    return request.remote_addr or "unknown"


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: no open redirects."""
    if not target or target != target.strip() or any(c in target for c in "\\\t\r\n"):
        return None
    decoded = unquote(unquote(target))
    for candidate in (target, decoded):
        parts = urlsplit(candidate)
        if (
            parts.scheme
            or parts.netloc
            or not candidate.startswith("/")
            or candidate.startswith("//")
        ):
            return None
        if "\\" in candidate or any(ord(c) < 32 for c in candidate):
            return None
    return target


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    # Pages for a signed-in person are theirs alone: no shared or back-button caches.
    if "_user_id" in session and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def refuse_nul_characters() -> None:
    """PostgreSQL can neither store nor compare text holding a NUL character, so a NUL in
    the address, the query or a form field is refused here (400), not in the database (500)."""
    fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
        abort(400, description="The request contains a character that cannot be used (NUL).")


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.extensions["learnapp.throttle"] = Throttle(app.config["RATELIMIT_STORAGE_URL"])
    user_logged_in.connect(_drop_session_identifier, app)
    user_login_confirmed.connect(_drop_session_identifier, app)
    app.before_request(refuse_nul_characters)
    app.after_request(add_security_headers)


def manages_learner(db: Session, user: Person, learner_id: int | None) -> bool:
    """Admins manage everyone; an instructor manages the learners of their own cohorts."""
    if user.role == "admin":
        return True
    if user.role != "instructor" or learner_id is None:
        return False
    return (
        db.scalar(
            select(Enrolment.id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .where(Cohort.instructor_id == user.id, Enrolment.user_id == learner_id)
            .limit(1)
        )
        is not None
    )
