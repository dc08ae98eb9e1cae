"""Knowledge checks after each section and the final graded quiz."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from learnapp import attempts, certificates, grading, plurals
from learnapp.content import Lesson, Quiz, Section
from learnapp.db import get_session, writing
from learnapp.forms import EmptyForm
from learnapp.models import QuizAttempt
from learnapp.views import catalogue, lesson_or_404

bp = Blueprint("quizzes", __name__, url_prefix="/quizzes")

# The session keeps the answers of the learner's latest knowledge checks, one per section and
# at most this many, so that their feedback page survives a reload.
CHECKS_KEPT = 10


# Scores as learners read them (grading keeps the exact values; certificates print their own).
@bp.app_template_filter("percent")
def percent(value: float, pass_mark: int | None = None) -> str:
    """28.89 -> "29%" (never rounded up onto the pass mark or 100%)."""
    return grading.told_percent(value, pass_mark)


@bp.app_template_filter("points_of")
def points_of(score: float, points: int) -> str:
    """1.33333 of 3 -> "1.3 of 3"."""
    return grading.told_points(score, points)


# 3, "question" -> "3 questions"; 1 -> "1 question" (the services' own rule, for pages).
bp.add_app_template_filter(plurals.counted, "counted")


def _final_quiz(lesson):
    return catalogue().final_quiz(lesson.slug) or abort(404)


def retake_policy() -> attempts.RetakePolicy:
    config = current_app.config
    return attempts.RetakePolicy(
        cooldown=timedelta(minutes=config["QUIZ_RETAKE_COOLDOWN_MINUTES"]),
        per_day=config["QUIZ_ATTEMPTS_PER_DAY"] or None,  # 0 means no cap, never "no attempts"
    )


def _own_attempt(attempt_id: int) -> tuple[QuizAttempt, Quiz]:
    """The learner's attempt and the quiz as it was drawn from."""
    db = get_session()
    # Someone else's attempt does not exist, as far as this learner can tell.
    attempt, drawn_from = attempts.own_attempt(db, attempt_id, current_user.id) or abort(404)
    return attempt, attempts.quiz_of(db, attempt, catalogue(), drawn_from)


def _check_of(lesson_slug: str, section_slug: str) -> tuple[Lesson, Section, Quiz, list[Any]]:
    """The section and its knowledge check, with each question's (fixed) shuffle."""
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    checks = catalogue().checks(lesson.slug) or abort(404)
    drawn = [
        {"id": q.id, "order": grading.practice_order(q)} for q in checks.for_section(section.slug)
    ]
    return lesson, section, checks, drawn or abort(404)


@bp.post("/<lesson_slug>/checks/<section_slug>")
@login_required
def check(lesson_slug, section_slug):
    """Check the answers (nothing is recorded), keep them in the session, and show their
    feedback on a page of its own, so that a reload shows it again (Post/Redirect/Get)."""
    lesson, section, checks, drawn = _check_of(lesson_slug, section_slug)
    sent = {k: v for k, v in request.form.to_dict(flat=False).items() if k != "csrf_token"}
    try:
        attempts.parse_form(drawn, checks, sent)
    except grading.InvalidResponse as error:
        abort(400, description=str(error))
    # Parsed, the values are positions, once each: only the empty ones need leaving out.
    sent = {name: chosen for name, values in sent.items() if (chosen := [v for v in values if v])}
    kept, key = session.get("checks", {}), f"{lesson.slug}/{section.slug}"
    kept.pop(key, None)  # the latest goes last, the oldest first
    kept[key] = {"version": catalogue().version, "sent": sent}
    session["checks"] = dict(list(kept.items())[-CHECKS_KEPT:])
    return redirect(url_for("quizzes.feedback", lesson_slug=lesson.slug, section_slug=section.slug))


@bp.get("/<lesson_slug>/checks/<section_slug>")
@login_required
def feedback(lesson_slug, section_slug):
    """The feedback on the learner's latest answers to a section's knowledge check; with
    none kept (a new session, another device, content changed since), the check itself."""
    lesson, section, checks, drawn = _check_of(lesson_slug, section_slug)
    kept = session.get("checks", {}).get(f"{lesson.slug}/{section.slug}")
    if not kept or kept.get("version") != catalogue().version:
        section_url = url_for("lessons.section", lesson_slug=lesson.slug, section_slug=section.slug)
        return redirect(f"{section_url}#practice-title")
    # Parsed before it was kept, from the same content: it parses again.
    responses = attempts.parse_form(drawn, checks, kept["sent"])
    graded = []
    for entry in drawn:
        question = checks.question(entry["id"])
        response = responses[question.id]
        graded.append((question, entry["order"], response, grading.grade(question, response)))
    _, following = lesson.neighbours(section.slug)
    return render_template(
        "quizzes/check.html",
        lesson=lesson,
        section=section,
        graded=graded,
        following=following,
        form=EmptyForm(),
    )


def _renewal_opens(db: Session, lesson: Lesson) -> datetime | None:
    """For the holder of a valid certificate, when retaking the quiz to renew it opens."""
    held = certificates.latest_for(db, current_user.id, lesson.slug)
    return certificates.recertify_from(held, current_app.config["RECERTIFY_WINDOW_DAYS"])


