"""The final quiz end to end: opening it, drawing, hiding keys, grading, storing, retakes."""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
import yaml
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnapp import attempts, grading
from learnapp.content import Catalogue, Question, load_content
from learnapp.db import utcnow, writing
from learnapp.models import Answer, DisclaimerAcknowledgement, QuizAttempt, QuizVersion, User
from tests.conftest import SECTIONS, AuthActions, count_rows

LESSON = "spinal-muscle-spasm"
FINAL = f"/quizzes/{LESSON}/final"
START = f"{FINAL}/attempts"
ALREADY_SUBMITTED = "This attempt was already submitted"

Form = dict[str, list[str]]
Wrong = Callable[[Question], bool]


def all_right(_: Question) -> bool:
    return False


def all_wrong(_: Question) -> bool:
    return True


# --- Answering by display position ------------------------------------------------------


def question_fields(question: Question, order: list[str], wrong: bool) -> Form:
    """The form fields a learner sends to answer one question right (or wrong, scoring 0),
    given the part order it was shown in: values are 1-based positions in `order`."""
    name = f"q.{question.id}"

    def at(part_id: str) -> str:
        return str(order.index(part_id) + 1)

    if question.type == "single":
        other = next(o.id for o in question.options if o.id != question.answer)
        return {name: [at(other if wrong else question.answer)]}
    if question.type == "multiple":
        ticked = [o.id for o in question.options if (o.id in question.answer) != wrong]
        return {name: [at(part_id) for part_id in ticked]}
    if question.type == "true_false":
        return {name: [str(question.answer != wrong).lower()]}
    parts = [p.id for p in (question.pairs or question.items)]
    # Slot n holds pair n's match (matching) or the item at position n (ordering); shifting
    # every slot by one leaves none right.
    shift = 1 if wrong else 0
    return {
        f"{name}.{n}": [at(parts[(n - 1 + shift) % len(parts)])] for n in range(1, len(parts) + 1)
    }


def answer_form(attempt: QuizAttempt, catalogue: Catalogue, wrong: Wrong = all_right) -> Form:
    """A full submission for the attempt: each drawn question answered right, or wrong where
    `wrong(question)` says so, translated to positions through the stored order."""
    quiz = catalogue.quizzes[attempt.quiz_id]
    form: Form = {}
    for entry in attempt.drawn:
        question = quiz.question(entry["id"])
        form |= question_fields(question, entry["order"], wrong(question))
    return form


def right_response(question: Question) -> Any:
    """What the Answer row stores for a right answer."""
    if question.type == "multiple":
        return sorted(question.answer)
    if question.type == "matching":
        return {p.id: p.id for p in question.pairs}
    if question.type == "ordering":
        return [i.id for i in question.items]
    return question.answer


# --- Fixtures and small helpers ---------------------------------------------------------


