"""Who may do what: login manager, role checks, throttles, safe redirects, headers."""

from __future__ import annotations

import math
import secrets
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
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from learnapp.cohorts import earned_in_cohort, instructed_by
from learnapp.db import get_session
from learnapp.models import Certificate, Cohort, Enrolment, Person, User, session_identity

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
    session_token: str

    def get_id(self) -> str:
        return session_identity(self.id, self.session_version, self.session_token)

    @property
    def is_instructor(self) -> bool:
        return self.role in ("instructor", "admin")


# The columns `SignedIn` is made of, for the account a session names.
_SIGNED_IN = select(
    User.id, User.name, User.email, User.role, User.session_version, User.session_token
).where(User.id == bindparam("id"), User.is_enabled.is_(True))


def _identity_in(user_id: str) -> tuple[int, str] | None:
    """The account id a session cookie names, and its whole identity to compare (see
    `models.session_identity`). Cookies from before the token ("id:version") name none."""
    raw_id, _, rest = user_id.partition(":")
    version, _, token = rest.partition(":")
    numbers = raw_id + version
    if not (raw_id and version and token and numbers.isascii() and numbers.isdigit()):
        return None
    return int(raw_id), user_id


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    identity = _identity_in(user_id)
    if identity is None:
        return None
    # A Core statement on the session's connection: every signed-in request runs it, and the
    # ORM's execution path costs more than the query (BENCHMARKS.md, issue 17).
    row = get_session().connection().execute(_SIGNED_IN, {"id": identity[0]}).first()
    user = None if row is None else SignedIn(*row)
    # A password change or "log out everywhere" renewed the version and token: this session
    # has ended. An account that has this id but not this token is another account.
    if user is None or not secrets.compare_digest(user.get_id().encode(), identity[1].encode()):
        return None
    return user


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
    """Counts events (failed logins, guesses) per key in storage all workers share.

    A limit may be several, separated by ";" ("5 per minute; 20 per hour", limits'
    `parse_many`): an event is allowed while each has room, so the wait grows with the
    events counted.
    """

    def __init__(self, storage_url: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def allows(self, limit: str, *key: str) -> bool:
        return all(self.limiter.test(item, *key) for item in parse_many(limit))

    def record(self, limit: str, *key: str) -> None:
        for item in parse_many(limit):
            self.limiter.hit(item, *key)

    def forget(self, limit: str, *key: str) -> None:
        for item in parse_many(limit):
            self.limiter.clear(item, *key)

    def retry_after(self, limit: str, *key: str) -> int:
        """Seconds until the next event is allowed again: the longest wait of those reached."""
        waits = [1]
        for item in parse_many(limit):
            if not self.limiter.test(item, *key):
                reset, _remaining = self.limiter.get_window_stats(item, *key)
                waits.append(math.ceil(reset - time.time()))
        return max(waits)


def throttle() -> Throttle:
    return current_app.extensions["learnapp.throttle"]


def wait_in_words(seconds: int) -> str:
    """A throttle's wait as a message says it: 45 seconds, 3 minutes, 2 hours."""
    if seconds < 90:
        count, unit = seconds, "second"
    elif seconds < 90 * 60:
        count, unit = math.ceil(seconds / 60), "minute"
    else:
        count, unit = math.ceil(seconds / 3600), "hour"
    return f"{count} {unit}{'' if count == 1 else 's'}"


def client_address() -> str:
    # Behind a reverse proxy, ProxyFix (LEARNAPP_PROXY_FIX) has already put the real address here.
    return request.remote_addr or "unknown"


# A device that has signed in to an account before carries a signed cookie naming the account
# (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): failed logins from other
# devices delay only those, so no one can lock an owner out of their own account.
DEVICE_COOKIE = "learnapp_device"
# A shared computer (a classroom's) is known for its last few accounts.
DEVICE_ACCOUNTS = 10


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="login-device")


