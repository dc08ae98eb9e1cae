"""Knowledge checks after each section and the final graded quiz."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from learnapp import attempts, certificates, grading
from learnapp.content import Quiz
from learnapp.db import get_session, writing
from learnapp.forms import EmptyForm
from learnapp.models import QuizAttempt
from learnapp.views import catalogue, lesson_or_404

bp = Blueprint("quizzes", __name__, url_prefix="/quizzes")


def _final_quiz(lesson):
    return catalogue().final_quiz(lesson.slug) or abort(404)


def _policy() -> attempts.RetakePolicy:
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


@bp.post("/<lesson_slug>/checks/<section_slug>")
@login_required
def check(lesson_slug, section_slug):
    lesson = lesson_or_404(lesson_slug)
    section = lesson.section(section_slug) or abort(404)
    checks = catalogue().checks(lesson.slug) or abort(404)
    questions = [(q, grading.practice_order(q)) for q in checks.for_section(section.slug)] or abort(
        404
    )
    drawn = [{"id": q.id, "order": order} for q, order in questions]
    try:
        responses = attempts.parse_form(drawn, checks, request.form.to_dict(flat=False))
    except grading.InvalidResponse as error:
        abort(400, description=str(error))
    graded = [
        (q, order, responses[q.id], grading.grade(q, responses[q.id])) for q, order in questions
    ]
    _, following = lesson.neighbours(section.slug)
    return render_template(
        "quizzes/check.html",
        lesson=lesson,
        section=section,
        graded=graded,
        following=following,
        form=EmptyForm(),
    )


@bp.get("/<lesson_slug>/final")
@login_required
def final(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    quiz = _final_quiz(lesson)
    db = get_session()
    history = attempts.attempts_of(db, current_user.id, quiz.id)
    return render_template(
        "quizzes/final.html",
        lesson=lesson,
        quiz=quiz,
        status=attempts.status(db, current_user.id, lesson, quiz, _policy()),
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
            held = certificates.latest_for(db, current_user.id, lesson.slug)
            attempt = attempts.start(
                db,
                current_user.id,
                lesson,
                quiz,
                catalogue(),
                _policy(),
                renewal_opens=certificates.recertify_from(
                    held, current_app.config["RECERTIFY_WINDOW_DAYS"]
                ),
                time_zone=current_app.config["TIME_ZONE"],
            )
    except attempts.QuizClosed as reason:
        flash(str(reason), "warning")
        return redirect(url_for("quizzes.final", lesson_slug=lesson.slug))
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))


@bp.get("/attempts/<id:attempt_id>")
@login_required
def attempt(attempt_id):
    attempt, quiz = _own_attempt(attempt_id)
    lesson = lesson_or_404(quiz.lesson)
    questions = attempts.drawn_questions(attempt, quiz)
    if attempt.state == "in_progress":
        return render_template(
            "quizzes/attempt.html",
            lesson=lesson,
            quiz=quiz,
            attempt=attempt,
            questions=questions,
            form=EmptyForm(),
        )
    db = get_session()
    return render_template(
        "quizzes/result.html",
        lesson=lesson,
        quiz=quiz,
        attempt=attempt,
        questions=questions,
        answers=attempts.answers_of(db, attempt.id),
        certificate=certificates.for_attempt(db, attempt.id) if attempt.passed else None,
        blocked=attempt.passed and certificates.blocks_attempt(db, attempt, catalogue()),
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
    try:
        responses = attempts.parse_form(attempt.drawn, quiz, request.form.to_dict(flat=False))
    except grading.InvalidResponse as error:
        abort(400, description=str(error))
    graded = attempts.grade_attempt(attempt, quiz, responses)
    # The close is a conditional UPDATE: of two racing submits exactly one records answers.
    with writing() as db:
        recorded = attempts.submit(db, graded)
    if not recorded:
        flash("This attempt was already submitted. Here is its result.", "warning")
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