@pytest.fixture
def db(app) -> Iterator[Session]:
    """A session of the test's own, with no app context pushed.

    conftest's `db` keeps an app context pushed, and Flask reuses a pushed context for every
    request, so those requests would share one `g`: the request session, and flask-login's
    cached user (a second client would act as the first).
    """
    session = app.extensions["learnapp.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def catalogue(app) -> Catalogue:
    return app.extensions["learnapp.content"]


@pytest.fixture
def quiz(catalogue):
    return catalogue.final_quiz(LESSON)


def read_all_sections(client) -> None:
    for slug in SECTIONS:
        assert client.post(f"/lessons/{LESSON}/sections/{slug}/read").status_code == 302


@pytest.fixture
def ready(client, learner):
    """The learner, with every section read and the disclaimer acknowledged."""
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    return learner


def start(client) -> int:
    response = client.post(START)
    assert response.status_code == 302, response.text
    match = re.fullmatch(r"/quizzes/attempts/(\d+)", response.location)
    assert match, f"start did not open an attempt: {response.location}"
    return int(match.group(1))


def fetch(db, attempt_id: int) -> QuizAttempt:
    db.rollback()  # see what requests committed since
    return db.get(QuizAttempt, attempt_id)


def answers(db, attempt_id: int) -> list[Answer]:
    db.rollback()
    return list(
        db.scalars(select(Answer).where(Answer.attempt_id == attempt_id).order_by(Answer.position))
    )


def take_quiz(client, db, catalogue, wrong: Wrong = all_right) -> QuizAttempt:
    """Start (or resume) and submit an attempt; the closed attempt."""
    attempt_id = start(client)
    form = answer_form(fetch(db, attempt_id), catalogue, wrong)
    response = client.post(f"/quizzes/attempts/{attempt_id}", data=form)
    assert response.status_code == 302
    assert response.location == f"/quizzes/attempts/{attempt_id}"
    attempt = fetch(db, attempt_id)
    assert attempt.state == "closed"
    return attempt


def drawn_ids(html: str) -> list[str]:
    return re.findall(r'<fieldset class="question" id="question-([^"]+)"', html)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash[^"]*">([^<]*)</p>', html)


def whole_percent(percent: float) -> str:
    """A percentage as learners read it: whole, rounded half up (none of these tests' scores
    is just under the pass mark or 100%, where pages round down instead)."""
    return f"{Decimal(str(percent)).quantize(Decimal(1), ROUND_HALF_UP)}%"


def retake_opens(app, moment: datetime) -> str:
    """The words a learner is told for a retake that opens at `moment`."""
    return f"You can retake the quiz {attempts.opening(moment, utcnow(), app.config['TIME_ZONE'])}."


def shown(text: str, html: str) -> bool:
    return text in html or str(escape(text)) in html


def time_travel(db, user_id: int, back: timedelta) -> None:
    """Move the learner's attempts into the past."""
    db.rollback()
    for attempt in db.scalars(select(QuizAttempt).where(QuizAttempt.user_id == user_id)):
        attempt.started_at -= back
        if attempt.submitted_at is not None:
            attempt.submitted_at -= back
    db.commit()


# --- Opening the quiz -------------------------------------------------------------------


def test_quiz_opens_only_after_reading_every_section_and_the_disclaimer(
    client, learner, db, catalogue
):
    response = client.post(START)
    assert response.location == FINAL
    assert flashes(client.get(FINAL).text) == ["Read every section first: 7 left."]

    for slug in SECTIONS[:-1]:
        client.post(f"/lessons/{LESSON}/sections/{slug}/read")
    client.post(START)
    assert flashes(client.get(FINAL).text) == ["Read every section first: 1 left."]

    client.post(f"/lessons/{LESSON}/sections/{SECTIONS[-1]}/read")
    assert client.post(START).location == FINAL
    page = client.get(FINAL).text
    assert flashes(page) == ["Please confirm you have read the educational-use notice first."]
    assert str(escape(catalogue.lessons[LESSON].disclaimer_text)) in page
    assert count_rows(db, QuizAttempt) == 0

    before = utcnow()
    assert client.post(f"{FINAL}/acknowledge").location == FINAL
    client.post(f"{FINAL}/acknowledge")  # twice: still one record
    db.rollback()
    ack = db.scalars(select(DisclaimerAcknowledgement)).one()
    assert (ack.user_id, ack.lesson) == (learner.id, LESSON)
    assert ack.version == catalogue.lessons[LESSON].disclaimer_version
    assert before - timedelta(seconds=1) <= ack.acknowledged_at <= utcnow()
    assert "Start the quiz" in client.get(FINAL).text

    start(client)
    assert count_rows(db, QuizAttempt) == 1


def test_quiz_pages_need_login(client):
    for response in (client.get(FINAL), client.post(START), client.get("/quizzes/attempts/1")):
        assert response.status_code == 302
        assert "/auth/login" in response.location


# --- Drawing and resuming ---------------------------------------------------------------


def test_start_draws_every_critical_question_and_section_then_resumes(
    app, client, ready, db, quiz, catalogue
):
    attempt_id = start(client)
    attempt = fetch(db, attempt_id)
    ids = [entry["id"] for entry in attempt.drawn]
    assert len(ids) == len(set(ids)) == quiz.draw == 12
    assert {q.id for q in quiz.questions if q.critical} <= set(ids)
    assessed = {s.slug for s in catalogue.lessons[LESSON].assessed_sections}
    assert {quiz.question(qid).section for qid in ids} == assessed
    for entry in attempt.drawn:
        question = quiz.question(entry["id"])
        parts = question.options or question.pairs or question.items
        assert sorted(entry["order"]) == sorted(p.id for p in parts)
    version = db.get(QuizVersion, attempt.quiz_version_id)
    assert (version.quiz_id, version.content_version) == (quiz.id, catalogue.version)

    page = client.get(f"/quizzes/attempts/{attempt_id}").text
    assert drawn_ids(page) == ids
    assert start(client) == attempt_id
    assert drawn_ids(client.get(f"/quizzes/attempts/{attempt_id}").text) == ids
    assert f'href="/quizzes/attempts/{attempt_id}">Resume your attempt' in client.get(FINAL).text

    other_device = app.test_client()
    assert AuthActions(other_device).login(ready.email).status_code == 302
    assert start(other_device) == attempt_id
    assert drawn_ids(other_device.get(f"/quizzes/attempts/{attempt_id}").text) == ids
    assert count_rows(db, QuizAttempt) == 1
    assert fetch(db, attempt_id).drawn == attempt.drawn


def test_attempt_page_carries_no_keys_explanations_or_feedback(client, ready, db, quiz):
    attempt = fetch(db, start(client))
    page = client.get(f"/quizzes/attempts/{attempt.id}").text
    for entry in attempt.drawn:
        question = quiz.question(entry["id"])
        secrets = [question.explanation, question.feedback, *(o.feedback for o in question.options)]
        for text in filter(None, secrets):
            assert not shown(text, page), f"{question.id} leaks {text!r}"
        name = re.escape(f"q.{question.id}")
        inputs = re.findall(rf'<input [^>]*name="{name}"[^>]*value="([^"]*)"', page)
        selects = re.findall(rf'<select name="{name}\.\d+".*?</select>', page, re.S)
        positions = [str(n) for n in range(1, len(entry["order"]) + 1)]
        if question.type in ("single", "multiple"):
            assert (inputs, selects) == (positions, [])
        elif question.type == "true_false":
            assert (inputs, selects) == (["true", "false"], [])
        else:
            assert not inputs
            assert len(selects) == len(positions)
            for select_html in selects:
                assert re.findall(r'<option value="([^"]*)"', select_html) == ["", *positions]
    assert "Why:" not in page
    assert "correct answer" not in page


# --- Grading ----------------------------------------------------------------------------


def test_all_right_passes_with_full_marks_and_stores_every_answer(
    client, ready, db, quiz, catalogue
):
    attempt = take_quiz(client, db, catalogue)
    assert (attempt.percent, attempt.passed, attempt.critical_missed) == (100, True, False)
    assert (
        attempt.score == attempt.points == sum(quiz.question(e["id"]).points for e in attempt.drawn)
    )
    rows = answers(db, attempt.id)
    assert [(a.position, a.question_id) for a in rows] == [
        (n, e["id"]) for n, e in enumerate(attempt.drawn, start=1)
    ]
    for row in rows:
        question = quiz.question(row.question_id)
        assert row.response == right_response(question)
        assert (row.score, row.points, row.correct, row.section) == (
            question.points,
            question.points,
            True,
            question.section,
        )
    page = client.get(f"/quizzes/attempts/{attempt.id}").text
    assert "Your result: 100%" in page
    assert "Well done: you passed the final quiz." in page


def test_all_wrong_fails_and_the_result_explains_each_question(client, ready, db, quiz, catalogue):
    attempt = take_quiz(client, db, catalogue, all_wrong)
    assert (attempt.score, attempt.percent, attempt.passed) == (0, 0, False)
    assert attempt.critical_missed
    assert all(not a.correct and a.score == 0 for a in answers(db, attempt.id))

    page = client.get(f"/quizzes/attempts/{attempt.id}").text
    assert "Your result: 0%" in page
    for entry in attempt.drawn:
        question = quiz.question(entry["id"])
        assert shown(question.explanation, page)
        section, _, anchor = question.link.partition("#")
        assert f'href="/lessons/{LESSON}/sections/{section}#{anchor}">Re-read' in page
        if question.type == "single":
            chosen = next(o for o in question.options if o.id != question.answer)
            assert shown(chosen.feedback, page)
        elif question.type != "multiple":
            assert shown(question.feedback, page)


def test_missing_one_critical_question_fails_whatever_the_mark(client, ready, db, quiz, catalogue):
    critical = next(q for q in quiz.questions if q.critical)
    attempt = take_quiz(client, db, catalogue, lambda q: q.id == critical.id)
    assert attempt.percent >= quiz.pass_mark
    assert attempt.score == attempt.points - critical.points
    assert (attempt.passed, attempt.critical_missed) == (False, True)
    page = client.get(f"/quizzes/attempts/{attempt.id}").text
    assert "You missed 1 safety-critical question." in page
    assert "Well done" not in page


def test_results_by_cause_are_stored_and_shown(client, ready, db, quiz, catalogue):
    wrong_sections = {"poor-posture", "vehicle-accidents"}
    attempt = take_quiz(client, db, catalogue, lambda q: q.section in wrong_sections)
    expected: dict[str, list[float]] = {}
    for row in answers(db, attempt.id):
        score, points = expected.get(row.section, [0, 0])
        expected[row.section] = [score + row.score, points + row.points]
    assert attempt.by_section == expected
    assert all(expected[s][0] == 0 for s in wrong_sections)

    page = client.get(f"/quizzes/attempts/{attempt.id}").text
    lesson = catalogue.lessons[LESSON]
    for slug, (score, points) in expected.items():
        title = escape(lesson.section(slug).title)
        row = re.search(rf'<th scope="row">{re.escape(title)}</th>\s*<td>([^<]*)</td>', page)
        assert row and row.group(1) == f"{score:g} of {points}"
    assert page.count("Re-read<span") == len(wrong_sections)


def test_stored_score_is_the_server_recomputation(app, client, ready, db, quiz, catalogue):
    attempt = seeded_attempt(app, ready.id, {"multiple", "ordering"})
    form = answer_form(attempt, catalogue)
    for entry in attempt.drawn:
        question, name = quiz.question(entry["id"]), f"q.{entry['id']}"
        if question.type == "multiple":  # partial credit: every key and one distractor
            distractor = next(o.id for o in question.options if o.id not in question.answer)
            form[name] = [*form[name], str(entry["order"].index(distractor) + 1)]
        if question.type == "ordering":  # partial credit: the first two steps swapped
            form[f"{name}.1"], form[f"{name}.2"] = form[f"{name}.2"], form[f"{name}.1"]
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form).status_code == 302

    attempt = fetch(db, attempt.id)
    rows = answers(db, attempt.id)
    grades = [grading.grade(quiz.question(a.question_id), a.response) for a in rows]
    assert [a.score for a in rows] == [float(g.score) for g in grades]
    assert any(0 < a.score < a.points for a in rows)
    total = sum((g.score for g in grades), Fraction(0))
    assert attempt.score == pytest.approx(float(total))
    assert attempt.percent == round(float(total * 100 / attempt.points), 2)
    assert attempt.passed == (attempt.percent >= quiz.pass_mark)


def test_a_client_sent_score_is_refused(client, ready, db, catalogue):
    attempt = fetch(db, start(client))
    form = answer_form(attempt, catalogue, all_wrong) | {"score": ["100"], "passed": ["1"]}
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form).status_code == 400
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0


