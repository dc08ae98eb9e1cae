"""Pure grading: parsing responses, partial credit, drawing an attempt, totalling a result."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnapp.config import ROOT
from learnapp.content import Item, Option, Pair, Question, Quiz, load_content
from learnapp.grading import (
    Grade,
    InvalidResponse,
    draw_questions,
    form_values,
    grade,
    parse_response,
    result_of,
    shuffled_parts,
)

CATALOGUE = load_content(ROOT / "lessons", ROOT / "quizzes")
FINAL = CATALOGUE.final_quiz("spinal-muscle-spasm")
BANK = [q for quiz in CATALOGUE.quizzes.values() for q in quiz.questions]
TYPES = ("single", "multiple", "true_false", "matching", "ordering")


def make(qtype: str, qid: str = "", section: str = "s1", points: int = 1, **fields) -> Question:
    """A small question: single a-d (key a), multiple a-e (keys a, b), true_false (false),
    matching p1-p4, ordering i1-i4 (correct order i1, i2, i3, i4)."""
    defaults = {
        "single": {"options": tuple(Option(i, i.upper()) for i in "abcd"), "answer": "a"},
        "multiple": {
            "options": tuple(Option(i, i.upper()) for i in "abcde"),
            "answer": frozenset("ab"),
        },
        "true_false": {"answer": False},
        "matching": {"pairs": tuple(Pair(f"p{n}", f"L{n}", f"R{n}") for n in range(1, 5))},
        "ordering": {"items": tuple(Item(f"i{n}", f"step {n}") for n in range(1, 5))},
    }[qtype]
    return Question(
        id=qid or f"q-{qtype}",
        section=section,
        objective="o",
        type=qtype,
        prompt="p",
        explanation="e",
        link=section,
        points=points,
        **{**defaults, **fields},
    )


def part_ids(question: Question) -> list[str]:
    return [p.id for p in (question.options or question.pairs or question.items)]


def correct_values(question: Question):
    """The form values (as parse_response takes them) of a fully correct answer."""
    if question.type == "single":
        return [question.answer]
    if question.type == "multiple":
        return sorted(question.answer)
    if question.type == "true_false":
        return ["true" if question.answer else "false"]
    if question.type == "matching":
        return {p.id: p.id for p in question.pairs}
    return {str(n): item.id for n, item in enumerate(question.items, 1)}


def score(question: Question, values) -> Fraction:
    return grade(question, parse_response(question, values)).score


# --- Credit per type --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qtype", "points", "values", "expected"),
    [
        ("single", 1, ["a"], 1),
        ("single", 1, ["b"], 0),
        ("true_false", 1, ["false"], 1),
        ("true_false", 1, ["true"], 0),
        # multiple, keys a b of a-e, 2 points: +1/2 per key, -1/3 per distractor, floor 0
        ("multiple", 2, ["a", "b"], 2),
        ("multiple", 2, ["a"], 1),
        ("multiple", 2, ["a", "c"], Fraction(1, 3)),
        ("multiple", 2, ["a", "b", "c"], Fraction(4, 3)),
        ("multiple", 2, ["a", "c", "d"], 0),
        ("multiple", 2, ["c"], 0),
        ("multiple", 2, list("abcde"), 0),
        # matching, 4 pairs, 2 points: points x matched / pairs
        ("matching", 2, {"p1": "p1", "p2": "p2", "p3": "p3", "p4": "p4"}, 2),
        ("matching", 2, {"p1": "p1", "p2": "p2", "p3": "p4", "p4": "p3"}, 1),
        ("matching", 2, {"p1": "p1"}, Fraction(1, 2)),
        ("matching", 2, {"p1": "p2", "p2": "p1", "p3": "p4", "p4": "p3"}, 0),
        # ordering, 4 items, 2 points: points x items in place / items
        ("ordering", 2, {"1": "i1", "2": "i2", "3": "i3", "4": "i4"}, 2),
        ("ordering", 2, {"1": "i2", "2": "i1", "3": "i3", "4": "i4"}, 1),
        ("ordering", 2, {"1": "i1", "2": "i2", "3": "i3"}, Fraction(3, 2)),
        ("ordering", 2, {"1": "i4", "2": "i3", "3": "i2", "4": "i1"}, 0),
    ],
)
def test_full_partial_and_zero_credit(qtype, points, values, expected):
    question = make(qtype, points=points)
    assert score(question, values) == expected
    assert grade(question, parse_response(question, values)).correct is (expected == points)


@pytest.mark.parametrize(
    ("qtype", "values"),
    [
        ("single", []),
        ("single", [""]),
        ("multiple", []),
        ("multiple", [""]),
        ("true_false", []),
        ("true_false", [""]),
        ("matching", {}),
        ("matching", {"p1": "", "p2": ""}),
        ("ordering", {}),
        ("ordering", {"1": ""}),
    ],
)
def test_a_blank_answer_is_none_and_scores_zero(qtype, values):
    question = make(qtype)
    assert parse_response(question, values) is None
    assert grade(question, None) == Grade(Fraction(0), 1)


@pytest.mark.parametrize(
    ("qtype", "values"),
    [
        ("single", ["z"]),
        ("single", ["a", "b"]),
        ("multiple", ["a", "z"]),
        ("multiple", ["a", "a"]),
        ("true_false", ["yes"]),
        ("true_false", ["true", "false"]),
        ("matching", {"p9": "p1"}),
        ("matching", {"p1": "p9"}),
        ("ordering", {"5": "i1"}),
        ("ordering", {"0": "i1"}),
        ("ordering", {"1": "p1"}),
    ],
)
def test_malformed_answers_are_refused(qtype, values):
    with pytest.raises(InvalidResponse):
        parse_response(make(qtype), values)


@pytest.mark.parametrize(
    ("qtype", "values", "response"),
    [
        ("single", ["b"], "b"),
        ("multiple", ["c", "a"], ["a", "c"]),
        ("true_false", ["true"], True),
        ("matching", {"p1": "p2", "p3": ""}, {"p1": "p2", "p2": None, "p3": None, "p4": None}),
        ("ordering", {"2": "i1"}, [None, "i1", None, None]),
    ],
)
def test_a_response_has_the_documented_json_ready_shape(qtype, values, response):
    assert parse_response(make(qtype), values) == response


@given(ticked=st.sets(st.sampled_from("abcdef")))
def test_multiple_response_follows_the_documented_formula(ticked):
    question = make(
        "multiple",
        points=3,
        options=tuple(Option(i, i) for i in "abcdef"),
        answer=frozenset("abc"),
    )
    keys, distractors = len(ticked & set("abc")), len(ticked & set("def"))
    expected = max(Fraction(0), Fraction(keys, 3) - Fraction(distractors, 3)) * 3
    assert score(question, sorted(ticked)) == expected
    if ticked == set("abcdef"):
        assert expected == 0


@pytest.mark.parametrize("question", BANK, ids=lambda q: q.id)
def test_every_bank_question_gives_full_marks_for_its_key(question):
    assert grade(question, parse_response(question, correct_values(question))).correct


# --- Properties over the real bank ------------------------------------------------------

JUNK = st.text(max_size=4)


@st.composite
def payloads(draw, question: Question):
    """Form values built from the question's own ids, a few keywords and arbitrary text."""
    ids = part_ids(question)
    word = st.sampled_from([*ids, "", "true", "false"]) | JUNK
    if question.type == "matching":
        return draw(st.dictionaries(st.sampled_from(ids) | JUNK, word, max_size=len(ids) + 1))
    if question.type == "ordering":
        positions = [str(n) for n in range(0, len(ids) + 2)]
        return draw(st.dictionaries(st.sampled_from(positions) | JUNK, word, max_size=len(ids)))
    return draw(st.lists(word, max_size=len(ids) + 1))


