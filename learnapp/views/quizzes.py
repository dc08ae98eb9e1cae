"""Knowledge checks after each section and the final graded quiz."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from learnapp import attempts, certificates, grading
from learnapp.db import autocommit, begin_write, get_session
from learnapp.forms import EmptyForm
from learnapp.models import QuizAttempt
from learnapp.security import load_user_with, login_manager, session_identity
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


def _own_attempt(attempt_id: int) -> QuizAttempt:
    attempt = get_session().get(QuizAttempt, attempt_id)
    # Someone else's attempt does not exist, as far as this learner can tell.
    if attempt is None or attempt.user_id != current_user.id:
        abort(404)
    return attempt


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
    db = get_session()
    begin_write(db)
    attempts.acknowledge(db, current_user.id, lesson)
    db.commit()
    return redirect(url_for("quizzes.final", lesson_slug=lesson.slug))


@bp.post("/<lesson_slug>/final/attempts")
@login_required
def start(lesson_slug):
    lesson = lesson_or_404(lesson_slug)
    quiz = _final_quiz(lesson)
    db = get_session()
    begin_write(db)
    held = certificates.latest_for(db, current_user.id, lesson.slug)
    try:
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
    db.commit()
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>")
@login_required
def attempt(attempt_id):
    db = get_session()
    attempt = _own_attempt(attempt_id)
    drawn_from = attempts.content_version_of(db, attempt)
    quiz = attempts.quiz_of(db, attempt, catalogue(), drawn_from)
    lesson = lesson_or_404(quiz.lesson)
    questions = attempts.drawn_questions(attempt, quiz)
    if attempt.state == "in_progress":
        return render_template(
            "quizzes/attempt.html",
            lesson=lesson,
            quiz=quiz,
            attempt=attempt,
            signed_field=attempts.SIGNED_ATTEMPT_FIELD,
            signed_attempt=attempts.sign_attempt(current_app.secret_key, attempt, drawn_from),
            questions=questions,
            form=EmptyForm(),
        )
    return render_template(
        "quizzes/result.html",
        lesson=lesson,
        quiz=quiz,
        attempt=attempt,
        questions=questions,
        answers=attempts.answers_of(db, attempt.id),
        certificate=certificates.for_attempt(db, attempt.id) if attempt.passed else None,
    )


def _signed_attempt(attempt_id: int) -> tuple[attempts.SubmittedAttempt, int] | None:
    """The attempt as its page signed it into the form, with the session version of the
    signed-in user it belongs to; None without a valid signature for this attempt and user."""
    identity = session_identity()
    if identity is None:
        return None
    signed = request.form.get(attempts.SIGNED_ATTEMPT_FIELD, "")
    attempt = attempts.signed_attempt(current_app.secret_key, signed, attempt_id, identity[0])
    return None if attempt is None else (attempt, identity[1])


@bp.post("/attempts/<int:attempt_id>")
def submit(attempt_id):
    # The busiest write. From the attempt page's form, signed, it need not read the attempt
    # or the user: its close checks both (attempts.submit), so on PostgreSQL it is one
    # statement. Otherwise, the signed-in user and the attempt are read first, together.
    to_submit = _signed_attempt(attempt_id)
    if to_submit is None:
        rows = load_user_with(attempts.SIGNED_IN_WITH_ATTEMPT, attempt_id=attempt_id)
        # Someone else's attempt does not exist, as far as this learner can tell.
        attempt = attempts.submitted_attempt(rows) or abort(404)
        if attempt.state != "in_progress":
            flash(
                "This attempt was already submitted, so your latest answers were not recorded. Here is its result.",
                "warning",
            )
            return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
        to_submit = (attempt, current_user.session_version)
    attempt, session_version = to_submit
    db = get_session()
    quiz = attempts.quiz_of(db, attempt, catalogue(), attempt.content_version)
    try:
        responses = attempts.parse_form(attempt.drawn, quiz, request.form.to_dict(flat=False))
    except grading.InvalidResponse as error:
        abort(400, description=str(error))
    # The lock only now: reading and parsing need none, and the close is a conditional
    # UPDATE, so of two racing submits exactly one records answers. (On PostgreSQL the
    # submit is one statement, a transaction of its own on the autocommit connection.)
    begin_write(db)
    if not attempts.submit(db, attempt, quiz, responses, session_version, autocommit()):
        # Nothing recorded. From a signed form, the user was not read: they may have been
        # signed out meanwhile (a password change, a disabled account).
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        flash("This attempt was already submitted. Here is its result.", "warning")
    db.commit()
    return redirect(url_for("quizzes.attempt", attempt_id=attempt.id))
