"""The learner's journey: course page, sections, marking read, progress."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from learnapp import grading, progress
from learnapp.content import Lesson, Section
from learnapp.db import begin_write, get_session
from learnapp.security import load_user_with
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
def course(lesson_slug):
    rows = load_user_with(progress.SIGNED_IN_WITH_READS, lesson=lesson_slug)
    lesson = lesson_or_404(lesson_slug)
    read = progress.slugs_read(rows, lesson)
    return render_template(
        "lessons/course.html", lesson=lesson, read=read, resume=progress.resume_point(lesson, read)
    )


@bp.get("/<lesson_slug>/sections/<section_slug>")
def section(lesson_slug, section_slug):
    # The busiest page: the signed-in user and their reads in one statement.
    rows = load_user_with(progress.SIGNED_IN_WITH_READS, lesson=lesson_slug)
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    read = progress.slugs_read(rows, lesson)
    previous, following = lesson.neighbours(section.slug)
    text, practice = _shared_parts(lesson, section)
    return render_personal(
        "lessons/section.html",
        (catalogue().version, lesson.slug, section.slug, section.slug in read, len(read)),
        text=text,
        practice=practice,
        lesson=lesson,
        section=section,
        read=read,
        previous=previous,
        following=following,
    )


def _shared_parts(lesson: Lesson, section: Section) -> tuple[Markup, Markup]:
    """The parts of a section page that are the same for everyone (its text, objectives and
    knowledge check), rendered once per content version: the lesson page is the busiest."""
    cache = current_app.extensions.setdefault("learnapp.section_parts", {})
    key = (catalogue().version, lesson.slug, section.slug)
    if key not in cache:
        checks = catalogue().checks(lesson.slug)
        practice = (
            [(q, grading.practice_order(q)) for q in checks.for_section(section.slug)]
            if checks
            else []
        )
        # Markup: these strings are our own templates' escaped output.
        cache[key] = (
            Markup(render_template("lessons/_section_text.html", section=section)),  # noqa: S704
            Markup(render_template("lessons/_practice.html", practice=practice))  # noqa: S704
            if practice
            else Markup(""),
        )
    return cache[key]


@bp.post("/<lesson_slug>/sections/<section_slug>/read")
@login_required
def mark_read(lesson_slug, section_slug):
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    db = get_session()
    begin_write(db)
    progress.mark_read(db, current_user.id, lesson, section)
    db.commit()
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
