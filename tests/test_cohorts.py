"""Cohorts: an instructor creates one, learners join by code or link, guesses are throttled,
and leaving hides the learner again."""

from __future__ import annotations

import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from learnapp.db import utcnow
from learnapp.models import Cohort, Enrolment
from tests.conftest import count_rows, form_errors
from tests.test_instructor import LESSON, add_cohort, logged_in

CODE = "01ABC-DEFGH-JKMNP-QRSTV"
SHORT_CODE = "K7P29QXM"
CODE_PATTERN = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}")
NOTICE = "Its instructors will see your progress"
THROTTLED = "Too many wrong codes"
LENGTHS = "A cohort code has 8 characters"
UNKNOWN = "No cohort has this code"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "JOIN_CODE_FAILURES": "3 per 15 minutes"}


@pytest.fixture
def cohort(db, create_user) -> SimpleNamespace:
    """An instructor's cohort with a known join code."""
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    cohort_id = add_cohort(
        db,
        teacher.id,
        "Tuesday evening",
        join_code=CODE,
        short_code=SHORT_CODE,
        short_code_expires_at=utcnow() + timedelta(hours=2),
    )
    db.commit()
    return SimpleNamespace(id=cohort_id, url=f"/instructor/cohorts/{cohort_id}")


def enrolments(db) -> list[tuple[int, int]]:
    db.rollback()  # see what requests committed since
    return [tuple(row) for row in db.execute(select(Enrolment.cohort_id, Enrolment.user_id))]


# --- Creating ----------------------------------------------------------------------------


def test_instructor_creates_a_cohort_with_a_code_and_link(app, db, create_user):
    teacher = create_user(email="teach@example.com", role="instructor")
    client = logged_in(app, "teach@example.com")
    data = {"name": "  Tuesday   evening ", "session_date": "2025-03-04", "lesson": LESSON}
    response = client.post("/instructor/cohorts", data=data)
    assert response.status_code == 302
    cohort = db.scalars(select(Cohort)).one()
    assert response.headers["Location"] == f"/instructor/cohorts/{cohort.id}"
    assert (cohort.name, cohort.session_date, cohort.lesson, cohort.instructor_id) == (
        "Tuesday evening",
        date(2025, 3, 4),
        LESSON,
        teacher.id,
    )
    assert CODE_PATTERN.fullmatch(cohort.join_code)
    assert len(cohort.join_code.replace("-", "")) == 20
    html = client.get(response.headers["Location"]).text
    assert re.fullmatch("[0-9A-HJKMNP-TV-Z]{8}", cohort.short_code)
    assert f"Learners join with the code {cohort.spoken_short_code} on the day" in html
    # The session's day as every page writes a day: no leading zero.
    assert "session on 4 March 2025" in html
    assert "<td>4 March 2025</td>" in client.get("/instructor/").text
    assert f"/cohorts/join/{cohort.join_code}" in html
    client.post("/instructor/cohorts", data=data)
    db.rollback()
    assert len(set(db.scalars(select(Cohort.join_code)))) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "   "}, "This field is required."),
        ({"name": "x" * 121}, "Field cannot be longer than 120 characters."),
        ({"session_date": ""}, "Give the date as YYYY-MM-DD."),
        ({"session_date": "04/03/2025"}, "Give the date as YYYY-MM-DD."),
        ({"session_date": "2025-02-30"}, "Give the date as YYYY-MM-DD."),
        ({"lesson": "no-such-lesson"}, "Not a valid choice."),
    ],
)
def test_an_invalid_cohort_form_is_refused(app, db, create_user, changes, message):
    create_user(email="teach@example.com", role="instructor")
    data = {"name": "Tuesday", "session_date": "2025-03-04", "lesson": LESSON, **changes}
    response = logged_in(app, "teach@example.com").post("/instructor/cohorts", data=data)
    assert response.status_code == 400
    assert message in form_errors(response.text)
    assert count_rows(db, Cohort) == 0


# --- Joining -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        CODE,
        CODE.lower(),
        CODE.replace("-", ""),
        CODE.replace("-", " "),
        f"  {CODE.lower()}  ",
        "OLabc-defgh-jkmnp-qrstv",  # O and L read as 0 and 1
        "oi abc defgh jkmnp qrstv",
    ],
)
def test_learner_joins_by_code(db, client, learner, cohort, typed):
    response = client.post("/cohorts/join", data={"code": typed})
    assert response.status_code == 302 and response.headers["Location"] == "/cohorts/"
    assert enrolments(db) == [(cohort.id, learner.id)]
    html = client.get("/cohorts/").text
    assert "You joined Tuesday evening." in html and "Tess Teacher" in html


