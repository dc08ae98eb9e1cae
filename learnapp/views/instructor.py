"""Instructors: cohorts, the progress dashboard, a learner's timeline, item analysis, CSV."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from learnapp import attempts, cohorts, itemstats, reports, retention
from learnapp.caching import LEARNER_ROW, remembered
from learnapp.db import get_session, local_date, utcnow, writing
from learnapp.forms import AddInstructorForm, CohortForm, EmptyForm, RemoveLearnerForm
from learnapp.links import public_url_for
from learnapp.models import Cohort, Enrolment, User
from learnapp.security import login_manager
from learnapp.views import catalogue, lesson_or_404, page_number

bp = Blueprint("instructor", __name__, url_prefix="/instructor")


@bp.before_request
def instructors_only():
    """Every route here is for instructors and admins: visitors log in, learners get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in ("instructor", "admin"):
        abort(403)
    return None


def _cohort_or_404(cohort_id: int) -> Cohort:
    """The cohort, if the signed-in user is one of its instructors (or an admin): 404 else."""
    query = select(Cohort).where(Cohort.id == cohort_id)
    if current_user.role != "admin":
        query = query.where(cohorts.instructed_by(current_user.id))
    cohort = get_session().scalar(query)
    if cohort is None:
        abort(404)
    return cohort


def _member_or_404(cohort: Cohort, user_id: int) -> User:
    member = get_session().scalar(
        select(User)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.cohort_id == cohort.id, User.id == user_id)
    )
    if member is None:
        abort(404)
    return member


def _scope(cohort: Cohort) -> reports.Scope:
    lesson = lesson_or_404(cohort.lesson)
    return reports.cohort_scope(cohort, lesson, catalogue().final_quiz(lesson.slug))


def _cohort_form() -> CohortForm:
    form = CohortForm()
    form.lesson.choices = [
        SelectChoice(lesson.slug, lesson.title) for lesson in catalogue().lessons.values()
    ]
    return form


def _index(form: CohortForm, status: int = 200):
    """The instructor's cohorts: those running, or (?archived=1) the archived ones."""
    db = get_session()
    archived = request.args.get("archived") == "1"
    visible = cohorts.visible_to(db, current_user, archived=archived)
    return render_template(
        "instructor/index.html",
        cohorts=visible,
        counts=reports.cohort_counts(db, visible),
        archived=archived,
        archived_count=cohorts.archived_count(db, current_user),
        form=form,
    ), status


@bp.get("/")
def index():
    form = _cohort_form()
    if not form.session_date.data:
        form.session_date.data = date.today()
    return _index(form)


@bp.post("/cohorts")
def create():
    form = _cohort_form()
    if not form.validate_on_submit():
        return _index(form, 400)
    with writing() as db:
        cohort = cohorts.create(
            db,
            current_user,
            form.name.data,
            form.session_date.data,
            form.lesson.data,
            utcnow(),
            current_app.config["TIME_ZONE"],
        )
    flash(
        f"Cohort created. Learners join with the code {cohort.spoken_short_code} on the day,"
        " or with the join link. Project the join page for the room.",
        "success",
    )
    return redirect(url_for("instructor.dashboard", cohort_id=cohort.id))