# --- Invalid submissions ----------------------------------------------------------------


def seeded_attempt(app, user_id: int, wanted: set[str]) -> QuizAttempt:
    """Open an attempt, through the service, whose draw has every question type in `wanted`."""
    with app.app_context():
        catalogue = app.extensions["learnapp.content"]
        quiz = catalogue.final_quiz(LESSON)

        def types(seed: int) -> set[str]:
            drawn = grading.draw_questions(quiz, random.Random(seed))
            return {quiz.question(e["id"]).type for e in drawn}

        seed = next(s for s in range(1000) if wanted <= types(s))
        with writing() as session:
            return attempts.start(
                session,
                user_id,
                catalogue.lessons[LESSON],
                quiz,
                catalogue,
                attempts.RetakePolicy(),
                rng=random.Random(seed),
            )


def first_of(attempt: QuizAttempt, catalogue: Catalogue, qtype: str) -> tuple[Question, list]:
    quiz = catalogue.quizzes[attempt.quiz_id]
    return next(
        (quiz.question(e["id"]), e["order"])
        for e in attempt.drawn
        if quiz.question(e["id"]).type == qtype
    )


def break_single_out_of_range(form, attempt, catalogue):
    question, order = first_of(attempt, catalogue, "single")
    form[f"q.{question.id}"] = [str(len(order) + 1)]


