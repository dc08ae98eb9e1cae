"""Issue 22, parts 2 and 3: blanks confirmed before grading, an ordering step chosen twice
refused, and results a learner can read (rounded scores, missed safety-critical questions
named first, options as they were shown, partial credit told apart and explained, Retake only
when a retake would be accepted, knowledge-check feedback that survives a reload)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from html import unescape
from pathlib import Path

import pytest
from markupsafe import escape

from learnapp import attempts, certificates, grading
from learnapp.content import Question
from learnapp.models import Answer, CertificationBlock, QuizAttempt
from tests.conftest import SECTIONS, AuthActions, count_rows
from tests.security.test_answer_key import form_values, leaks_on_page
from tests.test_quizzes import (
    FINAL,
    LESSON,
    START,
    all_right,
    all_wrong,
    answer_form,
    answers,
    check_form,
    fetch,
    first_of,
    read_all_sections,
    seeded_attempt,
    shown,
    start,
    take_quiz,
    time_travel,
)

EVERY_KIND = {"single", "multiple", "true_false", "matching", "ordering"}
CSS = Path(__file__).resolve().parents[1] / "learnapp" / "static" / "css" / "app.css"


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def ready(client, learner):
    """The learner, with every section read and the disclaimer acknowledged."""
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    return learner


def url(attempt: QuizAttempt) -> str:
    return f"/quizzes/attempts/{attempt.id}"


def without(form: dict, *questions: Question) -> dict:
    """The form with every field of these questions left out, as a browser sends blanks."""
    names = {f"q.{q.id}" for q in questions}
    return {k: v for k, v in form.items() if k not in names and k.rpartition(".")[0] not in names}


def drawn_questions(attempt: QuizAttempt, catalogue) -> list[Question]:
    quiz = catalogue.quizzes[attempt.quiz_id]
    return [quiz.question(e["id"]) for e in attempt.drawn]


def confirmed_value(html: str) -> str:
    match = re.search(r'<input type="hidden" name="confirmed" value="([^"]*)">', html)
    assert match, "no confirmation on the page"
    return match.group(1)


def main_of(html: str) -> str:
    """The page's main content, each CSRF token (timed, so new every second) blanked."""
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r'(name="csrf_token" type="hidden" value=)"[^"]*"', r'\1""', main)


def review_of(html: str, question: Question) -> str:
    """The result page's section for one question."""
    start_at = html.index(f'aria-labelledby="review-{question.id}"')
    return html[html.rindex("<section", 0, start_at) : html.index("</section>", start_at)]


# --- Blanks: listed and confirmed before grading ---------------------------------------


def test_a_submit_with_blanks_lists_them_grades_nothing_then_grades_once_confirmed(
    app, client, ready, db, catalogue
):
    attempt = seeded_attempt(app, ready.id, EVERY_KIND)
    questions = drawn_questions(attempt, catalogue)
    blanks = [questions[1], questions[4], questions[8]]
    form = without(answer_form(attempt, catalogue), *blanks)

    response = client.post(url(attempt), data=form)
    assert response.status_code == 200
    assert fetch(db, attempt.id).state == "in_progress"
    assert count_rows(db, Answer) == 0
    page = main_of(response.text)
    assert "You have not answered 3 questions</h2>" in page
    listed = re.findall(r'<li><a href="#question-([^"]+)">Question (\d+)</a>', page)
    assert listed == [(q.id, str(questions.index(q) + 1)) for q in blanks]
    for question in blanks:  # each listed one is on the page, to answer
        assert f'id="question-{question.id}"' in page
    assert "Submit with 3 unanswered</button>" in page
    assert confirmed_value(page) == "2 5 9"
    # The answers given are kept: each position sent is chosen again.
    for name, values in form.items():
        for value in values:
            if "." in name[2:]:  # a select: matching or ordering
                select = re.search(rf'<select name="{re.escape(name)}".*?</select>', page, re.S)
                assert f'<option value="{value}" selected>' in select.group(0), name
            else:
                assert re.search(
                    rf'<input [^>]*name="{re.escape(name)}"[^>]*value="{value}" checked>', page
                ), (name, value)
    # Nothing graded, so nothing that tells a right answer from a wrong one.
    assert "Why:" not in page and "correct answer" not in page
    for question in questions:
        assert not shown(question.explanation, page)

    response = client.post(url(attempt), data=form | {"confirmed": confirmed_value(page)})
    assert response.status_code == 302 and response.location == url(attempt)
    closed = fetch(db, attempt.id)
    assert closed.state == "closed"
    rows = {a.question_id: a for a in answers(db, attempt.id)}
    assert len(rows) == len(questions)
    assert all(rows[q.id].response is None and rows[q.id].score == 0 for q in blanks)
    assert closed.score == sum(q.points for q in questions) - sum(q.points for q in blanks)