def _choice(name: str, allowed: dict[str, str], default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


def _learner_row(row: reports.LearnerRow, learners_url: str, sections: int) -> Markup:
    """A learner's row of the dashboard table (templates/instructor/_learner_row.html),
    rendered once and then reused while nothing it shows changes: rendering 50 rows costs
    more than reading them. The key is everything the row is made of, the site's time zone
    included."""
    render = get_template_attribute("instructor/_learner_row.html", "learner_row")
    return remembered(
        LEARNER_ROW,
        (row, learners_url, sections, current_app.config["TIME_ZONE"]),
        lambda: render(row, learners_url, sections),
    )


@bp.get("/cohorts/<id:cohort_id>")
def dashboard(cohort_id):
    return _dashboard(_cohort_or_404(cohort_id))


def _dashboard(cohort: Cohort, status: int = 200, instructor_form: AddInstructorForm | None = None):
    scope = _scope(cohort)
    db, now = get_session(), utcnow()
    state = _choice("state", reports.FILTERS, "")
    sort = _choice("sort", reports.SORTS, "name")
    descending = request.args.get("order") == "desc"
    search = request.args.get("q", "").strip()[:100]
    overview = reports.cohort_overview(db, cohort, scope, now, catalogue().version)
    page = reports.learners_page(
        db,
        scope,
        overview,
        now,
        state=state,
        search=search,
        sort=sort,
        descending=descending,
        page=request.args.get("page", 1, type=page_number),
        per_page=current_app.config["DASHBOARD_PAGE_SIZE"],
    )
    former = reports.former_members(db, cohort.id, now)
    return render_template(
        "instructor/dashboard.html",
        cohort=cohort,
        lesson=scope.lesson,
        summary=overview.summary,
        funnel=overview.funnel,
        distribution=overview.distribution,
        page=page,
        state=state,
        filters=reports.FILTERS,
        sorts=reports.SORTS,
        sort=sort,
        descending=descending,
        search=search,
        now=now,
        join_url=url_for("cohorts.confirm", code=cohort.join_code, _external=True),
        learner_row=_learner_row,
        former=former,
        former_people=reports.people(former),
        short_code_last_day=cohorts.short_code_last_day(
            cohort, now, current_app.config["TIME_ZONE"]
        ),
        instructors=cohorts.instructors(db, cohort.id),
        instructor_form=instructor_form or AddInstructorForm(),
    ), status


@bp.get("/cohorts/<id:cohort_id>/learners/<id:user_id>")
def learner(cohort_id, user_id):
    cohort = _cohort_or_404(cohort_id)
    db = get_session()
    enrolled = _member_or_404(cohort, user_id)
    scope = _scope(cohort)
    return render_template(
        "instructor/learner.html",
        cohort=cohort,
        learner=enrolled,
        lesson=scope.lesson,
        events=reports.timeline(db, user_id, scope.lesson, scope.quiz, catalogue().version),
    )


@bp.get("/cohorts/<id:cohort_id>/learners/<id:user_id>/attempts/<id:attempt_id>")
def attempt(cohort_id, user_id, attempt_id):
    """A member's closed final-quiz attempt, question by question, read-only: scoped as the
    timeline that links to it (the instructor's cohort, a member, the cohort's lesson). An
    attempt still open is not found: its key must not be seen before it closes."""
    cohort = _cohort_or_404(cohort_id)
    member = _member_or_404(cohort, user_id)
    scope = _scope(cohort)
    db = get_session()
    found = attempts.own_attempt(db, attempt_id, member.id)
    if found is None or scope.quiz is None:
        abort(404)
    closed, drawn_from = found
    if closed.state != "closed" or closed.quiz_id != scope.quiz.id:
        abort(404)
    quiz = attempts.quiz_of(db, closed, catalogue(), drawn_from)
    return render_template(
        "instructor/attempt.html",
        cohort=cohort,
        learner=member,
        lesson=scope.lesson,
        quiz=quiz,
        attempt=closed,
        questions=attempts.drawn_questions(closed, quiz),
        answers=attempts.answers_of(db, closed.id),
    )


@bp.get("/cohorts/<id:cohort_id>/records")
def records(cohort_id):
    """Every completion record the cohort keeps (of former members, and of certificates
    withdrawn while their holder is a member), each with the end of its retention period."""
    cohort = _cohort_or_404(cohort_id)
    kept_days = current_app.config["COMPLETION_RECORDS_KEPT_DAYS"]
    return render_template(
        "instructor/records.html",
        cohort=cohort,
        kept_days=kept_days,
        records=[
            (record, retention.kept_until(record, kept_days))
            for record in retention.cohort_records(get_session(), cohort.id)
        ],
    )


def _thresholds() -> itemstats.Thresholds:
    config = current_app.config
    return itemstats.Thresholds(
        min_attempts=config["ITEM_MIN_ATTEMPTS"],
        too_easy=config["ITEM_TOO_EASY"],
        too_hard=config["ITEM_TOO_HARD"],
        weak_discrimination=config["ITEM_WEAK_DISCRIMINATION"],
        low_facility=config["ITEM_LOW_FACILITY"],
    )


@bp.get("/cohorts/<id:cohort_id>/items")
def cohort_items(cohort_id):
    cohort = _cohort_or_404(cohort_id)
    return _items_page(_scope(cohort), cohort)


@bp.get("/items/<lesson_slug>")
def all_items(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    return _items_page(
        reports.instructor_scope(current_user, lesson, catalogue().final_quiz(lesson.slug)), None
    )


def _items_page(scope: reports.Scope, cohort: Cohort | None):
    first_only = request.args.get("attempts", "first") != "all"
    limits = _thresholds()
    return render_template(
        "instructor/items.html",
        cohort=cohort,
        lesson=scope.lesson,
        quiz=scope.quiz,
        first_only=first_only,
        limits=limits,
        items=reports.item_analysis(get_session(), scope, limits, first_only),
    )


# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _day(moment: datetime | None, zone: str) -> str:
    return local_date(moment, zone).isoformat() if moment else ""


def _minute(moment: datetime | None, zone: str) -> str:
    """A stored UTC time as a spreadsheet reads a date and time, where the site's readers are."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if moment else ""


def _certificate_status(row: reports.LearnerRow) -> str:
    if not row.certificate_code:
        return "none"
    if row.certificate_revoked:
        return "revoked"
    return "valid" if row.certified else "expired"


def _slug(text: str, most: int = 50) -> str:
    """Words of `text` in any script, lowercased and joined by hyphens: a file name's part
    with no dot, slash or control character (and no right-to-left override)."""
    kept = "".join(
        c if unicodedata.category(c)[0] in "LMN" else " "
        for c in unicodedata.normalize("NFKC", text).lower()
    )
    return "-".join(kept.split())[:most].strip("-")


def export_filename(cohort: Cohort) -> str:
    """cohort-<name as a slug>-<session date>.csv; the id stands in for a name with no word."""
    return f"cohort-{_slug(cohort.name) or cohort.id}-{cohort.session_date.isoformat()}.csv"


@bp.get("/cohorts/<id:cohort_id>/export.csv")
def export(cohort_id):
    """The cohort as a spreadsheet: one header row, then a row per member and per former
    member's record, each starting with the cohort's name and session date, so that the
    exports of several cohorts can be pasted into one sheet."""
    cohort = _cohort_or_404(cohort_id)
    scope = _scope(cohort)
    db, now = get_session(), utcnow()
    rows = reports.all_learners(db, scope, now)
    passed_on = reports.pass_dates(db, scope)
    former = reports.former_members(db, cohort.id, now)
    causes = scope.lesson.sections
    zone = current_app.config["TIME_ZONE"]
    out = io.StringIO()
    # The byte-order mark tells Excel the file is UTF-8, so accented names survive.
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(
        [
            "Cohort",
            "Session date",
            "Name",
            "E-mail",
            "Sections read",
            *[f"Read: {s.title}" for s in causes],
            "Last activity",
            "Attempts",
            "Best score (%)",
            "Passed",
            "Pass date",  # of the latest passing attempt
            "Certificate code",
            "Certificate status",  # valid, expired, revoked, withdrawn, none
            "Certificate issued",
            "Certificate expires",
            # member, or why a former member's record is kept: left, removed, deleted,
            # withdrawn
            "Status",
        ]
    )
    cohort_cells = (cohort.name, cohort.session_date.isoformat())
    for row in rows:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    *cohort_cells,
                    row.name,
                    row.email,
                    row.read_count,
                    *["yes" if done else "no" for done in row.read],
                    _minute(row.last_activity, zone),
                    row.attempts,
                    "" if row.best is None else f"{row.best:g}",
                    "yes" if row.passed else "no",
                    _day(passed_on.get(row.user_id), zone),
                    row.certificate_code,
                    _certificate_status(row),
                    _day(row.certificate_issued_at, zone),
                    _day(row.certificate_valid_until, zone),
                    "member",
                )
            ]
        )
    # A former member's record: no e-mail, reading, activity or attempts are kept, only the
    # result.
    unknown = ["", "", *[""] * len(causes), "", ""]
    for record in former:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    *cohort_cells,
                    record.name,
                    *unknown,
                    f"{record.score_percent:g}",
                    "yes",
                    "",
                    record.code,
                    record.status,
                    _day(record.issued_at, zone),
                    _day(record.valid_until, zone),
                    record.kept_because,
                )
            ]
        )
    # send_file writes Content-Disposition for any name: an ASCII filename= and, for a name
    # beyond ASCII, filename*= (RFC 5987) as well.
    response = send_file(
        io.BytesIO(out.getvalue().encode("utf-8")),
        mimetype="text/csv",
        as_attachment=True,
        download_name=export_filename(cohort),
    )
    # Its "no-cache" would stand in for the no-store every signed-in page has (security.py).
    response.headers["Cache-Control"] = "no-store"
    return response


# Running a class: the page to project, new codes, removing a learner, archiving.


def _running_cohort_or_404(cohort_id: int) -> Cohort:
    """A cohort to change: archived ones are read-only, and say so."""
    cohort = _cohort_or_404(cohort_id)
    if cohort.archived_at is not None:
        flash(cohorts.ARCHIVED, "error")
        abort(redirect(url_for("instructor.dashboard", cohort_id=cohort.id)))
    return cohort


@bp.get("/cohorts/<id:cohort_id>/project")
def project(cohort_id):
    """The join page to show on the room's screen (or print): the short code large, the link
    as a QR code, and the link to copy."""
    cohort = _cohort_or_404(cohort_id)
    join_url = public_url_for("cohorts.confirm", code=cohort.join_code)
    return render_template(
        "instructor/project.html",
        cohort=cohort,
        join_url=join_url,
        join_qr=segno.make(join_url, error="m").svg_data_uri(scale=8, border=4),
        short_code_last_day=cohorts.short_code_last_day(
            cohort, utcnow(), current_app.config["TIME_ZONE"]
        ),
        cohorts_url=public_url_for("cohorts.mine"),
        form=EmptyForm(),
    )


@bp.post("/cohorts/<id:cohort_id>/codes")
def rotate_codes(cohort_id):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    cohort = _running_cohort_or_404(cohort_id)
    with writing() as db:
        cohorts.rotate_codes(db, cohort, utcnow(), current_app.config["TIME_ZONE"])
    flash(
        f"New codes: {cohort.spoken_short_code}, and a new join link. The old ones no longer"
        " join anyone; the cohort's members stay.",
        "success",
    )
    return redirect(url_for("instructor.project", cohort_id=cohort.id))


@bp.post("/cohorts/<id:cohort_id>/archive")
def archive(cohort_id):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    cohort = _cohort_or_404(cohort_id)
    with writing() as db:
        cohorts.archive(db, cohort, utcnow())
    flash(
        f"{cohort.name} is archived: read-only, and listed under Archived cohorts. Its codes"
        " no longer join anyone. You can restore it.",
        "success",
    )
    return redirect(url_for("instructor.index"))


@bp.post("/cohorts/<id:cohort_id>/restore")
def restore(cohort_id):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    cohort = _cohort_or_404(cohort_id)
    with writing() as db:
        cohorts.restore(db, cohort)
    flash(
        f"{cohort.name} is running again. Learners join with its link; make new codes for"
        " a short code.",
        "success",
    )
    return redirect(url_for("instructor.dashboard", cohort_id=cohort.id))


@bp.post("/cohorts/<id:cohort_id>/learners/<id:user_id>/remove")
def remove(cohort_id, user_id):
    """Remove a learner from the cohort: the first submission asks to confirm."""
    form = RemoveLearnerForm()
    if not form.validate_on_submit():
        abort(400)
    cohort = _running_cohort_or_404(cohort_id)
    member = _member_or_404(cohort, user_id)
    if form.confirmed.data != "yes":
        return render_template("instructor/confirm_remove.html", cohort=cohort, learner=member)
    with writing() as db:
        cohorts.remove(db, cohort, member.id)
    flash(
        f"{member.name} is no longer in {cohort.name}. They keep their own progress and"
        " certificates; the cohort keeps the completion record of any certificate earned in it.",
        "success",
    )
    return redirect(url_for("instructor.dashboard", cohort_id=cohort.id))


# Co-instructors: each instructor of a cohort has the same powers over it, adding and
# removing instructors included; a cohort always keeps one.


@bp.post("/cohorts/<id:cohort_id>/instructors")
def add_instructor(cohort_id):
    cohort = _running_cohort_or_404(cohort_id)
    form = AddInstructorForm()
    if not form.validate_on_submit():
        return _dashboard(cohort, 400, form)
    try:
        with writing() as db:
            added = cohorts.add_instructor(db, cohort, form.email.data, current_user)
    except cohorts.CohortError as error:
        form.email.errors.append(str(error))
        return _dashboard(cohort, 400, form)
    flash(
        f"{added.name} is now an instructor of {cohort.name}, with the same powers over it as you.",
        "success",
    )
    return redirect(url_for("instructor.dashboard", cohort_id=cohort.id, _anchor="instructors"))


@bp.post("/cohorts/<id:cohort_id>/instructors/<id:user_id>/remove")
def remove_instructor(cohort_id, user_id):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    cohort = _running_cohort_or_404(cohort_id)
    person = get_session().get(User, user_id)
    try:
        with writing() as db:
            removed = cohorts.remove_instructor(db, cohort, user_id)
    except cohorts.CohortError as error:
        flash(str(error), "error")
        return redirect(url_for("instructor.dashboard", cohort_id=cohort.id, _anchor="instructors"))
    if not removed or person is None:
        abort(404)
    if person.id == current_user.id:
        flash(f"You are no longer an instructor of {cohort.name}.", "success")
        return redirect(url_for("instructor.index"))
    flash(f"{person.name} is no longer an instructor of {cohort.name}.", "success")
    return redirect(url_for("instructor.dashboard", cohort_id=cohort.id, _anchor="instructors"))