def break_single_zero(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "single")
    form[f"q.{question.id}"] = ["0"]


def break_single_by_id(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "single")
    form[f"q.{question.id}"] = [question.answer]  # an option id, not a position


def break_single_two_choices(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "single")
    form[f"q.{question.id}"] = ["1", "2"]


def break_multiple_non_numeric(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "multiple")
    form[f"q.{question.id}"] = ["1", "x"]


def break_question_not_drawn(form, attempt, catalogue):
    drawn = {e["id"] for e in attempt.drawn}
    other = next(q for q in catalogue.quizzes[attempt.quiz_id].questions if q.id not in drawn)
    form[f"q.{other.id}"] = ["1"]


def break_unknown_question(form, attempt, catalogue):
    form["q.no-such-question"] = ["1"]


def break_matching_slot(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "matching")
    form[f"q.{question.id}.{len(question.pairs) + 1}"] = ["1"]


def break_ordering_slot(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "ordering")
    form[f"q.{question.id}.0"] = ["1"]


def break_ordering_value(form, attempt, catalogue):
    question, order = first_of(attempt, catalogue, "ordering")
    form[f"q.{question.id}.1"] = [str(len(order) + 1)]


def break_slot_on_single(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "single")
    form[f"q.{question.id}.1"] = ["1"]


