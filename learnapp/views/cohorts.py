"""Learners and cohorts: join by the link or the room's short code, see which cohorts can see
you, leave."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from learnapp import cohorts
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import EmptyForm, JoinForm, LeaveCohortForm
from learnapp.models import Cohort
from learnapp.security import throttle, wait_in_words

bp = Blueprint("cohorts", __name__, url_prefix="/cohorts")


def _short_code_counters() -> list[tuple[str, ...]]:
    """The throttles a wrong short code counts against: this account's, and the site's.
    Never the network address: a classroom shares one, and a typo there must not lock out
    the room. Link codes count against none (cohorts.CODE_LENGTH says why)."""
    config = current_app.config
    return [
        (config["JOIN_CODE_FAILURES"], "join-account", str(current_user.id)),
        (config["JOIN_CODE_FAILURES_SITE_WIDE"], "join-site"),
    ]


def _short_codes_refused() -> str | None:
    """Why short codes are refused for now (too many wrong ones), else None."""
    limiter = throttle()
    blocked = [counter for counter in _short_code_counters() if not limiter.allows(*counter)]
    if not blocked:
        return None
    wait = wait_in_words(max(limiter.retry_after(*counter) for counter in blocked))
    where = "from your account" if blocked[0][1] == "join-account" else "on this site"
    return (
        f"Too many wrong codes were tried {where}. Please try the code again in {wait}, or "
        "use the join link or QR code your instructor shows: it always works."
    )


def _record_wrong_short_code() -> None:
    for counter in _short_code_counters():
        throttle().record(*counter)


def cohort_in_link(next_url: str | None) -> Cohort | None:
    """The cohort a join link in `next` leads to, for the login and register pages to name
    the class the visitor is joining."""
    if not next_url:
        return None
    path = urlsplit(next_url).path
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        endpoint, values = current_app.url_map.bind("").match(path, method="GET")
    except HTTPException:
        return None
    if endpoint != "cohorts.confirm":
        return None
    cohort = cohorts.by_link_code(get_session(), values["code"])
    return None if cohort is None or cohort.archived_at is not None else cohort


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
    """The link an instructor shares: says what joining means, then asks to confirm. Its
    code is never refused, however many wrong ones were tried."""
    cohort = cohorts.by_link_code(get_session(), code)
    if cohort is None:
        form = JoinForm()
        # Not validated, so its errors are still a tuple: this one is the page's message.
        form.code.errors = [
            "This join link does not lead to a cohort: it may be mistyped, or the instructor "
            "has changed the codes. Ask them for the current link or code."
        ]
        return _page(form, 404)
    if cohort.archived_at is not None:
        return render_template(
            "cohorts/confirm.html", cohort=cohort, archived=cohorts.ARCHIVED
        ), 409
    return render_template(
        "cohorts/confirm.html", cohort=cohort, form=JoinForm(code=cohort.join_code)
    )


class _CodeRefused(Exception):
    """A typed code that joins no cohort: the message for its field, and the status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _cohort_for(raw_code: str) -> Cohort:
    """The cohort a typed code joins; raises _CodeRefused saying why not."""
    db = get_session()
    if cohorts.normalise_join_code(raw_code) is not None:
        cohort = cohorts.by_link_code(db, raw_code)
        if cohort is None:
            raise _CodeRefused("No cohort has this code. Check it with your instructor.")
        return cohort
    if cohorts.normalise_short_code(raw_code) is None:
        raise _CodeRefused(
            f"A cohort code has {cohorts.SHORT_CODE_LENGTH} characters (like K7P2-9QXM), or "
            f"{cohorts.CODE_LENGTH} in a join link. Check it with your instructor."
        )
    refusal = _short_codes_refused()
    if refusal:
        raise _CodeRefused(refusal, 429)
    cohort = cohorts.by_short_code(db, raw_code, utcnow())
    if cohort is None:
        _record_wrong_short_code()
        raise _CodeRefused(
            "No cohort has this code today. Check it with your instructor: a room's code "
            "works until the end of the session's day."
        )
    return cohort


@bp.post("/join")
@login_required
def join():
    form = JoinForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        cohort = _cohort_for(form.code.data)
    except _CodeRefused as refused:
        form.code.errors.append(str(refused))
        return _page(form, refused.status)
    try:
        with writing() as db:
            joined = cohorts.join(db, current_user, cohort)
    except cohorts.CohortError as error:
        form.code.errors.append(str(error))
        return _page(form, 409)
    flash(
        f"You joined {cohort.name}." if joined else f"You are already in {cohort.name}.", "success"
    )
    return redirect(url_for("cohorts.mine"))


@bp.post("/<id:cohort_id>/leave")
@login_required
def leave(cohort_id):
    """Leave a cohort: the first submission says what leaving means and asks to confirm."""
    form = LeaveCohortForm()
    if not form.validate_on_submit():
        abort(400)
    membership = next(
        (
            row
            for row in cohorts.memberships(get_session(), current_user.id)
            if row[0].id == cohort_id
        ),
        None,
    )
    if membership is None:
        abort(404)
    if form.confirmed.data != "yes":
        cohort, enrolment, instructors = membership
        return render_template(
            "cohorts/confirm_leave.html",
            cohort=cohort,
            enrolment=enrolment,
            instructors=instructors,
        )
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