def test_one_blank_reads_as_one_question(app, client, ready, db, catalogue):
    attempt = fetch(db, start(client))
    questions = drawn_questions(attempt, catalogue)
    page = client.post(url(attempt), data=without(answer_form(attempt, catalogue), questions[0]))
    assert "You have not answered 1 question</h2>" in page.text
    assert "Submit with 1 unanswered</button>" in page.text
    assert "question(s)" not in page.text


def test_a_confirmation_covers_only_the_blanks_it_listed(app, client, ready, db, catalogue):
    attempt = seeded_attempt(app, ready.id, EVERY_KIND)
    questions = drawn_questions(attempt, catalogue)
    full = answer_form(attempt, catalogue)
    first = client.post(url(attempt), data=without(full, questions[0])).text
    assert confirmed_value(first) == "1"

    # Another question left blank since: asked again, still nothing graded.
    again = client.post(
        url(attempt), data=without(full, questions[0], questions[3]) | {"confirmed": "1"}
    )
    assert again.status_code == 200
    assert confirmed_value(again.text) == "1 4"
    assert fetch(db, attempt.id).state == "in_progress"
    # Garbage is no confirmation.
    for value in ("all", "yes", "1" * 5000, "1,4", "-1 -4"):
        response = client.post(
            url(attempt), data=without(full, questions[0], questions[3]) | {"confirmed": value}
        )
        assert response.status_code == 200, value
    assert count_rows(db, Answer) == 0
    # Fewer blanks than confirmed (one answered meanwhile): graded.
    response = client.post(url(attempt), data=without(full, questions[3]) | {"confirmed": "1 4"})
    assert response.status_code == 302
    assert fetch(db, attempt.id).state == "closed"


def test_a_complete_submission_is_graded_at_once(client, ready, db, catalogue):
    take_quiz(client, db, catalogue, all_wrong)  # asserts the redirect and the close


def test_an_ordering_question_half_answered_is_listed_with_its_blank_steps(
    app, client, ready, db, catalogue
):
    attempt = seeded_attempt(app, ready.id, {"ordering"})
    question, _ = first_of(attempt, catalogue, "ordering")
    form = answer_form(attempt, catalogue)
    del form[f"q.{question.id}.2"]
    page = client.post(url(attempt), data=form).text
    assert "You have not answered 1 question in full</h2>" in page
    steps = len(question.items)
    assert f"(1 of {steps} steps left blank)</li>" in page
    assert fetch(db, attempt.id).state == "in_progress"


# --- An ordering step chosen for two positions ------------------------------------------