@given(data=st.data())
def test_any_payload_is_refused_or_scored_within_its_points(data):
    question = data.draw(st.sampled_from(BANK))
    try:
        response = parse_response(question, data.draw(payloads(question)))
    except InvalidResponse:
        return
    assert 0 <= grade(question, response).score <= question.points


@given(data=st.data())
def test_any_form_is_refused_or_scored_within_its_points(data):
    question = data.draw(st.sampled_from(BANK))
    order = shuffled_parts(question, random.Random(data.draw(st.integers())))
    names = st.sampled_from(["", *(str(n) for n in range(len(part_ids(question)) + 2))]) | JUNK
    sent = st.sampled_from(["", "0", "1", "2", "99", "²", "true", "false"]) | JUNK
    fields = data.draw(st.dictionaries(names, st.lists(sent, max_size=3), max_size=4))
    try:
        response = parse_response(question, form_values(question, order, fields))
    except InvalidResponse:
        return
    assert 0 <= grade(question, response).score <= question.points


@st.composite
def intentions(draw, question: Question):
    """What a learner means to answer, in ids (as parse_response takes them)."""
    ids = part_ids(question)
    if question.type == "single":
        return draw(st.lists(st.sampled_from(ids), max_size=1))
    if question.type == "multiple":
        return draw(st.lists(st.sampled_from(ids), unique=True))
    if question.type == "true_false":
        return draw(st.sampled_from([[], ["true"], ["false"]]))
    slots = ids if question.type == "matching" else [str(n) for n in range(1, len(ids) + 1)]
    return draw(st.dictionaries(st.sampled_from(slots), st.sampled_from(ids)))


def as_form(question: Question, order: list[str], intention) -> dict[str, list[str]]:
    """The fields a browser sends for this intention when the parts are shown in `order`."""

    def position(part_id: str) -> str:
        return str(order.index(part_id) + 1)

    if question.type == "true_false":
        return {"": intention}
    if question.type in ("single", "multiple"):
        return {"": [position(v) for v in intention]}
    if question.type == "matching":
        slot = {p.id: str(n) for n, p in enumerate(question.pairs, 1)}
        return {slot[k]: [position(v)] for k, v in intention.items()}
    return {k: [position(v)] for k, v in intention.items()}


