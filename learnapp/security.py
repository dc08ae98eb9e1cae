"""Who may do what: login manager, password hashing, throttles, safe redirects, headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, user_logged_in, user_login_confirmed
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from learnapp.db import DirectQuery, autocommit
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


_users = User.__table__


def signed_in_select(*page_columns: Any) -> Select[Any]:
    """The signed-in user's columns (for the user id `:id`), then `page_columns`: the start
    of a busy page's one statement (see `load_user_with`)."""
    users = _users.c
    return (
        select(users.id, users.name, users.email, users.role, users.session_version)
        .add_columns(*page_columns)
        .select_from(_users)
        .where(users.id == bindparam("id"), users.is_enabled.is_(True))
    )


# Every signed-in request runs it, unless its page loads the user with its own rows.
_SIGNED_IN = DirectQuery(signed_in_select())
_SIGNED_IN_FIELDS = len(fields(SignedIn))


def session_identity() -> tuple[int, int] | None:
    """The account id and session version this request's session names, unchecked: whether
    that account is enabled and still signed in with that version is for the database to
    say (`load_user`, or a statement that checks it itself)."""
    return _session_identity(session.get("_user_id") or "")


def _session_identity(user_id: str) -> tuple[int, int] | None:
    """The account id and session version a session cookie names (see `SignedIn.get_id`)."""
    raw_id, _, version = user_id.partition(":")
    if not raw_id.isdigit() or not version.isdigit():
        return None
    return int(raw_id), int(version)


def _signed_in(row: tuple[Any, ...] | None, version: int) -> SignedIn | None:
    """The snapshot of a signed_in_select row, if the session is still that account's."""
    user = None if row is None else SignedIn(*row[:_SIGNED_IN_FIELDS])
    return user if user and user.session_version == version else None


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    identity = _session_identity(user_id)
    if identity is None:
        return None
    return _signed_in(_SIGNED_IN.first(autocommit(), id=identity[0]), identity[1])


def load_user_with(query: DirectQuery, **params: Any) -> list[tuple[Any, ...]]:
    """Sign the request in, as flask-login's user loader would, and read the page's own rows
    in the same statement: on PostgreSQL each statement is a round trip, and the busiest
    requests (lesson pages, a certificate download, a quiz submit) can do with one.

    `query` is a `signed_in_select(...)` with the page's tables outer-joined, so that the
    user's row comes back even when the page has none. Returns the page's columns of each row
    (all None when the join found nothing). When nobody is signed in, the request ends as
    `login_required` would end it (`login_manager.unauthorized()`: to the login page).
    """
    identity = session_identity()
    if identity is not None and "_login_user" not in g:
        rows = query.all(autocommit(), id=identity[0], **params)
        user = _signed_in(rows[0] if rows else None, identity[1])
        if user is not None:
            # Where flask-login keeps the request's user (as LoginManager._load_user does).
            login_manager._update_request_context_with_user(user)
            return [row[_SIGNED_IN_FIELDS:] for row in rows]
    # Signed in some other way (a remember-me cookie), or not at all: the usual way, then
    # the page's rows on their own.
    rows = (
        query.all(autocommit(), id=current_user.id, **params)
        if current_user.is_authenticated
        else []
    )
    if not rows:
        abort(login_manager.unauthorized())
    return [row[_SIGNED_IN_FIELDS:] for row in rows]


def account_row(db: Session) -> User:
    """The signed-in user's `User` row, for the views that change the account."""
    return db.get_one(User, current_user.id)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user: User | None, password: str) -> bool:
    if user is None:
        # Hash anyway, so that an unknown e-mail takes as long as a wrong password.
        generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
        return False
    return check_password_hash(user.password_hash, password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


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