def test_a_step_chosen_for_two_positions_is_refused_on_its_question(
    app, client, ready, db, catalogue
):
    attempt = seeded_attempt(app, ready.id, EVERY_KIND)
    question, order = first_of(attempt, catalogue, "ordering")
    number = drawn_questions(attempt, catalogue).index(question) + 1
    form = answer_form(attempt, catalogue)
    form[f"q.{question.id}.3"] = form[f"q.{question.id}.1"]
    step = next(i for i in question.items if i.id == order[int(form[f"q.{question.id}.1"][0]) - 1])

    for extra in ({}, {"confirmed": " ".join(str(n) for n in range(1, 13))}):
        response = client.post(url(attempt), data=form | extra)
        assert response.status_code == 400
        assert fetch(db, attempt.id).state == "in_progress"
        assert count_rows(db, Answer) == 0
    page = main_of(response.text)
    assert "Nothing is graded yet: a step is chosen twice" in page
    assert f'<a href="#question-{question.id}">Question {number}:' in page
    fieldset = page[
        page.index(f'<fieldset class="question has-error" id="question-{question.id}"') :
    ]
    fieldset = fieldset[: fieldset.index("</fieldset>")]
    assert f'aria-describedby="question-{question.id}-error"' in fieldset
    message = re.search(r'<p class="error" id="[^"]+-error">(.*?)</p>', fieldset, re.S).group(1)
    assert " ".join(unescape(re.sub(r"<[^>]+>", "", message)).split()) == (
        f"{step.text} is chosen for steps 1 and 3. Each step goes in one position only: choose again."
    )
    # Kept as sent, the repeated step included, for the learner to change.
    for slot in ("1", "3"):
        select = re.search(rf'<select name="q\.{question.id}\.{slot}".*?</select>', fieldset, re.S)
        assert f'<option value="{form[f"q.{question.id}.1"][0]}" selected>' in select.group(0)

    form[f"q.{question.id}.3"] = answer_form(attempt, catalogue)[f"q.{question.id}.3"]
    assert client.post(url(attempt), data=form).status_code == 302
    assert fetch(db, attempt.id).percent == 100


def test_repeated_steps_are_found_by_position():
    question = next(q for q in catalogue_of_tests().final_quiz(LESSON).questions if q.items)
    first, second, *_ = [i.id for i in question.items]
    response = [first, second, first, None, second][: len(question.items)]
    found = grading.repeated_steps(question, response)
    assert found[first] == [1, 3]
    assert grading.repeated_steps(question, [i.id for i in question.items]) == {}
    assert grading.repeated_steps(question, None) == {}


def catalogue_of_tests():
    from learnapp.config import ROOT
    from learnapp.content import load_content

    return load_content(ROOT / "lessons", ROOT / "quizzes")


def test_the_pages_sent_back_tell_no_answer(app, client, ready, db, catalogue):
    """The confirmation and the refusal carry positions and question numbers only."""
    attempt = seeded_attempt(app, ready.id, EVERY_KIND)
    quiz = catalogue.quizzes[attempt.quiz_id]
    ids = {
        p.id for q in drawn_questions(attempt, catalogue) for p in q.options or q.pairs or q.items
    }
    question, _ = first_of(attempt, catalogue, "ordering")
    form = without(answer_form(attempt, catalogue), drawn_questions(attempt, catalogue)[0])
    blanks = client.post(url(attempt), data=form).text
    form[f"q.{question.id}.2"] = form[f"q.{question.id}.1"]
    repeated = client.post(url(attempt), data=form).text
    for page in (blanks, repeated):
        assert leaks_on_page(page, ids) == {}
        hidden = form_values(page).hidden
        assert {field for field, _ in hidden} == {"input csrf_token", "input confirmed"}
        assert [value for field, value in hidden if field == "input confirmed"] == ["1"]
        for q in quiz.questions:
            assert not shown(q.explanation, page)


# --- Scores rounded for reading, kept exact ---------------------------------------------


@pytest.mark.parametrize(
    ("percent", "pass_mark", "told"),
    [
        (28.89, 80, "29%"),
        (28.5, 80, "29%"),
        (86.67, 80, "87%"),
        (79.6, 80, "79%"),  # never rounded up onto the pass mark
        (80, 80, "80%"),
        (99.6, 80, "99%"),  # nor onto full marks
        (100, 80, "100%"),
        (0.3, 80, "1%"),  # nor a score down to nothing
        (0, 80, "0%"),
    ],
)
def test_percentages_read_whole(percent, pass_mark, told):
    assert grading.told_percent(percent, pass_mark) == told