def _device_cookie() -> dict[str, Any] | None:
    """The device cookie this request carries, when it is ours and has not expired."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    max_age = current_app.config["LOGIN_DEVICE_DAYS"] * 86400
    try:
        data = _device_serializer().loads(raw, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("device"), str):
        return None
    if not isinstance(data.get("accounts"), list):
        return None
    return data


def known_device(user_id: int | None) -> str | None:
    """This device's id when it has signed in to the account `user_id` before, else None."""
    data = _device_cookie()
    if user_id is None or data is None or user_id not in data["accounts"]:
        return None
    return data["device"]


def remember_device(response: Response, user_id: int, path: str) -> None:
    """Mark this device as one that has signed in to the account (kept LOGIN_DEVICE_DAYS,
    sent only under `path`, the login pages)."""
    data = _device_cookie() or {"device": secrets.token_urlsafe(16), "accounts": []}
    accounts = [user_id, *(known for known in data["accounts"] if known != user_id)]
    value = _device_serializer().dumps(
        {"device": data["device"], "accounts": accounts[:DEVICE_ACCOUNTS]}
    )
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=current_app.config["LOGIN_DEVICE_DAYS"] * 86400,
        path=path,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


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


SUBMIT_METHODS = ("POST", "PUT", "PATCH", "DELETE")  # those Flask-WTF reads a form from


def takes_files(*fields: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view whose form has file fields: these, and no others, may be sent as files."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        view.file_fields = frozenset(fields)  # type: ignore[attr-defined]
        return view

    return mark


def refuse_what_forms_cannot_take() -> None:
    """A form's text field gets text. Flask-WTF hands a form request.files merged with
    request.form, or a JSON body, so a file part or a JSON number where the form expects text
    reached WTForms' validators (len() of a file) and answered 500. Such requests are refused
    here with a 400 that says why: files only where the view says so (takes_files), no JSON."""
    if request.method in SUBMIT_METHODS and request.is_json:
        abort(400, description="This address takes a form, not JSON: please use its page.")
    view = current_app.view_functions.get(request.endpoint or "")
    expected = getattr(view, "file_fields", frozenset())
    for field in request.files:
        if field not in expected:
            shown = field.isprintable() and len(field) <= 40
            label = f"The field “{field}”" if shown else "A field of this form"
            abort(400, description=f"{label} takes text, not a file: please type it in the form.")


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.extensions["learnapp.throttle"] = Throttle(app.config["RATELIMIT_STORAGE_URL"])
    user_logged_in.connect(_drop_session_identifier, app)
    user_login_confirmed.connect(_drop_session_identifier, app)
    app.before_request(refuse_nul_characters)
    app.before_request(refuse_what_forms_cannot_take)
    app.after_request(add_security_headers)


def manages_certificate(db: Session, user: Person, certificate: Certificate) -> bool:
    """Who may revoke or correct a certificate: admins, and the instructors (each of them:
    cohort_instructors) of a cohort the learner earned it in (not one joined after earning
    it: cohorts.earned_in_cohort)."""
    if user.role == "admin":
        return True
    if user.role != "instructor" or certificate.user_id is None:
        return False
    return (
        db.scalar(
            select(Enrolment.id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .join(Certificate, Certificate.id == certificate.id)
            .where(instructed_by(user.id), earned_in_cohort())
            .limit(1)
        )
        is not None
    )


def manages_learner(db: Session, user: Person, learner_id: int | None) -> bool:
    """Admins manage everyone; an instructor manages the learners of the cohorts they are
    an instructor of."""
    if user.role == "admin":
        return True
    if user.role != "instructor" or learner_id is None:
        return False
    return (
        db.scalar(
            select(Enrolment.id)
            .join(Cohort, Cohort.id == Enrolment.cohort_id)
            .where(instructed_by(user.id), Enrolment.user_id == learner_id)
            .limit(1)
        )
        is not None
    )
