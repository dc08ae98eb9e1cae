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

from learnapp import accounts, mail
from learnapp.accounts import normalise_email, password_matches
from learnapp.db import get_session, writing
from learnapp.forms import LoginForm, RegisterForm, ResetForm, ResetRequestForm
from learnapp.security import account_row, client_address, safe_next, throttle

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _start_session(user, remember: bool = False):
    # A fresh session at login: nothing from before it (a planted cookie) carries over.
    session.clear()
    login_user(user, remember=remember)


def _after_login():
    return redirect(safe_next(request.args.get("next")) or url_for("lessons.index"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("lessons.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with writing() as db:
                user = accounts.create_user(
                    db, email=form.email.data, name=form.name.data, password=form.password.data
                )
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            _start_session(user)
            flash(f"Welcome, {user.name}. Your account is ready.", "success")
            return _after_login()
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    # A stale session (restored from a remember-me cookie) may log in again, to refresh it.
    if current_user.is_authenticated and login_fresh():
        return _after_login()
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        config = current_app.config
        email = normalise_email(form.email.data)
        keys = {
            config["LOGIN_FAILURES_PER_ACCOUNT"]: ("login-account", email),
            config["LOGIN_FAILURES_PER_ADDRESS"]: ("login-address", client_address()),
        }
        limiter = throttle()
        blocked = [limit for limit, key in keys.items() if not limiter.allows(limit, *key)]
        if blocked:
            wait = max(limiter.retry_after(limit, *keys[limit]) for limit in blocked)
            form.form_errors.append(
                f"Too many failed attempts. Please wait {max(1, round(wait / 60))} minute(s) and try again."
            )
            status = 429
        else:
            user = accounts.find_by_email(get_session(), email)
            if password_matches(user, form.password.data) and user.is_enabled:
                limiter.forget(
                    config["LOGIN_FAILURES_PER_ACCOUNT"],
                    *keys[config["LOGIN_FAILURES_PER_ACCOUNT"]],
                )
                _start_session(user, remember=form.remember.data)
                return _after_login()
            for limit, key in keys.items():
                limiter.record(limit, *key)
            form.form_errors.append("That e-mail and password do not match an account.")
            status = 401
    elif form.errors:
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    with writing() as db:
        accounts.end_sessions(account_row(db))
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("public.home"))


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
        if user is not None and user.is_enabled:
            token = accounts.reset_token(user, current_app.secret_key)
            link = url_for("auth.reset", token=token, _external=True)
            minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
            mail.send(
                user.email,
                "Reset your learnapp password",
                f"Hello {user.name},\n\nTo choose a new password, open this link within {minutes} minutes:\n\n"
                f"{link}\n\nThe link works once. If you did not ask for it, ignore this message.\n",
            )
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
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), 400 if form.errors else 200