@given(data=st.data(), seeds=st.lists(st.integers(), min_size=2, max_size=2, unique=True))
def test_shuffling_the_display_never_changes_the_grade(data, seeds):
    first, second = (
        {e["id"]: e["order"] for e in draw_questions(FINAL, random.Random(s))} for s in seeds
    )
    for qid in sorted(first.keys() & second.keys()):
        question = FINAL.question(qid)
        intention = data.draw(intentions(question))
        expected = grade(question, parse_response(question, intention))
        for order in (first[qid], second[qid]):
            values = form_values(question, order, as_form(question, order, intention))
            assert grade(question, parse_response(question, values)) == expected


@pytest.mark.parametrize("raw", ["0", "5", "-1", "²", "1.0", "a", "1" * 4301])
def test_a_form_position_outside_the_choices_is_refused(raw):
    question = make("single")
    with pytest.raises(InvalidResponse):
        form_values(question, part_ids(question), {"": [raw]})


# --- Drawing an attempt -----------------------------------------------------------------


@given(seed=st.integers())
def test_a_draw_from_the_real_bank_is_stratified(seed):
    drawn = draw_questions(FINAL, random.Random(seed))
    ids = [entry["id"] for entry in drawn]
    questions = [FINAL.question(qid) for qid in ids]
    assert len(ids) == FINAL.draw == len(set(ids))
    assert {q.id for q in FINAL.questions if q.critical} <= set(ids)
    # every section with questions is represented by a question testing its mechanism
    assert {q.section for q in questions if not q.critical} == {q.section for q in FINAL.questions}
    for entry, question in zip(drawn, questions, strict=True):
        assert sorted(entry["order"]) == sorted(part_ids(question))


def small_quiz(draw: int) -> Quiz:
    questions = (
        make("single", "a-critical", "a", critical=True),
        make("single", "a-1", "a"),
        make("true_false", "a-2", "a"),
        *(make("ordering", f"b-{n}", "b") for n in range(3)),
        make("matching", "c-only", "c"),
    )
    return Quiz("q", "lesson", "final", "Quiz", questions, draw=draw)


@pytest.mark.parametrize("seed", range(20))
def test_a_small_draw_takes_criticals_and_one_per_section_first(seed):
    ids = [e["id"] for e in draw_questions(small_quiz(draw=4), random.Random(seed))]
    assert len(ids) == 4
    assert "a-critical" in ids and "c-only" in ids
    assert sum(qid in ("a-1", "a-2") for qid in ids) == 1
    assert sum(qid.startswith("b-") for qid in ids) == 1


def test_draws_vary_with_the_seed_and_repeat_with_it():
    draws = [draw_questions(FINAL, random.Random(seed)) for seed in range(30)]
    assert draws[0] == draw_questions(FINAL, random.Random(0))
    assert len({tuple(e["id"] for e in d) for d in draws}) > 1
    orders = {tuple(e["order"]) for d in draws for e in d if e["id"] == "crash-cyclist-first-aid"}
    assert len(orders) > 1


# --- Totalling a result -----------------------------------------------------------------


def right(question: Question) -> Grade:
    return grade(question, parse_response(question, correct_values(question)))


def wrong(question: Question) -> Grade:
    return grade(question, None)


def test_a_pass_needs_the_mark_and_every_critical_question():
    questions = [make("single", f"q{n}", critical=n == 0) for n in range(10)]
    all_right = result_of(questions, [right(q) for q in questions], pass_mark=80)
    assert all_right.passed and all_right.percent == 100.0
    missed_critical = result_of(
        questions, [wrong(questions[0])] + [right(q) for q in questions[1:]], pass_mark=80
    )
    assert missed_critical.percent == 90.0
    assert missed_critical.critical_missed == ("q0",)
    assert not missed_critical.passed


@pytest.mark.parametrize(("right_count", "passed"), [(8, True), (7, False)])
def test_the_pass_mark_is_inclusive(right_count, passed):
    questions = [make("single", f"q{n}") for n in range(10)]
    grades = [right(q) if n < right_count else wrong(q) for n, q in enumerate(questions)]
    assert result_of(questions, grades, pass_mark=80).passed is passed


def test_partial_credit_on_a_critical_question_is_a_miss():
    critical = make("multiple", "crit", points=2, critical=True)
    partial = grade(critical, parse_response(critical, ["a"]))
    assert partial.score == 1
    result = result_of([critical], [partial], pass_mark=50)
    assert result.critical_missed == ("crit",) and not result.passed


def test_section_totals_add_scores_and_points():
    questions = [
        make("matching", "m", "s1", points=2),
        make("ordering", "o", "s1", points=1),
        make("multiple", "x", "s2", points=3),
    ]
    grades = [
        grade(questions[0], parse_response(questions[0], {"p1": "p1", "p2": "p2"})),
        right(questions[1]),
        grade(questions[2], parse_response(questions[2], ["a", "c"])),
    ]
    result = result_of(questions, grades, pass_mark=80)
    assert result.by_section == {"s1": (Fraction(2), 3), "s2": (Fraction(1, 2), 3)}
    assert (result.score, result.points) == (Fraction(5, 2), 6)
    assert not result.passed