@pytest.mark.parametrize(
    ("score", "points", "told"),
    [
        (Fraction(4, 3), 3, "1.3 of 3"),
        (1.3333333333333333, 3, "1.3 of 3"),
        (2, 3, "2 of 3"),
        (2.0, 3, "2 of 3"),
        (Fraction(1, 2), 1, "0.5 of 1"),
        (Fraction(2, 3), 1, "0.7 of 1"),
        (2.96, 3, "2.9 of 3"),
        (0.04, 3, "0.1 of 3"),
        (0, 2, "0 of 2"),
        (3, 3, "3 of 3"),
    ],
)
def test_points_read_to_one_decimal(score, points, told):
    assert grading.told_points(score, points) == told


def partly_right(attempt: QuizAttempt, catalogue, form: dict) -> Question:
    """Tick one wrong option beside the keys of the attempt's first select-all question."""
    question, order = first_of(attempt, catalogue, "multiple")
    distractor = next(o.id for o in question.options if o.id not in question.answer)
    form[f"q.{question.id}"] = [*form[f"q.{question.id}"], str(order.index(distractor) + 1)]
    return question


def test_the_result_rounds_scores_for_reading_and_stores_them_exact(
    app, client, ready, db, catalogue
):
    attempt = seeded_attempt(app, ready.id, {"multiple", "ordering"})
    form = answer_form(attempt, catalogue, lambda q: q.type == "single")
    partly_right(attempt, catalogue, form)
    assert client.post(url(attempt), data=form).status_code == 302

    attempt = fetch(db, attempt.id)
    rows = answers(db, attempt.id)
    questions = {q.id: q for q in drawn_questions(attempt, catalogue)}
    exact = sum(
        (grading.grade(questions[a.question_id], a.response).score for a in rows), Fraction(0)
    )
    assert attempt.score == pytest.approx(float(exact))
    assert attempt.percent == round(float(exact * 100 / attempt.points), 2)  # stored exact
    assert attempt.percent != int(attempt.percent)  # a score that needs rounding
    whole = Decimal(str(attempt.percent)).quantize(Decimal(1), ROUND_HALF_UP)

    page = client.get(url(attempt)).text
    assert f"<h1>Your result: {whole}%</h1>" in page
    assert f"{attempt.percent}%" not in page
    lesson = catalogue.lessons[LESSON]
    for slug, (score, points) in attempt.by_section.items():
        title = re.escape(str(escape(lesson.section(slug).title)))
        cell = re.search(rf'<th scope="row">{title}</th>\s*<td>([^<]*)</td>', page).group(1)
        assert re.fullmatch(r"\d+(\.\d)? of \d+", cell), cell
        assert cell == grading.told_points(score, points)
        assert float(cell.split()[0]) == pytest.approx(score, abs=0.05)
    partial = next(a for a in rows if 0 < a.score < a.points)
    assert f"· {grading.told_points(partial.score, partial.points)} points" in review_of(
        page, questions[partial.question_id]
    )
    history = client.get(FINAL).text
    assert f"<td>{whole}%</td>" in history
    assert f"Your grade: <strong>{whole}%</strong>" in history


# --- The result page: missed critical questions first, options as shown -----------------


@pytest.mark.parametrize("missed", [1, 2])
def test_missed_safety_critical_questions_are_named_at_the_top(
    app, client, ready, db, catalogue, missed
):
    attempt = fetch(db, start(client))
    questions = drawn_questions(attempt, catalogue)
    critical = [q for q in questions if q.critical][:missed]
    assert len(critical) == missed
    form = answer_form(attempt, catalogue, lambda q: q in critical)
    assert client.post(url(attempt), data=form).status_code == 302

    page = main_of(client.get(url(attempt)).text)
    noun = "question" if missed == 1 else "questions"
    assert f"You missed {missed} safety-critical {noun}." in page
    box = page[page.index('<section class="critical-missed"') :]
    box = box[: box.index("</section>")]
    assert page.index(box) < page.index("<h2>By cause</h2>")
    links = re.findall(r'<a href="#review-([^"]+)">Question (\d+): ([^<]*)</a>', box)
    assert links == [(q.id, str(questions.index(q) + 1), str(escape(q.prompt))) for q in critical]
    for question in critical:
        assert f'id="review-{question.id}"' in page


def test_no_missed_critical_list_when_none_was_missed(client, ready, db, catalogue):
    attempt = take_quiz(client, db, catalogue, lambda q: not q.critical)
    page = client.get(url(attempt)).text
    assert "critical-missed" not in page


