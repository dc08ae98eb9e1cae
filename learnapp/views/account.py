"""A learner's own account: settings, download of their data, deletion."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, fresh_login_required, login_required, login_user, logout_user

from learnapp import accounts
from learnapp.accounts import password_matches
from learnapp.db import get_session, writing
from learnapp.forms import DeleteAccountForm, EmailChangeForm, NameForm, PasswordChangeForm
from learnapp.security import account_row

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(status: int = 200, **forms):
    defaults = {
        "name_form": NameForm(name=current_user.name),
        "email_form": EmailChangeForm(),
        "password_form": PasswordChangeForm(),
        "delete_form": DeleteAccountForm(),
    }
    return render_template("account/settings.html", **{**defaults, **forms}), status


@bp.get("/")
@login_required
def settings():
    return _page()


@bp.post("/name")
@login_required
def change_name():
    form = NameForm()
    if not form.validate_on_submit():
        return _page(400, name_form=form)
    with writing() as db:
        accounts.change_name(account_row(db), form.name.data)
    flash("Your name is saved.", "success")
    return redirect(url_for("account.settings"))


# Changing how one logs in needs a fresh login (not a remember-me cookie) and the password.


def _confirmed(form) -> bool:
    """The form is valid and its current-password field is right."""
    if not form.validate_on_submit():
        return False
    if not password_matches(account_row(get_session()), form.current.data):
        form.current.errors.append("That is not your current password.")
        return False
    return True


@bp.post("/email")
@fresh_login_required
def change_email():
    form = EmailChangeForm()
    if not _confirmed(form):
        return _page(400, email_form=form)
    try:
        with writing() as db:
            accounts.change_email(db, account_row(db), form.email.data)
    except accounts.AccountError as error:
        form.email.errors.append(str(error))
        return _page(400, email_form=form)
    flash("Your e-mail is changed.", "success")
    return redirect(url_for("account.settings"))


@bp.post("/password")
@fresh_login_required
def change_password():
    form = PasswordChangeForm()
    if not _confirmed(form):
        return _page(400, password_form=form)
    with writing() as db:
        user = account_row(db)
        accounts.change_password(user, form.password.data)
    db.refresh(user)
    # Every other session is now ended; this one continues under the new session version.
    session.clear()
    login_user(user)
    flash("Your password is changed. Other devices have been logged out.", "success")
    return redirect(url_for("account.settings"))


@bp.get("/data.json")
@login_required
def download_data():
    data = accounts.personal_data(get_session(), current_user)
    return current_app.response_class(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-learnapp-data.json"'},
    )


@bp.post("/delete")
@fresh_login_required
def delete():
    form = DeleteAccountForm()
    if not _confirmed(form):
        return _page(400, delete_form=form)
    try:
        with writing() as db:
            accounts.delete_account(db, account_row(db))
    except accounts.AccountError as error:
        form.current.errors.append(str(error))
        return _page(400, delete_form=form)
    logout_user()
    session.clear()
    flash(
        "Your account and progress are deleted. Certificates already issued stay verifiable.",
        "info",
    )
    return redirect(url_for("public.home"))
