"""A learner's own account: settings, download of their data, deletion."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, fresh_login_required, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnapp import accounts, personal_data
from learnapp.accounts import normalise_email, password_matches
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import (
    ConfirmEmailForm,
    DeleteAccountForm,
    EmailChangeForm,
    InstructorProfileForm,
    NameForm,
    PasswordChangeForm,
    ResendConfirmationForm,
)
from learnapp.models import INSTRUCTOR_ROLES, User
from learnapp.security import account_row, role_required, throttle, wait_in_words

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(status: int = 200, **forms):
    defaults = {
        "name_form": NameForm(name=current_user.name),
        "email_form": EmailChangeForm(),
        "resend_form": ResendConfirmationForm(),
        "password_form": PasswordChangeForm(),
        "delete_form": DeleteAccountForm(),
    }
    # Not in `current_user` (the snapshot every request loads): only this page shows them.
    address = (
        get_session()
        .execute(
            select(
                User.email_confirmed_at,
                User.pending_email,
                User.instructor_name,
                User.instructor_number,
                User.instructor_issuing_body,
            ).where(User.id == current_user.id)
        )
        .one()
    )
    if current_user.role in INSTRUCTOR_ROLES:
        defaults["instructor_form"] = InstructorProfileForm(
            instructor_name=address.instructor_name,
            instructor_number=address.instructor_number,
            issuing_body=address.instructor_issuing_body,
        )
    return render_template(
        "account/settings.html",
        email_confirmed_at=address.email_confirmed_at,
        pending_email=address.pending_email,
        **{**defaults, **forms},
    ), status


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


@bp.post("/instructor")
@role_required(*INSTRUCTOR_ROLES)
def instructor_profile():
    """An instructor's (or admin's) profile: the name to print, their number, its issuer."""
    form = InstructorProfileForm()
    if not form.validate_on_submit():
        return _page(400, instructor_form=form)
    try:
        with writing() as db:
            accounts.change_instructor_profile(
                account_row(db),
                form.instructor_name.data or "",
                form.instructor_number.data or "",
                form.issuing_body.data or "",
            )
    except accounts.AccountError as error:
        form.form_errors.append(str(error))
        return _page(400, instructor_form=form)
    flash("Your instructor profile is saved.", "success")
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


def _confirmation_mail_refused(address: str) -> str | None:
    """Why one more confirmation mail for this account, or to `address`, is refused, else
    None (and it is counted): "send again" and e-mail changes cannot flood a mailbox."""
    limit = current_app.config["CONFIRMATION_MAILS"]
    counters = [
        (limit, "confirmation-account", str(current_user.id)),
        (limit, "confirmation-address", normalise_email(address)),
    ]
    limiter = throttle()
    blocked = [counter for counter in counters if not limiter.allows(*counter)]
    if blocked:
        wait = wait_in_words(max(limiter.retry_after(*counter) for counter in blocked))
        return (
            "Several links were sent already: please look for them (in the spam folder too),"
            f" or wait {wait} before asking for another."
        )
    for counter in counters:
        limiter.record(*counter)
    return None


@bp.post("/email")
@fresh_login_required
def change_email():
    form = EmailChangeForm()
    if not _confirmed(form):
        return _page(400, email_form=form)
    address = normalise_email(form.email.data)
    # Giving the current address withdraws a pending change and mails nothing: not counted.
    if address != current_user.email and (refusal := _confirmation_mail_refused(address)):
        form.email.errors.append(refusal)
        return _page(429, email_form=form)
    try:
        with writing() as db:
            pending = accounts.request_email_change(db, account_row(db), form.email.data)
    except accounts.AccountError as error:
        form.email.errors.append(str(error))
        return _page(400, email_form=form)
    if pending:
        flash(
            f"We sent a link to {address}: your e-mail changes once you follow it. Until then,"
            f" keep logging in with {current_user.email}.",
            "success",
        )
    else:
        flash(f"Your e-mail stays {current_user.email}, and no change is pending.", "info")
    return redirect(url_for("account.settings"))


def _stay_signed_in(db: Session, user: User) -> None:
    """After a change that ended every session of the account: this one continues, under the
    new session version and token."""
    db.refresh(user)
    session.clear()
    login_user(user)


@bp.post("/confirmation")
@login_required
def send_confirmation():
    form = ResendConfirmationForm()
    if not form.validate_on_submit():
        return _page(400, resend_form=form)
    if account_row(get_session()).email_confirmed_at is not None:
        flash(f"{current_user.email} is confirmed already.", "info")
        return redirect(url_for("account.settings"))
    if (refusal := _confirmation_mail_refused(current_user.email)) is not None:
        form.form_errors.append(refusal)
        return _page(429, resend_form=form)
    with writing() as db:
        accounts.send_confirmation(db, account_row(db))
    flash(f"A new link is on its way to {current_user.email}.", "success")
    return redirect(url_for("account.settings"))


# The link in a confirmation mail: GET shows what it confirms and a button, POST confirms.
# Signed in, as the account it was sent for: an address typed wrong may be a stranger's, and
# the stranger must not be able to make it this account's (and then reset its password).


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@login_required
def confirm_email(token: str):
    secret, max_age = current_app.secret_key, current_app.config["EMAIL_CONFIRMATION_MAX_AGE"]
    form = ConfirmEmailForm()
    if not form.validate_on_submit():
        db = get_session()
        user = account_row(db)
        try:
            address = accounts.address_to_confirm(db, user, token, secret, max_age)
        except accounts.AccountError as error:
            flash(str(error), "error")
            return redirect(url_for("account.settings"))
        if address == user.email and user.email_confirmed_at is not None:
            flash(f"{address} is confirmed already.", "info")
            return redirect(url_for("account.settings"))
        return render_template(
            "account/confirm_email.html", form=form, address=address, current=user.email
        )
    try:
        with writing() as db:
            user = account_row(db)
            changed = accounts.confirm_email(db, user, token, secret, max_age)
    except accounts.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("account.settings"))
    if changed:
        _stay_signed_in(db, user)
        flash(
            f"Your e-mail is now {user.email}: log in with it from now on. Other devices have"
            " been logged out.",
            "success",
        )
    else:
        flash(f"Thank you: {user.email} is confirmed.", "success")
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
    _stay_signed_in(db, user)
    flash("Your password is changed. Other devices have been logged out.", "success")
    return redirect(url_for("account.settings"))


def _my_data() -> dict:
    config = current_app.config
    return personal_data.export(
        get_session(),
        current_user.id,
        current_app.extensions["learnapp.content"],
        utcnow(),
        config["COMPLETION_RECORDS_KEPT_DAYS"],
    )


@bp.get("/data.json")
@login_required
def download_data():
    return current_app.response_class(
        personal_data.to_json(_my_data()),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-learnapp-data.json"'},
    )


@bp.get("/data")
@login_required
def data_page():
    """The same data as the download, as a page to read and print."""
    return render_template("account/data.html", data=_my_data())


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