def break_true_false(form, attempt, catalogue):
    question, _ = first_of(attempt, catalogue, "true_false")
    form[f"q.{question.id}"] = ["maybe"]


@pytest.mark.parametrize(
    "corrupt",
    [
        break_single_out_of_range,
        break_single_zero,
        break_single_by_id,
        break_single_two_choices,
        break_multiple_non_numeric,
        break_question_not_drawn,
        break_unknown_question,
        break_matching_slot,
        break_ordering_slot,
        break_ordering_value,
        break_slot_on_single,
        break_true_false,
    ],
    ids=lambda f: f.__name__.removeprefix("break_"),
)
def test_invalid_answers_are_refused_and_nothing_is_stored(
    app, client, ready, db, catalogue, corrupt
):
    attempt = seeded_attempt(app, ready.id, {"single", "multiple", "matching", "ordering"})
    form = answer_form(attempt, catalogue)
    corrupt(form, attempt, catalogue)
    response = client.post(f"/quizzes/attempts/{attempt.id}", data=form)
    assert response.status_code == 400
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0


def test_a_post_without_csrf_token_is_refused(client, ready, db, catalogue):
    assert client.post(START, csrf=False).status_code == 400
    assert count_rows(db, QuizAttempt) == 0
    attempt = fetch(db, start(client))
    form = answer_form(attempt, catalogue)
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form, csrf=False).status_code == 400
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0


def test_another_learners_attempt_does_not_exist(app, client, ready, db, catalogue, create_user):
    attempt = fetch(db, start(client))
    create_user(email="other@example.com")
    other = app.test_client()
    AuthActions(other).login("other@example.com")
    url = f"/quizzes/attempts/{attempt.id}"
    assert other.get(url).status_code == 404
    assert other.post(url, data=answer_form(attempt, catalogue)).status_code == 404
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0


def test_a_stale_form_after_close_changes_nothing(client, ready, db, catalogue):
    attempt = fetch(db, start(client))
    stale = answer_form(attempt, catalogue, all_wrong)
    closed = take_quiz(client, db, catalogue)
    before = [(a.question_id, a.response, a.score) for a in answers(db, attempt.id)]

    response = client.post(f"/quizzes/attempts/{attempt.id}", data=stale)
    assert response.status_code == 302
    assert response.location == f"/quizzes/attempts/{attempt.id}"
    page = client.get(response.location).text
    assert any(ALREADY_SUBMITTED in message for message in flashes(page))
    assert "Your result: 100%" in page
    after = fetch(db, attempt.id)
    assert (after.score, after.submitted_at, after.passed) == (
        closed.score,
        closed.submitted_at,
        True,
    )
    assert [(a.question_id, a.response, a.score) for a in answers(db, attempt.id)] == before


@pytest.mark.parametrize("how", ["signed out everywhere", "account disabled"])
def test_a_form_from_a_session_no_longer_valid_records_nothing(
    app, client, ready, db, catalogue, how
):
    attempt = fetch(db, start(client))
    form = answer_form(attempt, catalogue)
    user = db.get(User, ready.id)
    if how == "account disabled":
        user.is_enabled = False
    else:
        user.session_version += 1  # as a password change does
    db.commit()

    response = client.post(f"/quizzes/attempts/{attempt.id}", data=form)
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0