def test_the_result_lists_options_in_the_order_the_learner_saw_them(
    app, client, ready, db, catalogue
):
    attempt = seeded_attempt(app, ready.id, {"single", "multiple"})
    attempt_page = client.get(url(attempt)).text
    take = answer_form(attempt, catalogue, all_wrong)
    assert client.post(url(attempt), data=take).status_code == 302
    page = client.get(url(attempt)).text
    reordered = 0
    for entry in attempt.drawn:
        question = catalogue.quizzes[attempt.quiz_id].question(entry["id"])
        if question.type not in ("single", "multiple"):
            continue
        texts = {o.id: str(escape(o.text)) for o in question.options}
        seen = [texts[part] for part in entry["order"]]
        review = review_of(page, question)
        assert sorted(seen, key=review.index) == seen, question.id
        fieldset = attempt_page[attempt_page.index(f'id="question-{question.id}"') :]
        assert sorted(seen, key=fieldset.index) == seen  # as the attempt page showed them
        reordered += entry["order"] != [o.id for o in question.options]
    assert reordered  # the shuffle moved some, so authored order would not pass


def test_knowledge_check_feedback_lists_options_as_the_check_showed_them(
    client, learner, catalogue
):
    section = "spine-and-spasm"
    questions, form = check_form(catalogue, section, all_wrong)
    page = client.post(f"/quizzes/{LESSON}/checks/{section}", data=form, follow_redirects=True)
    for question in questions:
        if question.type == "single":
            seen = [
                str(escape(next(o.text for o in question.options if o.id == part)))
                for part in grading.practice_order(question)
            ]
            review = review_of(page.text, question)
            assert sorted(seen, key=review.index) == seen


# --- Partly correct, told apart; the select-all rule, explained --------------------------


def test_partly_correct_is_told_apart_from_not_correct(app, client, ready, db, catalogue):
    attempt = seeded_attempt(app, ready.id, {"multiple", "single"})
    form = answer_form(attempt, catalogue, lambda q: q.type == "single")
    partly = partly_right(attempt, catalogue, form)
    wrong, _ = first_of(attempt, catalogue, "single")
    assert client.post(url(attempt), data=form).status_code == 302
    page = client.get(url(attempt)).text

    review = review_of(page, partly)
    assert review.startswith('<section class="review is-partly"')
    assert '<span class="partly">Partly correct</span>' in review
    assert "Not correct" not in review
    review = review_of(page, wrong)
    assert review.startswith('<section class="review is-wrong"')
    assert '<span class="incorrect">Not correct</span>' in review

    # In colour too, each its own and readable: text contrast of at least 4.5:1 on the page.
    css = CSS.read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))

    def colour_of(selector: str) -> str:
        rule = re.search(rf"^{re.escape(selector)} \{{[^}}]*color: var\(--([a-z-]+)\)", css, re.M)
        assert rule, selector
        return colours[rule.group(1)]

    partly_colour, wrong_colour = colour_of(".partly"), colour_of(".incorrect")
    assert partly_colour != wrong_colour
    for colour in (partly_colour, wrong_colour, colour_of(".correct")):
        assert contrast(colour, colours["paper"]) >= 4.5, colour
    assert ".review.is-partly" in css  # and a border of its own