def _may_start(db: Session, lesson: Lesson, quiz: Quiz) -> tuple[attempts.QuizStatus, str | None]:
    """The learner's quiz status, and why a start would be refused now (None: it would not),
    by the check the start itself makes."""
    state = attempts.status(db, current_user.id, lesson, quiz, retake_policy())
    refused = attempts.refusal(state, _renewal_opens(db, lesson), current_app.config["TIME_ZONE"])
    return state, refused


@bp.get("/<lesson_slug>/final")
@login_required
def final(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    quiz = _final_quiz(lesson)
    db = get_session()
    history = attempts.attempts_of(db, current_user.id, quiz.id)
    state, refused = _may_start(db, lesson, quiz)
    return render_template(
        "quizzes/final.html",
        lesson=lesson,
        quiz=quiz,
        status=state,
        refused=refused,
        history=history,
        best=attempts.best_attempt(history),
        form=EmptyForm(),
    )


@bp.post("/<lesson_slug>/final/acknowledge")
@login_required
def acknowledge(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    with writing() as db:
        attempts.acknowledge(db, current_user.id, lesson)
    return redirect(url_for("quizzes.final", lesson_slug=lesson.slug))


@bp.post("/<lesson_slug>/final/attempts")
@login_required
def start(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    quiz = _final_quiz(lesson)
    try:
        with writing() as db:
            attempt = attempts.start(
                db,
                current_user.id,
                lesson,
                quiz,
                catalogue(),
                retake_policy(),
                renewal_opens=_renewal_opens(db, lesson),
                time_zone=current_app.config["TIME_ZONE"],
            )
    except attempts.QuizClosed as reason:
        flash(str(reason), "warning")
        return redirect(url_for("quizzes.final", lesson_slug=lesson.slug))
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))


def _attempt_page(
    attempt: QuizAttempt,
    quiz: Quiz,
    sent: dict[str, list[str]] | None = None,
    unfinished: attempts.Unfinished | None = None,
) -> str:
    """The open attempt's form: as drawn, or as the learner sent it back with what to look at
    (`unfinished`). Positions only: nothing on it tells a right answer from a wrong one."""
    return render_template(
        "quizzes/attempt.html",
        lesson=lesson_or_404(quiz.lesson),
        quiz=quiz,
        attempt=attempt,
        questions=attempts.drawn_questions(attempt, quiz),
        sent=sent,
        unfinished=unfinished,
        form=EmptyForm(),
    )


@bp.get("/attempts/<id:attempt_id>")
@login_required
def attempt(attempt_id):
    attempt, quiz = _own_attempt(attempt_id)
    if attempt.state == "in_progress":
        return _attempt_page(attempt, quiz)
    lesson = lesson_or_404(quiz.lesson)
    db = get_session()
    retake, refused, block = None, None, None
    current = catalogue().final_quiz(lesson.slug)  # what a retake would start
    if not attempt.passed and current is not None:
        retake, refused = _may_start(db, lesson, current)
        # A block does not refuse a retake, but a pass would not be certified yet.
        block = certificates.block_in_force(db, current_user.id, lesson.slug)
    return render_template(
        "quizzes/result.html",
        lesson=lesson,
        quiz=quiz,
        attempt=attempt,
        questions=attempts.drawn_questions(attempt, quiz),
        answers=attempts.answers_of(db, attempt.id),
        certificate=certificates.for_attempt(db, attempt.id) if attempt.passed else None,
        blocked=attempt.passed and certificates.blocks_attempt(db, attempt, catalogue()),
        retake=retake,
        refused=refused,
        block_message=certificates.BLOCKED if block else None,
        form=EmptyForm(),
    )


@bp.post("/attempts/<id:attempt_id>")
@login_required
def submit(attempt_id):
    attempt, quiz = _own_attempt(attempt_id)
    if attempt.state != "in_progress":
        flash(
            "This attempt was already submitted, so your latest answers were not recorded. Here is its result.",
            "warning",
        )
        return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
    sent = request.form.to_dict(flat=False)
    sent.pop("csrf_token", None)
    confirmed = sent.pop("confirmed", [])
    try:
        responses = attempts.parse_form(attempt.drawn, quiz, sent)
    except grading.InvalidResponse as error:
        abort(400, description=str(error))
    unfinished = attempts.unfinished(attempt.drawn, quiz, responses)
    if unfinished.repeated or not unfinished.confirmed_by(confirmed):
        # Nothing graded, the attempt still open: its page again, as answered, listing the
        # blanks to confirm (or answer) and refusing a step chosen for two positions.
        status = 400 if unfinished.repeated else 200
        return _attempt_page(attempt, quiz, sent, unfinished), status
    graded = attempts.grade_attempt(attempt, quiz, responses)
    # The close is a conditional UPDATE: of two racing submits exactly one records answers.
    with writing() as db:
        recorded = attempts.submit(db, graded)
    if not recorded:
        flash("This attempt was already submitted. Here is its result.", "warning")
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
