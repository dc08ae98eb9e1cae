"""Item statistics: facility and discrimination checked against arithmetic done by hand, the
flags an instructor reads, and the same numbers computed in SQL by reports.item_analysis."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert

from learnapp import reports
from learnapp.db import utcnow
from learnapp.itemstats import (
    ItemSums,
    Thresholds,
    discrimination,
    facility,
    flags,
    low_facility,
    too_few,
)
from learnapp.models import Answer, Cohort, QuizAttempt
from tests.test_instructor import (
    LESSON,
    add_cohort,
    add_quiz_version,
    add_users,
    closed_attempt,
    enrol,
    logged_in,
    refresh_progress,
)

# Too few attempts to judge: no flags (the page says so once, above its table).
FEW: list[str] = []


def sums_of(xs: list[float], ys: list[float], points: float = 1) -> ItemSums:
    """The sums the SQL query returns, for scores x on the question and y on the rest."""
    return ItemSums(
        n=len(xs),
        max_points=points * len(xs),
        sx=sum(xs),
        sy=sum(ys),
        sxx=sum(x * x for x in xs),
        syy=sum(y * y for y in ys),
        sxy=sum(x * y for x, y in zip(xs, ys, strict=True)),
    )


# x = [1, 1, 0, 1, 0] (one point each), rest of the quiz y = [9, 8, 3, 7, 4]:
#   n = 5, sx = 3, sxx = 3, sy = 31, syy = 81 + 64 + 9 + 49 + 16 = 219,
#   sxy = 9 + 8 + 0 + 7 + 0 = 24
#   facility = 3 / 5 = 60%
#   mean x = 0.6, mean y = 6.2; dx = [.4, .4, -.6, .4, -.6], dy = [2.8, 1.8, -3.2, .8, -2.2]
#   sum dx*dy = 1.12 + .72 + 1.92 + .32 + 1.32 = 5.4
#   sum dx^2 = 3 * .16 + 2 * .36 = 1.2; sum dy^2 = 7.84 + 3.24 + 10.24 + .64 + 4.84 = 26.8
#   r = 5.4 / sqrt(1.2 * 26.8) = 5.4 / sqrt(32.16) = 27 / sqrt(804) = 0.95221 -> 95.22%
X = [1, 1, 0, 1, 0]
Y = [9, 8, 3, 7, 4]
R = 27 / math.sqrt(804)


def test_sums_match_the_hand_arithmetic():
    assert sums_of(X, Y) == ItemSums(n=5, max_points=5, sx=3, sy=31, sxx=3, syy=219, sxy=24)


def test_facility_and_discrimination_by_hand():
    sums = sums_of(X, Y)
    assert facility(sums) == pytest.approx(60)
    assert discrimination(sums) == pytest.approx(100 * R)
    assert discrimination(sums) == pytest.approx(95.221, abs=1e-3)


@pytest.mark.parametrize(
    ("xs", "ys", "points", "expected_facility", "expected_discrimination"),
    [
        # Partial credit: x = [2, 1, 0, 2] of 2 points: 5 / 8 = 62.5%. y = [6, 5, 1, 4]:
        # mean x 1.25, mean y 4; dx = [.75, -.25, -1.25, .75], dy = [2, 1, -3, 0];
        # sum dx*dy = 1.5 - .25 + 3.75 + 0 = 5; sum dx^2 = 2.75; sum dy^2 = 14;
        # r = 5 / sqrt(38.5) = 0.80582.
        ([2, 1, 0, 2], [6, 5, 1, 4], 2, 62.5, 100 * 5 / math.sqrt(38.5)),
        # Better on the rest of the quiz, worse here: x = [0, 0, 1, 1], y = [8, 6, 2, 0]:
        # mean x .5, mean y 4; dx = [-.5, -.5, .5, .5], dy = [4, 2, -2, -4];
        # sum dx*dy = -2 - 1 - 1 - 2 = -6; sum dx^2 = 1; sum dy^2 = 40;
        # r = -6 / sqrt(40) = -0.94868.
        ([0, 0, 1, 1], [8, 6, 2, 0], 1, 50, -100 * 6 / math.sqrt(40)),
        # Everyone right: x never varies, so no correlation exists.
        ([1, 1, 1, 1, 1], Y, 1, 100, None),
        # Nobody right.
        ([0, 0, 0, 0, 0], Y, 1, 0, None),
        # The rest of the quiz never varies.
        (X, [5, 5, 5, 5, 5], 1, 60, None),
        # A single attempt.
        ([1], [3], 1, 100, None),
    ],
)
def test_facility_and_discrimination_cases(
    xs, ys, points, expected_facility, expected_discrimination
):
    sums = sums_of(xs, ys, points)
    assert facility(sums) == pytest.approx(expected_facility)
    assert discrimination(sums) == pytest.approx(expected_discrimination)


def test_no_attempts_have_no_statistics():
    empty = ItemSums(0, 0, 0, 0, 0, 0, 0)
    assert facility(empty) is None and discrimination(empty) is None


# With y = 10 * x the correlation is exactly 1 whenever x varies, so only facility decides.
@pytest.mark.parametrize(
    ("xs", "ys", "expected"),
    [
        (X, Y, FEW),
        ([1] * 9, [10] * 9, FEW),  # too easy and flat, but 9 attempts are too few to say
        ([1] * 19 + [0], [10] * 19 + [0], ["too easy"]),  # 95%
        ([1] * 9 + [0], [10] * 9 + [0], []),  # exactly 90%: not above it
        ([1] + [0] * 9, [10] + [0] * 9, ["too hard"]),  # 10%
        ([1, 1] + [0] * 8, [10, 10] + [0] * 8, []),  # exactly 20%: not below it
        # r = 0: x = [1, 1, 0, 0] * 3 and y = [1, 0, 1, 0] * 3 have dx*dy = .25 - .25 - .25 + .25
        ([1, 1, 0, 0] * 3, [1, 0, 1, 0] * 3, ["discriminates poorly"]),
        ([0, 0, 1, 1] * 3, [8, 6, 2, 0] * 3, ["discriminates poorly"]),  # negative
        ([1] * 10, list(range(10)), ["too easy", "discriminates poorly"]),  # no variance
        ([0] * 10, list(range(10)), ["too hard", "discriminates poorly"]),
    ],
)
def test_flags(xs, ys, expected):
    assert flags(sums_of(xs, ys), Thresholds()) == expected


def test_flag_thresholds_are_configurable():
    limits = Thresholds(min_attempts=5, too_easy=50, too_hard=10, weak_discrimination=96)
    assert flags(sums_of(X, Y), limits) == ["too easy", "discriminates poorly"]


@pytest.mark.parametrize(
    ("xs", "few", "low"),
    [
        ([1] * 2 + [0] * 7, True, True),  # 22%: low however few the attempts
        ([1] * 3 + [0] * 7, False, False),  # exactly 30%: not under it
        ([1] * 2 + [0] * 8, False, True),  # 20%
        ([], True, False),  # no attempts: no facility to call low
    ],
)
def test_too_few_attempts_and_low_facility(xs, few, low):
    sums = sums_of(xs, [0] * len(xs))
    assert too_few(sums, Thresholds()) is few
    assert low_facility(sums, Thresholds()) is low


# --- The same numbers from SQL ------------------------------------------------------------
#
# Five learners, first attempts. Question A (single, key a) scores x = [1, 1, 0, 1, 0]; an
# ordering question stands for the rest of the quiz with y = [9, 8, 3, 7, 4] of 10; a
# multiple-response question (keys a, b; wrong options c "Hamstrings", d "Calf muscles")
# nobody gets right. Learner 3 retakes: A right, y = 5, and ticks c again.
# All attempts: x = [1, 1, 0, 1, 0, 1], y = [9, 8, 3, 7, 4, 5]:
#   n = 6, sx = 4, sxx = 4, sy = 36, syy = 219 + 25 = 244, sxy = 24 + 5 = 29
#   facility = 4 / 6 = 66.67%
#   mean x = 2/3, mean y = 6; dx = [1/3, 1/3, -2/3, 1/3, -2/3, 1/3], dy = [3, 2, -3, 1, -2, -1]
#   sum dx*dy = (3 + 2 + 6 + 1 + 4 - 1) / 3 = 5; sum dx^2 = 4/9 + 8/9 = 4/3; sum dy^2 = 28
#   r = 5 / sqrt(4/3 * 28) = 0.81832
A, REST, MULTI = "spine-disc-material", "crash-to-spasm-sequence", "muscular-weak-groups"
A_WRONG = [
    ("Solid plates of bone that lock the vertebrae together", 1),
    ("Small muscles that pull each vertebra against the next", 1),
    ("Nothing, because each vertebra rests directly on the one below", 0),
]
R_ALL = 5 / math.sqrt(4 / 3 * 28)


def answers(attempt_id: int, x: int, a_choice: str, y: int, ticked: list[str]) -> list[dict]:
    common = {"attempt_id": attempt_id}
    return [
        {**common, "question_id": A, "section": "spine-and-spasm", "position": 1,
         "response": a_choice, "score": x, "points": 1, "correct": x == 1},
        {**common, "question_id": REST, "section": "vehicle-accidents", "position": 2,
         "response": None, "score": y, "points": 10, "correct": y == 10},
        {**common, "question_id": MULTI, "section": "muscular-dysfunction", "position": 3,
         "response": ticked or None, "score": 0, "points": 2, "correct": False},
    ]  # fmt: skip


def add_attempts(db: Any, version: int, taken: list[tuple[int, int, str, int, list[str]]]) -> None:
    """Closed attempts with their answers, in the order given (so ids rise in that order)."""
    for user_id, x, a_choice, y, ticked in taken:
        values = closed_attempt(user_id, version, utcnow(), 0, False)
        attempt_id = db.scalar(
            insert(QuizAttempt).returning(QuizAttempt.id), {**values, "score": x + y}
        )
        db.execute(insert(Answer), answers(attempt_id, x, a_choice, y, ticked))


@pytest.fixture
def analysed(app, db, create_user) -> SimpleNamespace:
    teacher = create_user(email="teach@example.com", role="instructor")
    other = create_user(email="other@example.com", role="instructor")
    learners = add_users(db, [(f"Learner {i}", f"l{i}@example.com") for i in range(1, 6)])
    (outsider,) = add_users(db, [("Out Sider", "out@example.com")])
    cohort = add_cohort(db, teacher.id)
    enrol(db, cohort, learners)
    enrol(db, add_cohort(db, other.id, "Elsewhere"), [outsider])
    version = add_quiz_version(db)
    # An attempt still open is not analysed.
    open_attempt = closed_attempt(learners[1], version, utcnow(), 0, False)
    db.execute(
        insert(QuizAttempt),
        {**open_attempt, "state": "in_progress", "submitted_at": None, "score": None,
         "percent": None, "passed": None},
    )  # fmt: skip
    first, second, third, fourth, fifth = learners
    add_attempts(
        db,
        version,
        [
            (first, 1, "a", 9, ["a", "c"]),
            (second, 1, "a", 8, ["c"]),
            (outsider, 0, "d", 0, ["d"]),  # another instructor's learner
            (third, 0, "b", 3, ["d"]),
            (fourth, 1, "a", 7, ["a", "c", "d"]),
            (fifth, 0, "c", 4, []),
            (third, 1, "a", 5, ["c"]),  # a retake
        ],
    )
    refresh_progress(app, db)
    db.commit()
    return SimpleNamespace(cohort=cohort)


def analysis(app: Any, db: Any, cohort_id: int, first_only: bool = True) -> dict[str, Any]:
    content = app.extensions["learnapp.content"]
    scope = reports.cohort_scope(
        db.get(Cohort, cohort_id), content.lessons[LESSON], content.final_quiz(LESSON)
    )
    items = reports.item_analysis(db, scope, Thresholds(), first_only=first_only)
    return {item.question_id: item for item in items}


def test_item_analysis_of_first_attempts_matches_the_hand_values(app, db, analysed):
    items = analysis(app, db, analysed.cohort)
    assert list(items) == [A, REST, MULTI]  # in quiz order
    a, rest, multi = items[A], items[REST], items[MULTI]
    assert a.sums == ItemSums(n=5, max_points=5, sx=3, sy=31, sxx=3, syy=219, sxy=24)
    assert a.facility == pytest.approx(60)
    assert a.discrimination == pytest.approx(100 * R)
    assert a.flags == FEW and a.too_few and not a.low_facility
    # The rest question sees the same pairs the other way round: 31 / 50 = 62%, same r.
    assert rest.facility == pytest.approx(62)
    assert rest.discrimination == pytest.approx(100 * R)
    assert multi.facility == 0 and multi.discrimination is None
    # Wrong options chosen, right ones left out: c by learners 1, 2 and 4, d by 3 and 4.
    assert a.wrong_choices == A_WRONG
    assert multi.wrong_choices == [("Hamstrings", 3), ("Calf muscles", 2)]
    assert rest.wrong_choices == []  # not a choice question


def test_item_analysis_of_every_attempt_includes_the_retake(app, db, analysed):
    items = analysis(app, db, analysed.cohort, first_only=False)
    a = items[A]
    assert a.sums == ItemSums(n=6, max_points=6, sx=4, sy=36, sxx=4, syy=244, sxy=29)
    assert a.facility == pytest.approx(400 / 6)
    assert a.discrimination == pytest.approx(100 * R_ALL)
    assert a.discrimination == pytest.approx(81.832, abs=1e-3)
    assert a.wrong_choices == A_WRONG  # the retake chose the key
    assert items[MULTI].wrong_choices == [("Hamstrings", 4), ("Calf muscles", 2)]


def item_row(html: str, question_id: str) -> list[str]:
    rows = re.split(r"<tr[ >]", html)  # a highlighted row has a class
    row = next(r for r in rows if f'<span class="meta">{question_id}</span>' in r)
    return re.findall(r"<td>(.*?)</td>", row, re.S)


def test_items_page_shows_the_numbers(app, analysed):
    client = logged_in(app, "teach@example.com")
    url = f"/instructor/cohorts/{analysed.cohort}/items"
    first = client.get(url).text
    assert "first attempts." in first and "Include every attempt" in first
    n, fac, disc, wrong, why = item_row(first, A)
    assert (n, fac, disc, why) == ("5", "60%", "95%", "")
    assert "Solid plates of bone that lock the vertebrae together: 1" in wrong
    fac, disc = item_row(first, MULTI)[1:3]
    assert fac.startswith("0%") and "Low facility: under 30%" in fac and disc == "—"
    every = client.get(f"{url}?attempts=all").text
    assert item_row(every, A)[:3] == ["6", "67%", "82%"]


def test_items_across_cohorts_cover_only_the_instructors_learners(app, create_user, analysed):
    create_user(email="admin@example.com", role="admin")
    url = f"/instructor/items/{LESSON}"
    assert item_row(logged_in(app, "teach@example.com").get(url).text, A)[:2] == ["5", "60%"]
    # The admin sees the other instructor's learner too: x = [1, 1, 0, 0, 1, 0], 3 / 6.
    assert item_row(logged_in(app, "admin@example.com").get(url).text, A)[:2] == ["6", "50%"]