def test_learner_joins_by_link_after_reading_what_it_means(db, client, learner, cohort):
    page = client.get(f"/cohorts/join/{CODE}")
    assert page.status_code == 200
    assert NOTICE in page.text and "Join Tuesday evening" in page.text
    assert enrolments(db) == []  # the link itself changes nothing
    assert client.post("/cohorts/join", data={"code": CODE}).status_code == 302
    assert enrolments(db) == [(cohort.id, learner.id)]


def test_joining_twice_keeps_one_enrolment(db, client, learner, cohort):
    client.post("/cohorts/join", data={"code": CODE})
    response = client.post("/cohorts/join", data={"code": CODE.lower()}, follow_redirects=True)
    assert "You are already in Tuesday evening." in response.text
    assert enrolments(db) == [(cohort.id, learner.id)]


def test_a_learner_can_be_in_several_cohorts(db, client, learner, cohort):
    second = add_cohort(db, db.get(Cohort, cohort.id).instructor_id, "Thursday morning")
    second_code = db.get(Cohort, second).join_code
    db.commit()
    for code in (CODE, second_code):
        assert client.post("/cohorts/join", data={"code": code}).status_code == 302
    assert sorted(enrolments(db)) == [(cohort.id, learner.id), (second, learner.id)]
    html = client.get("/cohorts/").text
    assert "Tuesday evening" in html and "Thursday morning" in html


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("01ABC-DEFGH-JKMNP-QRSTW", UNKNOWN),  # well formed, but no cohort has it
        ("01ABC-DEFGH-JKMNP-QRSTU", LENGTHS),  # U is not in the alphabet
        ("hello", LENGTHS),
        ("WRONG-CDE", "No cohort has this code today"),
        ("", "This field is required."),
    ],
)
def test_a_wrong_code_is_refused(db, client, learner, cohort, typed, message):
    response = client.post("/cohorts/join", data={"code": typed})
    assert response.status_code == 400
    assert any(message in error for error in form_errors(response.text))
    assert enrolments(db) == []


def test_an_unknown_link_is_not_found(client, learner, cohort):
    assert client.get("/cohorts/join/01ABC-DEFGH-JKMNP-QRSTW").status_code == 404


def test_wrong_short_codes_are_throttled_per_account_but_the_link_never_is(
    db, client, learner, cohort
):
    for _ in range(3):  # JOIN_CODE_FAILURES is 3 per 15 minutes here
        assert client.post("/cohorts/join", data={"code": "WRONG-CDE"}).status_code == 400
    refused = client.post("/cohorts/join", data={"code": SHORT_CODE})
    assert refused.status_code == 429
    assert any(THROTTLED in error for error in form_errors(refused.text))
    assert enrolments(db) == []
    # The link's code, in the link or typed, is never refused.
    assert client.get(f"/cohorts/join/{CODE}").status_code == 200
    assert client.post("/cohorts/join", data={"code": CODE}).status_code == 302
    assert enrolments(db) == [(cohort.id, learner.id)]


def test_unknown_links_are_not_counted_as_guesses(db, client, learner, cohort):
    for _ in range(5):
        assert client.get("/cohorts/join/01ABC-DEFGH-JKMNP-QRSTW").status_code == 404
    assert client.post("/cohorts/join", data={"code": SHORT_CODE}).status_code == 302


def test_right_codes_are_not_counted_as_guesses(db, client, learner, cohort):
    for _ in range(5):
        assert client.post("/cohorts/join", data={"code": CODE}).status_code == 302
    assert enrolments(db) == [(cohort.id, learner.id)]


# --- Leaving -----------------------------------------------------------------------------


def test_leaving_hides_the_learner_from_the_instructor(app, db, client, learner, cohort):
    client.post("/cohorts/join", data={"code": CODE})
    teacher = logged_in(app, "teach@example.com")
    learner_page = f"{cohort.url}/learners/{learner.id}"
    assert teacher.get(learner_page).status_code == 200
    assert "Ada Learner" in teacher.get(cohort.url).text

    response = client.post(
        f"/cohorts/{cohort.id}/leave", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert "You left the cohort." in response.text and "You are not in any cohort." in response.text
    assert enrolments(db) == []
    assert teacher.get(learner_page).status_code == 404
    assert "Ada Learner" not in teacher.get(cohort.url).text


def test_leaving_a_cohort_you_are_not_in_is_not_found(client, learner, cohort):
    for confirmed in ({}, {"confirmed": "yes"}):
        assert client.post(f"/cohorts/{cohort.id}/leave", data=confirmed).status_code == 404
        assert client.post("/cohorts/999999/leave", data=confirmed).status_code == 404


def test_leaving_needs_a_csrf_token(db, client, learner, cohort):
    client.post("/cohorts/join", data={"code": CODE})
    data = {"confirmed": "yes"}
    assert client.post(f"/cohorts/{cohort.id}/leave", data=data, csrf=False).status_code == 400
    assert enrolments(db) == [(cohort.id, learner.id)]
