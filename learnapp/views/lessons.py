"""The learner's journey: course page, sections, marking read, progress."""

from __future__ import annotations

from collections.abc import Collection, Hashable

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from learnapp import grading, progress
from learnapp.caching import SECTION_PARTS, remembered
from learnapp.content import Lesson, Section
from learnapp.db import get_session, writing
from learnapp.forms import MarkReadForm
from learnapp.views import catalogue, lesson_or_404
from learnapp.views.skeletons import render_personal

bp = Blueprint("lessons", __name__, url_prefix="/lessons")


@bp.get("/")
def index():
    lessons = list(catalogue().lessons.values())
    if len(lessons) == 1:
        return redirect(url_for("lessons.course", lesson_slug=lessons[0].slug))
    return render_template("lessons/index.html", lessons=lessons)


@bp.get("/<lesson_slug>/")
@login_required
def course(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    read = progress.sections_read(get_session(), current_user.id, lesson)
    return render_template(
        "lessons/course.html", lesson=lesson, read=read, resume=progress.resume_point(lesson, read)
    )


@bp.get("/<lesson_slug>/sections/<section_slug>")
@login_required
def section(lesson_slug, section_slug):
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    read = progress.sections_read(get_session(), current_user.id, lesson)
    previous, following = lesson.neighbours(section.slug)
    text, practice = _shared_parts(lesson, section)
    # The busiest page: rendered once per reading state, then filled in per learner.
    return render_personal(
        "lessons/section.html",
        section_state(lesson, section, read),
        personal=("served",),
        # The moment of serving, signed: the mark-read POST tells how long the page was open.
        served=progress.served_token(current_app.secret_key, current_user.id, lesson, section),
        text=text,
        practice=practice,
        lesson=lesson,
        section=section,
        read=read,
        previous=previous,
        following=following,
    )


def section_state(lesson: Lesson, section: Section, read: Collection[str]) -> Hashable:
    """Everything a section page shows besides the learner's role, name and CSRF token:
    the content, the section, and which of the lesson's sections they have read."""
    return (catalogue().version, lesson.slug, section.slug, tuple(sorted(read)))


def _shared_parts(lesson: Lesson, section: Section) -> tuple[Markup, Markup]:
    """The parts of a section page that are the same for everyone (its text, objectives and
    knowledge check), rendered once per content version."""

    def render() -> tuple[Markup, Markup]:
        checks = catalogue().checks(lesson.slug)
        practice = (
            [(q, grading.practice_order(q)) for q in checks.for_section(section.slug)]
            if checks
            else []
        )
        # Markup: these strings are our own templates' escaped output.
        return (
            Markup(render_template("lessons/_section_text.html", section=section)),  # noqa: S704
            Markup(render_template("lessons/_practice.html", practice=practice))  # noqa: S704
            if practice
            else Markup(""),
        )

    return remembered(SECTION_PARTS, (catalogue().version, lesson.slug, section.slug), render)


@bp.post("/<lesson_slug>/sections/<section_slug>/read")
@login_required
def mark_read(lesson_slug, section_slug):
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    # No valid served time (missing, altered, stale) still marks the section read: it only
    # records no reading time. The CSRF token was checked before the view.
    served = MarkReadForm().served.data
    seconds = progress.reading_seconds(
        current_app.secret_key, served, current_user.id, lesson, section
    )
    with writing() as db:
        progress.mark_read(db, current_user.id, lesson, section, reading_seconds=seconds)
    _, following = lesson.neighbours(section.slug)
    if following is None:
        return redirect(url_for("lessons.progress_page", lesson_slug=lesson.slug))
    return redirect(
        url_for("lessons.section", lesson_slug=lesson.slug, section_slug=following.slug)
    )


@bp.get("/<lesson_slug>/progress")
@login_required
def progress_page(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    read = progress.sections_read(get_session(), current_user.id, lesson)
    return render_template("lessons/progress.html", lesson=lesson, read=read)