# --- Grade and retakes ------------------------------------------------------------------


def test_every_attempt_is_kept_and_a_pass_outranks_a_higher_score(
    client, ready, db, quiz, catalogue
):
    critical = next(q for q in quiz.questions if q.critical)
    high = take_quiz(client, db, catalogue, lambda q: q.id == critical.id)
    page = client.get(FINAL).text
    assert f"Your grade: <strong>{whole_percent(high.percent)}</strong>" in page
    assert "Not passed yet" in page

    # A pass that loses exactly two points (one 2-point question, or two 1-point ones), so it
    # scores below the critical miss (one point) and still passes: twelve questions carry at
    # least twelve points, and 10/12 is above the pass mark.
    attempt = fetch(db, start(client))
    others = [quiz.question(e["id"]) for e in attempt.drawn]
    others = [q for q in others if not q.critical]
    two = [q for q in others if q.points == 2][:1] or [q for q in others if q.points == 1][:2]
    wrong = {q.id for q in two}
    assert sum(q.points for q in two) == 2
    form = answer_form(attempt, catalogue, lambda q: q.id in wrong)
    client.post(f"/quizzes/attempts/{attempt.id}", data=form)
    passed = fetch(db, attempt.id)
    assert passed.passed and passed.percent < high.percent

    low = take_quiz(client, db, catalogue, all_wrong)
    assert count_rows(db, QuizAttempt) == 3
    assert count_rows(db, Answer) == 3 * quiz.draw

    history = attempts.attempts_of(db, ready.id, quiz.id)
    assert {a.id for a in history} == {high.id, passed.id, low.id}
    assert attempts.best_attempt(history).id == passed.id
    page = client.get(FINAL).text
    assert f"Your grade: <strong>{whole_percent(passed.percent)}</strong>" in page
    assert '<span class="badge pass">Passed</span>' in page
    assert "Missed a safety-critical question" in page


def test_without_a_pass_the_grade_is_the_best_score(client, ready, db, quiz, catalogue):
    take_quiz(client, db, catalogue, all_wrong)
    best = take_quiz(client, db, catalogue, lambda q: q.critical)
    take_quiz(client, db, catalogue, lambda q: not q.critical)
    history = attempts.attempts_of(db, ready.id, quiz.id)
    assert not any(a.passed for a in history)
    assert attempts.best_attempt(history).id == best.id
    page = client.get(FINAL).text
    assert f"Your grade: <strong>{whole_percent(best.percent)}</strong>" in page
    assert "Not passed yet" in page


def test_a_failed_learner_can_retake_at_once_by_default(client, ready, db, catalogue):
    first = take_quiz(client, db, catalogue, all_wrong)
    assert "Retake the quiz" in client.get(FINAL).text
    second = start(client)
    assert second != first.id
    assert fetch(db, second).state == "in_progress"


class TestCooldown:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "QUIZ_RETAKE_COOLDOWN_MINUTES": 30}

    def test_retake_waits_for_the_cooldown_then_opens(self, app, client, ready, db, catalogue):
        failed = take_quiz(client, db, catalogue, all_wrong)
        assert client.post(START).location == FINAL
        page = client.get(FINAL).text
        told = retake_opens(app, failed.submitted_at + timedelta(minutes=30))
        assert flashes(page) == [told]  # "You can retake the quiz from 14:05."
        assert f"<p>{told}</p>" in page  # and in place of the start button
        assert "Retake the quiz</button>" not in page
        assert count_rows(db, QuizAttempt) == 1

        time_travel(db, ready.id, timedelta(minutes=29))
        assert client.post(START).location == FINAL
        time_travel(db, ready.id, timedelta(minutes=2))
        start(client)
        assert count_rows(db, QuizAttempt) == 2