def contrast(one: str, other: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted([luminance(one), luminance(other)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_a_select_all_question_explains_its_partial_credit(app, client, ready, db, catalogue):
    attempt = seeded_attempt(app, ready.id, {"multiple"})
    question, _ = first_of(attempt, catalogue, "multiple")
    open_page = client.get(url(attempt)).text
    fieldset = open_page[open_page.index(f'id="question-{question.id}"') :]
    fieldset = fieldset[: fieldset.index("</fieldset>")]
    # Before grading, the rule without numbers (the number of right options is no hint).
    assert " ".join(re.search(r'<p class="help">(.*?)</p>', fieldset, re.S).group(1).split()) == (
        "Select all that apply. Each right option you tick earns part of the points and each "
        "wrong option you tick takes part away; a question never scores below 0."
    )
    form = answer_form(attempt, catalogue)
    partly_right(attempt, catalogue, form)
    assert client.post(url(attempt), data=form).status_code == 302

    review = review_of(client.get(url(attempt)).text, question)
    keys = len(question.answer)
    wrong = len(question.options) - keys
    rule = " ".join(re.search(r'<p class="rule">(.*?)</p>', review, re.S).group(1).split())
    taken = (
        "its one wrong option takes all of them away when ticked"
        if wrong == 1
        else f"each of its {wrong} wrong options takes 1/{wrong} of them away when ticked"
    )
    assert rule == (
        "<strong>How this select-all question is scored:</strong> each of its "
        f"{keys} right options earns 1/{keys} of the {question.points} points when ticked, "
        f"and {taken}. The score never goes below 0, so ticking every option scores 0."
    )
    # ...which is the rule grading applies: every key and one wrong option ticked.
    row = next(a for a in answers(db, attempt.id) if a.question_id == question.id)
    expected = max(0, Fraction(1) - Fraction(1, wrong)) * question.points
    assert row.score == pytest.approx(float(expected))


# --- Retake: offered only when a start would be accepted --------------------------------


RETAKE_BUTTON = "Retake the quiz</button>"


def test_a_failed_result_offers_a_retake_that_starts_one(client, ready, db, catalogue):
    failed = take_quiz(client, db, catalogue, all_wrong)
    page = client.get(url(failed)).text
    assert RETAKE_BUTTON in page
    assert f'<form method="post" action="{START}">' in page
    fresh = start(client)
    assert fresh != failed.id
    # With an attempt open, the result points to it instead.
    page = client.get(url(failed)).text
    assert RETAKE_BUTTON not in page
    assert f'href="/quizzes/attempts/{fresh}">resume it</a>' in page


def test_a_certification_block_is_said_beside_the_retake_it_does_not_refuse(
    client, ready, db, catalogue
):
    """A block stops a certificate, not the quiz (the start accepts a retake): the result
    says so beside the Retake it still offers."""
    failed = take_quiz(client, db, catalogue, all_wrong)
    db.add(
        CertificationBlock(
            user_id=ready.id, lesson=LESSON, code="REVOKED-CODE", blocked_at=datetime.now(UTC)
        )
    )
    db.commit()
    page = client.get(url(failed)).text
    assert str(escape(certificates.BLOCKED)) in page
    assert RETAKE_BUTTON in page
    assert start(client) != failed.id


def test_a_passed_result_offers_no_retake(client, ready, db, catalogue):
    passed = take_quiz(client, db, catalogue, all_right)
    assert RETAKE_BUTTON not in client.get(url(passed)).text


class TestCooldown:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "QUIZ_RETAKE_COOLDOWN_MINUTES": 30, "TIME_ZONE": "Europe/Paris"}

    def test_no_retake_while_the_cooldown_runs_and_when_it_opens(
        self, app, client, ready, db, catalogue
    ):
        failed = take_quiz(client, db, catalogue, all_wrong)
        page = client.get(url(failed)).text
        opens = failed.submitted_at + timedelta(minutes=30)
        told = attempts.opening(opens, datetime.now(UTC), "Europe/Paris")
        assert f"You can retake the quiz {told}." in page
        assert re.fullmatch(r"(tomorrow )?from \d\d:\d\d", told)
        assert RETAKE_BUTTON not in page
        assert f'action="{START}"' not in page
        # The words are the start's own refusal.
        assert client.post(START).location == FINAL
        assert f"You can retake the quiz {told}." in client.get(FINAL).text

        time_travel(db, ready.id, timedelta(minutes=31))
        page = client.get(url(failed)).text
        assert RETAKE_BUTTON in page
        assert "You can retake the quiz from" not in page


class TestDailyCap:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "QUIZ_ATTEMPTS_PER_DAY": 1}

    def test_no_retake_until_tomorrow(self, client, ready, db, catalogue):
        failed = take_quiz(client, db, catalogue, all_wrong)
        page = client.get(url(failed)).text
        assert "You can retake the quiz tomorrow from " in page
        assert RETAKE_BUTTON not in page


def test_opening_times_are_told_in_the_sites_zone_to_the_minute():
    now = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert attempts.opening(datetime(2025, 3, 4, 13, 4, 10, tzinfo=UTC), now, "UTC") == "from 13:05"
    assert attempts.opening(datetime(2025, 3, 4, 13, 5, tzinfo=UTC), now, "UTC") == "from 13:05"
    # 13:05 UTC is 14:05 in Paris; 23:30 UTC is already tomorrow there.
    assert attempts.opening(datetime(2025, 3, 4, 13, 5, tzinfo=UTC), now, "Europe/Paris") == (
        "from 14:05"
    )
    assert attempts.opening(datetime(2025, 3, 4, 23, 30, tzinfo=UTC), now, "Europe/Paris") == (
        "tomorrow from 00:30"
    )
    assert attempts.opening(datetime(2025, 3, 6, 8, 0, tzinfo=UTC), now, "UTC") == (
        "from 6 March 2025, 08:00"
    )


def test_refusals_are_the_starts_own():
    ready = attempts.QuizStatus(0, True, None, None)
    later = datetime.now(UTC) + timedelta(days=30)
    assert attempts.refusal(ready, None, "UTC") is None
    assert attempts.refusal(attempts.QuizStatus(2, True, None, None), None, "UTC") == (
        "Read every section first: 2 left."
    )
    assert attempts.refusal(attempts.QuizStatus(0, True, 7, later), later, "UTC") is None  # resume
    assert attempts.refusal(ready, later, "UTC").startswith(
        "You already hold a valid certificate. You can retake the quiz to renew it from "
    )


# --- Knowledge-check feedback survives a reload -----------------------------------------


def test_knowledge_check_feedback_survives_a_reload(app, client, learner, db, catalogue):
    section = "spine-and-spasm"
    check_url = f"/quizzes/{LESSON}/checks/{section}"
    questions, form = check_form(catalogue, section, all_wrong)

    response = client.post(check_url, data=form)
    assert response.status_code == 302
    assert response.location == check_url  # Post/Redirect/Get
    first = client.get(check_url)
    assert first.status_code == 200
    assert first.text.count("Not correct") == len(questions)
    for question in questions:
        assert shown(question.explanation, first.text)
    again = client.get(check_url)  # a reload
    assert again.status_code == 200
    assert main_of(again.text) == main_of(first.text)
    assert "That action is not available here" not in again.text

    # A browser posting the form again gets the feedback again, now on the new answers.
    _, right = check_form(catalogue, section, all_right)
    assert client.post(check_url, data=right).location == check_url
    page = client.get(check_url).text
    assert page.count('<span class="correct">Correct</span>') == len(questions)

    # Each section's latest check is kept apart.
    other = "poor-posture"
    other_questions, other_form = check_form(catalogue, other, all_wrong)
    client.post(f"/quizzes/{LESSON}/checks/{other}", data=other_form)
    assert client.get(check_url).text.count('<span class="correct">Correct</span>') == len(
        questions
    )
    other_page = client.get(f"/quizzes/{LESSON}/checks/{other}").text
    assert other_page.count("Not correct") == len(other_questions)
    assert count_rows(db, QuizAttempt) == 0  # practice: nothing recorded


def test_a_check_url_with_no_feedback_kept_leads_to_the_check(app, client, learner, catalogue):
    section = SECTIONS[0]
    check_url = f"/quizzes/{LESSON}/checks/{section}"
    response = client.get(check_url)
    assert response.status_code == 302
    assert response.location == f"/lessons/{LESSON}/sections/{section}#practice-title"

    _, form = check_form(catalogue, section, all_right)
    client.post(check_url, data=form)
    assert client.get(check_url).status_code == 200
    # Signing in again starts a new session: the answers went with the old one.
    auth = AuthActions(client)
    auth.logout()
    auth.login(learner.email)
    assert client.get(check_url).status_code == 302
    assert client.get(f"/quizzes/{LESSON}/checks/no-such-section").status_code == 404
