"""Register, log in, log out."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_fresh, login_required, login_user, logout_user

from learnapp import accounts, outbox
from learnapp.accounts import normalise_email, password_matches
from learnapp.db import get_session, writing
from learnapp.forms import LoginForm, RegisterForm, ResetForm, ResetRequestForm
from learnapp.links import public_url_for
from learnapp.models import User
from learnapp.security import (
    account_row,
    client_address,
    known_device,
    remember_device,
    safe_next,
    throttle,
)
from learnapp.security import wait_in_words as _wait
from learnapp.views.cohorts import cohort_in_link

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _start_session(user, remember: bool = False):
    # A fresh session at login: nothing from before it (a planted cookie) carries over.
    session.clear()
    login_user(user, remember=remember)


def _landing() -> str:
    """Where a signed-in person starts: instructors and admins on Teach (their cohorts),
    learners on their lessons."""
    return url_for("instructor.index" if current_user.is_instructor else "lessons.index")


def _after_login():
    return redirect(safe_next(request.args.get("next")) or _landing())


def _known_here(response, user_id: int):
    """This device has signed in to the account: failed logins elsewhere never delay it."""
    remember_device(response, user_id, path=f"{request.script_root}{bp.url_prefix}/")
    return response


def _joining() -> dict:
    """What the login and register pages carry to each other: the page to go to after
    (`next`), and the class a join link in it leads to, which they name."""
    next_url = safe_next(request.args.get("next"))
    return {"next_url": next_url, "joining": cohort_in_link(next_url)}


def _registration_refused() -> str | None:
    """Why this registration is refused by the per-address or site-wide limit, else None
    (and it is counted: a taken e-mail too, since probing for accounts is what it would be)."""
    config = current_app.config
    limiter = throttle()
    here = (config["REGISTRATIONS_PER_ADDRESS"], "register-address", client_address())
    site = (config["REGISTRATIONS_SITE_WIDE"], "register-site")
    if not limiter.allows(*here):
        wait = _wait(limiter.retry_after(*here))
        return f"Too many accounts were requested from your network. Please try again in {wait}."
    if not limiter.allows(*site):
        wait = _wait(limiter.retry_after(*site))
        return f"Too many accounts are being created on this site right now. Please try again in {wait}."
    limiter.record(*here)
    limiter.record(*site)
    return None


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(_landing())
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        refusal = _registration_refused()
        if refusal:
            form.form_errors.append(refusal)
            status = 429
        else:
            # Hashed before the e-mail is looked up, so that a taken one costs what a new one
            # does; and before the write transaction, so that no lock is held meanwhile.
            password_hash = accounts.hash_password(form.password.data)
            try:
                with writing() as db:
                    user = accounts.create_user(
                        db, email=form.email.data, name=form.name.data, password_hash=password_hash
                    )
                    # Learning does not wait for it; only mail beyond the account's own does.
                    accounts.send_confirmation(db, user)
            except accounts.AccountError as error:
                form.email.errors.append(str(error))
            else:
                _start_session(user)
                flash(
                    f"Welcome, {user.name}. Your account is ready. We sent a link to"
                    f" {user.email} to confirm the address.",
                    "success",
                )
                return _known_here(_after_login(), user.id)
    if status == 200 and form.errors:
        status = 400
    return render_template("auth/register.html", form=form, **_joining()), status


def _failure_counters(email: str, user) -> list[tuple[str, str, str]]:
    """The failed-login counters this attempt answers to, as (limit, *key), its own first.

    A device that signed in to the account before answers to its own failures alone; a new
    one (or a known one that failed too often itself) to the account's and the address's.
    """
    config = current_app.config
    device = known_device(user.id if user is not None else None)
    if device is not None:
        own = (config["LOGIN_FAILURES_PER_DEVICE"], "login-device", f"{device}:{user.id}")
        if throttle().allows(*own):
            return [own]
    return [
        (config["LOGIN_FAILURES_PER_ACCOUNT"], "login-account", email),
        (config["LOGIN_FAILURES_PER_ADDRESS"], "login-address", client_address()),
    ]


@bp.route("/login", methods=["GET", "POST"])
def login():
    # A stale session (restored from a remember-me cookie) may log in again, to refresh it.
    if current_user.is_authenticated and login_fresh():
        return _after_login()
    form = LoginForm()
    status, delayed = 200, None
    if form.validate_on_submit():
        email = normalise_email(form.email.data)
        user = accounts.find_by_email(get_session(), email)
        counters = _failure_counters(email, user)
        limiter = throttle()
        blocked = [counter for counter in counters if not limiter.allows(*counter)]
        if blocked:
            # A delay that grows with the failures, never a lock: the message says how long,
            # and the template offers the reset link and the devices used before.
            wait = _wait(max(limiter.retry_after(*counter) for counter in blocked))
            where = "from your network" if blocked[0][1] == "login-address" else "to this account"
            delayed = (
                f"Too many failed attempts to log in {where}. Please wait {wait} and try again."
            )
            status = 429
        elif password_matches(user, form.password.data) and user.is_enabled:
            stored = user.password_hash
            # An older hash (scrypt) is replaced now that the password is known; hashed
            # before the write, so that no lock is held meanwhile.
            upgraded = accounts.upgraded_hash(user, form.password.data)
            if upgraded is not None:
                with writing() as db:
                    accounts.replace_hash(db, user.id, stored, upgraded)
            # A success clears the account's (or this device's) own failures, not the address's.
            limiter.forget(*counters[0])
            _start_session(user, remember=form.remember.data)
            return _known_here(_after_login(), user.id)
        else:
            for counter in counters:
                limiter.record(*counter)
            form.form_errors.append("That e-mail and password do not match an account.")
            status = 401
    elif form.errors:
        status = 400
    return render_template("auth/login.html", form=form, delayed=delayed, **_joining()), status


@bp.app_errorhandler(accounts.HashingBusy)
def hashing_busy(_error):
    """Every password-hashing slot of this worker is taken: refused now, not queued."""
    page = render_template(
        "errors/error.html",
        code=503,
        title="The server is busy",
        advice="It is busy checking other passwords. Nothing was changed: please wait a few "
        "seconds and send the form again.",
    )
    return page, 503, {"Retry-After": "5"}


@bp.post("/logout")
@login_required
def logout():
    with writing() as db:
        accounts.end_sessions(account_row(db))
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("public.home"))


# No one's account (never stored): what an unknown address's stand-in reset mail is for.
_STAND_IN = User(id=0, name="", email="nobody@example.invalid", password_hash="")


def reset_mail(user: User) -> tuple[str, str]:
    """The subject and text of a password-reset mail for `user`, its link from PUBLIC_URL."""
    link = public_url_for("auth.reset", token=accounts.reset_token(user, current_app.secret_key))
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
    return "Reset your learnapp password", (
        f"Hello {user.name},\n\nTo choose a new password, open this link within {minutes} minutes:\n\n"
        f"{link}\n\nThe link works once. If you did not ask for it, ignore this message.\n"
    )


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        limit = current_app.config["PASSWORD_RESETS_PER_ADDRESS"]
        if not throttle().allows(limit, "reset", client_address()):
            form.form_errors.append("Too many reset requests from here. Please try again later.")
            return render_template("auth/reset_request.html", form=form), 429
        throttle().record(limit, "reset", client_address())
        user = accounts.find_by_email(get_session(), form.email.data)
        known = user is not None and user.is_enabled
        # The same work whether or not the account exists: an unknown address gets its
        # mail written, with a stand-in account's link, in a savepoint that is rolled back,
        # so that the statements run, and their time, are the same and nothing is sent.
        # Nothing here talks to a mail server: the worker sends what was enqueued.
        recipient = user if known else _STAND_IN
        subject, text = reset_mail(recipient)
        with writing() as db:
            savepoint = db.begin_nested()
            outbox.enqueue_mail(db, recipient.email, subject, text)
            (savepoint.commit if known else savepoint.rollback)()
        # The same answer whether or not the account exists: no one learns who is registered.
        flash("If an account uses that e-mail, a reset link is on its way.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form), 400 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token):
    db = get_session()
    config = current_app.config
    user = accounts.user_for_reset(
        db, token, current_app.secret_key, config["PASSWORD_RESET_MAX_AGE"]
    )
    if user is None:
        flash("This reset link has expired or was already used. Ask for a new one.", "error")
        return redirect(url_for("auth.reset_request"))
    form = ResetForm()
    if form.validate_on_submit():
        with writing() as db:
            # Read again under the write lock: a link works once, even if used twice at once.
            user = accounts.user_for_reset(
                db, token, current_app.secret_key, config["PASSWORD_RESET_MAX_AGE"]
            )
            if user is not None:
                accounts.change_password(user, form.password.data)
        if user is None:
            return redirect(url_for("auth.reset_request"))
        flash("Your password is changed. Please log in with it.", "success")
        # This device proved it reads the account's mail: failures elsewhere never delay it.
        return _known_here(redirect(url_for("auth.login")), user.id)
    return render_template("auth/reset.html", form=form), 400 if form.errors else 200
