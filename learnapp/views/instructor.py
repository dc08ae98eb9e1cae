"""Instructors: cohorts, the progress dashboard, a learner's timeline, item analysis, CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from learnapp import cohorts, itemstats, reports, retention
from learnapp.caching import LEARNER_ROW, remembered
from learnapp.db import get_session, local_date, utcnow, writing
from learnapp.forms import CohortForm
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
    cohort = get_session().get(Cohort, cohort_id)
    if cohort is None or (current_user.role != "admin" and cohort.instructor_id != current_user.id):
        abort(404)
    return cohort


def _scope(cohort: Cohort) -> reports.Scope:
    lesson = lesson_or_404(cohort.lesson)
    return reports.cohort_scope(cohort, lesson, catalogue().final_quiz(lesson.slug))


def _cohort_form() -> CohortForm:
    form = CohortForm()
    form.lesson.choices = [
        SelectChoice(lesson.slug, lesson.title) for lesson in catalogue().lessons.values()
    ]
    return form


@bp.get("/")
def index():
    db = get_session()
    visible = cohorts.visible_to(db, current_user)
    form = _cohort_form()
    if not form.session_date.data:
        form.session_date.data = date.today()
    return render_template(
        "instructor/index.html",
        cohorts=visible,
        counts=reports.cohort_counts(db, visible),
        form=form,
    )


@bp.post("/cohorts")
def create():
    db = get_session()
    form = _cohort_form()
    if not form.validate_on_submit():
        visible = cohorts.visible_to(db, current_user)
        return render_template(
            "instructor/index.html",
            cohorts=visible,
            counts=reports.cohort_counts(db, visible),
            form=form,
        ), 400
    with writing() as db:
        cohort = cohorts.create(
            db, current_user, form.name.data, form.session_date.data, form.lesson.data
        )
    flash(f"Cohort created. Learners join with the code {cohort.join_code}.", "success")
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
    cohort = _cohort_or_404(cohort_id)
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
    )


@bp.get("/cohorts/<id:cohort_id>/learners/<id:user_id>")
def learner(cohort_id, user_id):
    cohort = _cohort_or_404(cohort_id)
    db = get_session()
    enrolled = db.scalar(
        select(User)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.cohort_id == cohort.id, User.id == user_id)
    )
    if enrolled is None:
        abort(404)
    scope = _scope(cohort)
    return render_template(
        "instructor/learner.html",
        cohort=cohort,
        learner=enrolled,
        lesson=scope.lesson,
        events=reports.timeline(db, user_id, scope.lesson, scope.quiz),
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
    return render_template(
        "instructor/items.html",
        cohort=cohort,
        lesson=scope.lesson,
        quiz=scope.quiz,
        first_only=first_only,
        items=reports.item_analysis(get_session(), scope, _thresholds(), first_only),
    )


# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@bp.get("/cohorts/<id:cohort_id>/export.csv")
def export(cohort_id):
    cohort = _cohort_or_404(cohort_id)
    scope = _scope(cohort)
    db, now = get_session(), utcnow()
    rows = reports.all_learners(db, scope, now)
    former = reports.former_members(db, cohort.id, now)
    causes = scope.lesson.sections
    zone = current_app.config["TIME_ZONE"]
    out = io.StringIO()
    # The byte-order mark tells Excel the file is UTF-8, so accented names survive.
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(
        [
            "Name",
            "E-mail",
            "Sections read",
            *[f"Read: {s.title}" for s in causes],
            "Attempts",
            "Best score (%)",
            "Passed",
            "Certificate code",
            "Certificate issued",
            "Certificate expires",
            # member, or why a former member's record is kept: left, deleted, withdrawn
            "Status",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    row.name,
                    row.email,
                    row.read_count,
                    *["yes" if done else "no" for done in row.read],
                    row.attempts,
                    "" if row.best is None else f"{row.best:g}",
                    "yes" if row.passed else "no",
                    row.certificate_code,
                    local_date(row.certificate_issued_at, zone).isoformat()
                    if row.certificate_issued_at
                    else "",
                    local_date(row.certificate_valid_until, zone).isoformat()
                    if row.certificate_valid_until
                    else "",
                    "member",
                )
            ]
        )
    # A former member's record: no e-mail, reading or attempts are kept, only the result.
    unknown = ["", "", *[""] * len(causes), ""]
    for record in former:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    record.name,
                    *unknown,
                    f"{record.score_percent:g}",
                    "yes",
                    record.code,
                    local_date(record.issued_at, zone).isoformat(),
                    local_date(record.valid_until, zone).isoformat(),
                    record.kept_because,
                )
            ]
        )
    filename = f"cohort-{cohort.id}-{cohort.session_date.isoformat()}.csv"
    return current_app.response_class(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
