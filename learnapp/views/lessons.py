"""The learner's journey: course page, sections, marking read, progress."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy.orm import Session

from learnapp import attempts, certificates, grading, progress
from learnapp.caching import SECTION_PARTS, remembered
from learnapp.content import Lesson, Section
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import MarkReadForm
from learnapp.views import catalogue, lesson_or_404
from learnapp.views.quizzes import retake_policy
from learnapp.views.skeletons import render_personal

bp = Blueprint("lessons", __name__, url_prefix="/lessons")


@bp.get("/")
def index():
    lessons = list(catalogue().lessons.values())
    if len(lessons) == 1:
        return redirect(url_for("lessons.course", lesson_slug=lessons[0].slug))
    return render_template("lessons/index.html", lessons=lessons)


# The heading under which a lesson says when to get medical help (`## When to get medical help`).
MEDICAL_HELP_ANCHOR = "when-to-get-medical-help"


@bp.app_template_global()
def medical_help_url(lesson: Lesson) -> str:
    """Where the lesson says when to get medical help: the first section with that heading,
    or else the full notice, which says it too."""
    where = medical_help_sections(lesson)
    if not where:
        return url_for("lessons.notice", lesson_slug=lesson.slug, _anchor="medical-help")
    return url_for(
        "lessons.section",
        lesson_slug=lesson.slug,
        section_slug=where[0].slug,
        _anchor=MEDICAL_HELP_ANCHOR,
    )


def medical_help_sections(lesson: Lesson) -> list[Section]:
    return [s for s in lesson.sections if MEDICAL_HELP_ANCHOR in s.anchors]


@dataclass(frozen=True)
class NextStep:
    """What the learner should do next in a lesson, for `lessons/_next_step.html`.

    kind: "read" (sections left: `unread`, from `resume`), "done" (read, and the lesson has
    no final quiz), "quiz" (take it; `retake` after a failed attempt, `expired` after a
    certificate that ran out; `blocked` when a pass could not be certified yet), "resume"
    (an attempt is open: `attempt_id`), "wait" (a retake opens at `opens`), "claim" (a pass
    without a certificate: `attempt_id`), "blocked" (a pass that a revocation keeps from
    being certified) or "certified" (`certificate_code`; `renewable` once the quiz may be
    retaken to renew it).
    """

    kind: str
    unread: tuple[Section, ...] = ()
    resume: Section | None = None
    retake: bool = False
    expired: bool = False
    attempt_id: int | None = None
    opens: datetime | None = None
    certificate_code: str | None = None
    renewable: bool = False
    blocked: bool = False
    blocked_message: str = certificates.BLOCKED


def next_step(db: Session, user_id: int, lesson: Lesson, read: Collection[str]) -> NextStep:
    """The one next step for the course, progress and after-the-last-section pages, decided
    by the services the quiz and certificate pages use, with their rules: a certificate is
    claimed for a pass unless a block is in force or a valid one is held outside its renewal
    window (`certificates.draft`), and a retake waits for the retake policy (`attempts`)."""
    now = utcnow()
    held = certificates.latest_for(db, user_id, lesson.slug)
    state = None if held is None else certificates.status_of(held, now).kind
    renewal_opens = certificates.recertify_from(held, current_app.config["RECERTIFY_WINDOW_DAYS"])
    certified = NextStep(
        "certified",
        certificate_code=held.code if held else None,
        renewable=state == "valid" and renewal_opens is not None and now >= renewal_opens,
    )
    if state == "valid" and not certified.renewable:
        return certified  # nothing more to do until the renewal window opens
    if len(read) < len(lesson.sections):
        if state == "valid":
            return certified
        unread = tuple(s for s in lesson.sections if s.slug not in read)
        return NextStep("read", unread=unread, resume=progress.resume_point(lesson, read))
    quiz = catalogue().final_quiz(lesson.slug)
    if quiz is None:
        return certified if state == "valid" else NextStep("done")
    status = attempts.status(db, user_id, lesson, quiz, retake_policy())
    if status.open_attempt_id is not None:
        return NextStep("resume", attempt_id=status.open_attempt_id)
    history = attempts.attempts_of(db, user_id, quiz.id)  # newest first
    passed = next((a for a in history if a.state == "closed" and a.passed), None)
    if passed is not None and certificates.for_attempt(db, passed.id) is None:
        if certificates.blocks_attempt(db, passed, catalogue()):
            return NextStep("blocked", attempt_id=passed.id)
        return NextStep("claim", attempt_id=passed.id)
    if state == "valid":
        return certified
    expired = state == "expired"
    blocked = certificates.block_in_force(db, user_id, lesson.slug) is not None
    if status.next_start is not None:
        return NextStep("wait", opens=status.next_start, expired=expired, blocked=blocked)
    return NextStep("quiz", retake=bool(history) and not expired, expired=expired, blocked=blocked)


@bp.get("/<lesson_slug>/")
@login_required
def course(lesson_slug):
    return _with_next_step("lessons/course.html", lesson_slug)


def _with_next_step(template: str, lesson_slug: str) -> str:
    """A page of the lesson's reading state and the learner's next step (course, progress)."""
    lesson = lesson_or_404(lesson_slug)
    db = get_session()
    read, acknowledged = progress.reading_state(db, current_user.id, lesson)
    return render_template(
        template,
        lesson=lesson,
        read=read,
        acknowledged=acknowledged,
        step=next_step(db, current_user.id, lesson, read),
    )


@bp.get("/<lesson_slug>/sections/<section_slug>")
@login_required
def section(lesson_slug, section_slug):
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    read, acknowledged = progress.reading_state(get_session(), current_user.id, lesson)
    previous, following = lesson.neighbours(section.slug)
    text, practice = _shared_parts(lesson, section)
    # The busiest page: rendered once per reading state, then filled in per learner.
    return render_personal(
        "lessons/section.html",
        section_state(lesson, section, read, acknowledged),
        personal=("served",),
        # The moment of serving, signed: the mark-read POST tells how long the page was open.
        served=progress.served_token(current_app.secret_key, current_user.id, lesson, section),
        text=text,
        practice=practice,
        lesson=lesson,
        section=section,
        read=read,
        acknowledged=acknowledged,
        previous=previous,
        following=following,
    )


def section_state(
    lesson: Lesson, section: Section, read: Collection[str], acknowledged: bool
) -> Hashable:
    """Everything a section page shows besides the learner's role, name and CSRF token:
    the content, the section, which of the lesson's sections they have read, and whether
    they acknowledged the notice (shown in full until then, as one line after)."""
    return (catalogue().version, lesson.slug, section.slug, tuple(sorted(read)), acknowledged)


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
    return _with_next_step("lessons/progress.html", lesson_slug)


@bp.get("/<lesson_slug>/notice")
@login_required
def notice(lesson_slug):
    """The educational-use notice in full, always reachable from its one-line form."""
    lesson = lesson_or_404(lesson_slug)
    return render_template(
        "lessons/notice.html",
        lesson=lesson,
        acknowledged=attempts.acknowledged(get_session(), current_user.id, lesson),
        help_sections=medical_help_sections(lesson),
        help_anchor=MEDICAL_HELP_ANCHOR,
    )


@bp.post("/<lesson_slug>/notice/acknowledge")
@login_required
def acknowledge(lesson_slug):
    """The learner read the notice: the same record the final quiz asks for, after which the
    lesson pages show the notice as one line. Back to the page the button was on."""
    lesson = lesson_or_404(lesson_slug)
    with writing() as db:
        attempts.acknowledge(db, current_user.id, lesson)
    back = lesson.section(request.form.get("section", ""))
    if back is not None:
        return redirect(url_for("lessons.section", lesson_slug=lesson.slug, section_slug=back.slug))
    return redirect(url_for("lessons.course", lesson_slug=lesson.slug))
