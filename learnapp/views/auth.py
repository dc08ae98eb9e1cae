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
from flask_login import current_user, login_required, login_user, logout_user

from learnapp import accounts
from learnapp.db import begin_write, get_session
from learnapp.forms import LoginForm, RegisterForm
from learnapp.security import client_address, password_matches, safe_next, throttle

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
        db = get_session()
        begin_write(db)
        try:
            user = accounts.create_user(
                db, email=form.email.data, name=form.name.data, password=form.password.data
            )
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.commit()
            _start_session(user)
            flash(f"Welcome, {user.name}. Your account is ready.", "success")
            return _after_login()
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return _after_login()
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        config = current_app.config
        email = accounts.normalise_email(form.email.data)
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
    db = get_session()
    begin_write(db)
    accounts.end_sessions(current_user)
    db.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("public.home"))
