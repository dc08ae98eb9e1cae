"""Learners and cohorts: join by code or link, see which cohorts can see you, leave."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from learnapp import cohorts
from learnapp.db import get_session, writing
from learnapp.forms import EmptyForm, JoinForm
from learnapp.security import client_address, throttle

bp = Blueprint("cohorts", __name__, url_prefix="/cohorts")


def _guesses_allowed() -> bool:
    limit = current_app.config["JOIN_CODE_FAILURES"]
    limiter = throttle()
    return limiter.allows(limit, "join-user", str(current_user.id)) and limiter.allows(
        limit, "join-address", client_address()
    )


def _record_guess() -> None:
    limit = current_app.config["JOIN_CODE_FAILURES"]
    throttle().record(limit, "join-user", str(current_user.id))
    throttle().record(limit, "join-address", client_address())


def _page(form: JoinForm, status: int = 200):
    memberships = cohorts.memberships(get_session(), current_user.id)
    return render_template(
        "cohorts/mine.html", memberships=memberships, form=form, leave_form=EmptyForm()
    ), status


@bp.get("/")
@login_required
def mine():
    return _page(JoinForm())


@bp.get("/join/<code>")
@login_required
def confirm(code):
    """The link an instructor shares: says what joining means, then asks to confirm."""
    if not _guesses_allowed():
        abort(429)
    cohort = cohorts.by_code(get_session(), code)
    if cohort is None:
        _record_guess()
        abort(404)
    return render_template(
        "cohorts/confirm.html", cohort=cohort, form=JoinForm(code=cohort.join_code)
    )


@bp.post("/join")
@login_required
def join():
    form = JoinForm()
    db = get_session()
    if not form.validate_on_submit():
        return _page(form, 400)
    if not _guesses_allowed():
        form.code.errors.append("Too many wrong codes. Please wait a few minutes and try again.")
        return _page(form, 429)
    cohort = cohorts.by_code(db, form.code.data)
    if cohort is None:
        _record_guess()
        form.code.errors.append("No cohort has this code. Check it with your instructor.")
        return _page(form, 400)
    with writing() as db:
        joined = cohorts.join(db, current_user, cohort)
    flash(
        f"You joined {cohort.name}." if joined else f"You are already in {cohort.name}.", "success"
    )
    return redirect(url_for("cohorts.mine"))


@bp.post("/<id:cohort_id>/leave")
@login_required
def leave(cohort_id):
    with writing() as db:
        left = cohorts.leave(db, current_user, cohort_id)
    if not left:
        abort(404)
    flash(
        "You left the cohort. Its instructors no longer see your progress; they keep the"
        " completion record of any certificate you earned in it.",
        "success",
    )
    return redirect(url_for("cohorts.mine"))