class TestDailyCap:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "QUIZ_ATTEMPTS_PER_DAY": 2}

    def test_the_daily_cap_delays_but_never_locks_out(self, app, client, ready, db, catalogue):
        first = take_quiz(client, db, catalogue, all_wrong)
        take_quiz(client, db, catalogue, all_wrong)
        assert client.post(START).location == FINAL
        told = retake_opens(app, first.started_at + timedelta(days=1))
        assert told.startswith("You can retake the quiz tomorrow from ")
        assert flashes(client.get(FINAL).text) == [told]
        assert count_rows(db, QuizAttempt) == 2

        time_travel(db, ready.id, timedelta(hours=23))
        assert client.post(START).location == FINAL
        time_travel(db, ready.id, timedelta(hours=2))
        start(client)
        assert count_rows(db, QuizAttempt) == 3


# --- Content versions -------------------------------------------------------------------


def test_an_attempt_is_graded_against_the_version_it_was_drawn_from(
    app, client, ready, db, catalogue, tmp_path
):
    attempt = fetch(db, start(client))
    quiz = catalogue.quizzes[attempt.quiz_id]
    changed = next(
        q for e in attempt.drawn if (q := quiz.question(e["id"])).type == "single" and q.critical
    )
    new_key = next(o.id for o in changed.options if o.id != changed.answer)

    folder = tmp_path / "quizzes"
    shutil.copytree(app.config["QUIZZES_DIR"], folder)
    path = folder / f"{quiz.id}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(q for q in document["questions"] if q["id"] == changed.id)
    entry["answer"] = new_key
    for option in entry["options"]:
        option.setdefault("feedback", "Changed key.")
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    edited = load_content(app.config["LESSONS_DIR"], folder)
    assert edited.version != catalogue.version
    assert edited.quizzes[quiz.id].question(changed.id).answer == new_key
    app.extensions["learnapp.content"] = edited

    form = answer_form(attempt, catalogue)  # right in the ORIGINAL version
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form).status_code == 302
    closed = fetch(db, attempt.id)
    assert (closed.percent, closed.passed) == (100, True)
    row = next(a for a in answers(db, attempt.id) if a.question_id == changed.id)
    assert (row.response, row.correct) == (changed.answer, True)
    assert "Your result: 100%" in client.get(f"/quizzes/attempts/{attempt.id}").text

    # A new attempt is drawn from, and graded against, the edited version.
    fresh = fetch(db, start(client))
    version = db.get(QuizVersion, fresh.quiz_version_id)
    assert version.content_version == edited.version


# --- Knowledge checks -------------------------------------------------------------------


def check_form(catalogue: Catalogue, section: str, wrong: Wrong) -> tuple[list[Question], Form]:
    questions = catalogue.checks(LESSON).for_section(section)
    form: Form = {}
    for question in questions:
        form |= question_fields(question, grading.practice_order(question), wrong(question))
    return list(questions), form


@pytest.mark.parametrize("section", ["spine-and-spasm", "poor-posture"])
def test_knowledge_check_gives_feedback_and_records_nothing(
    client, learner, db, catalogue, section
):
    url = f"/quizzes/{LESSON}/checks/{section}"
    questions, form = check_form(catalogue, section, all_right)
    assert questions
    page = client.post(url, data=form, follow_redirects=True).text
    assert page.count('<span class="correct">Correct</span>') == len(questions)
    assert "Not correct" not in page

    questions, form = check_form(catalogue, section, all_wrong)
    response = client.post(url, data=form, follow_redirects=True)
    assert response.status_code == 200
    assert response.text.count("Not correct") == len(questions)
    assert '<span class="correct">Correct</span>' not in response.text
    for question in questions:
        assert shown(question.explanation, response.text)
    assert count_rows(db, QuizAttempt) == 0
    assert count_rows(db, Answer) == 0


@pytest.mark.parametrize(
    "extra",
    [{"q.check-spine-one-bone": ["maybe"]}, {"q.spine-disc-material": ["1"]}, {"score": ["1"]}],
)
def test_knowledge_check_refuses_invalid_values(client, learner, db, catalogue, extra):
    _, form = check_form(catalogue, "spine-and-spasm", all_right)
    question = catalogue.checks(LESSON).for_section("spine-and-spasm")[1]
    assert question.type == "single"
    bad_position = form | {f"q.{question.id}": [str(len(question.options) + 1)]}
    assert (
        client.post(f"/quizzes/{LESSON}/checks/spine-and-spasm", data=bad_position).status_code
        == 400
    )
    assert (
        client.post(f"/quizzes/{LESSON}/checks/spine-and-spasm", data=form | extra).status_code
        == 400
    )
    assert count_rows(db, QuizAttempt) == 0
