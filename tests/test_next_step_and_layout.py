"""Issue 22, parts 1 and 4: one next step after the last section and on the course and
progress pages; progress at the top of a section page; the educational-use notice in full
until the learner acknowledges it, then one line that links to it and to when to get help."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from learnapp.db import utcnow
from learnapp.models import Certificate, DisclaimerAcknowledgement
from tests.conftest import SECTIONS, count_rows
from tests.test_certificate_review import revoke
from tests.test_certificates import claim, login, pass_final
from tests.test_quizzes import FINAL, START, all_wrong, read_all_sections, take_quiz

SLUG = "spinal-muscle-spasm"
LESSON = f"/lessons/{SLUG}"
COURSE, PROGRESS, NOTICE = f"{LESSON}/", f"{LESSON}/progress", f"{LESSON}/notice"
ACKNOWLEDGE = f"{NOTICE}/acknowledge"
SECTION = f"{LESSON}/sections/poor-posture"
UNDERSTOOD = "I understand: this is for education only"
HELP = f"{LESSON}/sections/spine-and-spasm#when-to-get-medical-help"
TAKE_QUIZ = f'<a class="button" href="{FINAL}">Take the final quiz</a>'


@pytest.fixture
def settings() -> dict[str, Any]:
    """Per-test configuration: override with `@pytest.mark.parametrize("settings", [...])`."""
    return {}


@pytest.fixture
def app_config(app_config, settings):
    return {**app_config, **settings}


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def disclaimer(catalogue) -> str:
    return str(escape(catalogue.lessons[SLUG].disclaimer_text))


def next_step(html: str) -> str:
    """The page's "Your next step" box, with its whitespace collapsed."""
    found = re.findall(r'<section class="next-step".*?</section>', html, re.S)
    assert len(found) == 1, "not exactly one next step on the page"
    return " ".join(found[0].split())


def steps(client) -> list[str]:
    """The next step of the course page and of the progress page: the same partial."""
    return [next_step(client.get(path).text) for path in (COURSE, PROGRESS)]


def notice_of(html: str) -> str:
    found = re.findall(r'<aside class="disclaimer[^"]*".*?</aside>', html, re.S)
    assert len(found) == 1, "not exactly one educational-use notice on the page"
    return " ".join(found[0].split())


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- 1. The next step -------------------------------------------------------------------------


def test_the_last_sections_mark_read_lands_on_take_the_final_quiz(client, learner):
    for slug in SECTIONS[:-1]:
        client.post(f"{LESSON}/sections/{slug}/read")
    response = client.post(f"{LESSON}/sections/{SECTIONS[-1]}/read", follow_redirects=True)
    assert response.request.path == PROGRESS
    step = next_step(response.text)
    assert TAKE_QUIZ in step
    assert "You are ready for the final quiz." in step
    # And the link leads to the quiz, ready to acknowledge the notice and start.
    assert UNDERSTOOD in client.get(FINAL).text


def test_finishing_with_sections_unread_says_which_to_read_first(client, learner):
    for slug in SECTIONS[2:]:
        client.post(f"{LESSON}/sections/{slug}/read")
    step = next_step(client.get(PROGRESS).text)
    assert "Take the final quiz" not in step
    assert "Read 2 more sections first:" in step
    for slug, title in (
        ("spine-and-spasm", "The spine and what a spasm is"),
        ("vehicle-accidents", "Vehicle accidents"),
    ):
        assert f'<a href="{LESSON}/sections/{slug}">{title}</a>' in step
    assert "Continue: The spine and what a spasm is" in step


def test_nothing_read_starts_at_the_first_section(client, learner):
    for step in steps(client):
        assert (
            "Read the 7 sections in order: the final quiz opens once you have read them all."
            in step
        )
        assert f'href="{LESSON}/sections/spine-and-spasm">' in step
        assert "Start: The spine and what a spasm is" in step
        assert "Take the final quiz" not in step


def test_some_read_lists_the_rest_and_continues(client, learner):
    for slug in SECTIONS[:5]:
        client.post(f"{LESSON}/sections/{slug}/read")
    for step in steps(client):
        assert "Read 2 more sections first:" in step
        assert (
            ">Muscular dysfunction</a>, <a" in step
            and ">Summary: how the causes connect</a>." in step
        )
        assert "Continue: Muscular dysfunction" in step
        assert "Take the final quiz" not in step


def test_all_read_takes_the_final_quiz(client, learner):
    read_all_sections(client)
    for step in steps(client):
        assert TAKE_QUIZ in step
        assert "You have read every section." in step


def test_an_open_attempt_is_resumed(client, learner):
    read_all_sections(client)
    client.post(f"{FINAL}/acknowledge")
    attempt = client.post(START).location
    for step in steps(client):
        assert f'<a class="button" href="{attempt}">Resume the final quiz</a>' in step


def test_a_failed_attempt_offers_a_retake(client, learner, db, catalogue):
    pass_final(client, db, catalogue, wrong=all_wrong)
    for step in steps(client):
        assert f'<a class="button" href="{FINAL}">Retake the final quiz</a>' in step


@pytest.mark.parametrize("settings", [{"QUIZ_RETAKE_COOLDOWN_MINUTES": 60}])
def test_a_retake_not_open_yet_says_when(client, learner, db, catalogue):
    pass_final(client, db, catalogue, wrong=all_wrong)
    for step in steps(client):
        assert "You can retake the final quiz from" in step
        assert "button" not in step and f'<a href="{FINAL}">Your quiz attempts</a>' in step


def test_passed_gets_the_certificate(client, learner, db, catalogue):
    attempt = pass_final(client, db, catalogue)
    for step in steps(client):
        assert "You passed the final quiz." in step
        assert (
            f'<a class="button" href="/certificates/claim/{attempt.id}">Get your certificate</a>'
        ) in step


def test_certified_views_the_certificate(client, learner, db, catalogue):
    attempt = pass_final(client, db, catalogue)
    code = claim(client, attempt.id).location.removeprefix("/certificates/")
    for step in steps(client):
        assert f'<a class="button" href="/certificates/{code}">View your certificate</a>' in step
        assert "Take the final quiz" not in step and "renew" not in step


def test_a_certificate_near_its_end_can_be_renewed_and_an_expired_one_retaken(
    client, learner, db, catalogue
):
    attempt = pass_final(client, db, catalogue)
    code = claim(client, attempt.id).location.removeprefix("/certificates/")

    def expires_in(days: int) -> None:
        db.rollback()  # a fresh transaction: the requests committed since
        db.execute(
            update(Certificate)
            .where(Certificate.code == code)
            .values(
                issued_at=utcnow() - timedelta(days=4 * 365),
                valid_until=utcnow() + timedelta(days=days),
            )
        )
        db.commit()

    expires_in(30)  # inside the renewal window (RECERTIFY_WINDOW_DAYS, 90 by default)
    for step in steps(client):
        assert "View your certificate" in step
        assert f'<a href="{FINAL}">retake the final quiz</a> to renew it' in step
    expires_in(-1)
    for step in steps(client):
        assert "Your certificate has expired: pass the final quiz again to renew it." in step
        assert TAKE_QUIZ in step


def test_a_block_after_revocation_is_said(app, client, learner, create_user, db, catalogue):
    attempt = pass_final(client, db, catalogue)
    code = claim(client, attempt.id).location.removeprefix("/certificates/")
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    assert revoke(login(app, "admin@example.com"), code).status_code == 200
    blocked = "so no new one can be issued until your instructor has reviewed it."
    for step in steps(client):  # not passed since: the quiz, and the block said
        assert TAKE_QUIZ.replace("Take", "Retake") in step and blocked in step
    take_quiz(client, db, catalogue)  # passed again: no certificate until the block is lifted
    for step in steps(client):
        assert "You passed the final quiz." in step and blocked in step
        assert "Get your certificate" not in step and "/certificates/claim/" not in step


# --- 4. Progress at the top; the notice in full, then one line ------------------------------


@pytest.mark.parametrize("acknowledged", [False, True])
def test_progress_comes_before_the_section_heading_and_text(client, learner, acknowledged):
    client.post(f"{LESSON}/sections/spine-and-spasm/read")
    if acknowledged:
        client.post(ACKNOWLEDGE)
    html = client.get(SECTION).text
    assert html.count("<progress ") == 1  # at the top only, no longer also at the bottom
    bar = html.index('<div class="progress compact">')
    assert "Your progress: 1 of 7 sections read" in html[bar:]
    heading = html.index("<h1>Poor posture</h1>")
    text = html.index('<h2 id="objectives">In this section you will learn to</h2>')
    first_paragraph = html.index("Not every cause of spasm is a sudden injury.")
    assert bar < heading < text < first_paragraph
    assert bar < html.index("Mark as read and continue")


def test_the_notice_is_in_full_until_acknowledged(client, learner, disclaimer):
    for path in (SECTION, COURSE, PROGRESS):
        notice = notice_of(client.get(path).text)
        assert "For education only." in notice and disclaimer in notice
        assert f'<a href="{HELP}">When to get medical help</a>' in notice
        assert f'<form method="post" action="{ACKNOWLEDGE}">' in notice
        assert f"{UNDERSTOOD}</button>" in notice


def test_acknowledging_on_a_section_returns_there_and_the_notice_becomes_one_line(
    client, learner, db, disclaimer
):
    form = notice_of(client.get(SECTION).text)
    assert '<input type="hidden" name="section" value="poor-posture">' in form
    response = client.post(ACKNOWLEDGE, data={"section": "poor-posture"})
    assert response.status_code == 302 and response.location == SECTION
    # The record the final quiz asks for, once.
    client.post(ACKNOWLEDGE, data={"section": "poor-posture"})
    assert count_rows(db, DisclaimerAcknowledgement) == 1

    for path in (SECTION, COURSE, PROGRESS):
        notice = notice_of(client.get(path).text)
        assert disclaimer not in notice and UNDERSTOOD not in notice
        assert 'class="disclaimer brief"' in notice and notice.count("<p>") == 1
        line = text_of(notice)
        assert line == "For education only · Full notice · When to get help", line
        assert f'<a href="{NOTICE}">Full notice</a>' in notice
        assert f'<a href="{HELP}">When to get help</a>' in notice

    # Both links work: the full notice, and the heading that says when to get help.
    full = client.get(NOTICE)
    assert full.status_code == 200
    assert disclaimer in full.text and "<h1>Educational-use notice</h1>" in full.text
    assert 'id="medical-help"' in full.text and UNDERSTOOD not in full.text
    section, anchor = HELP.split("#")
    assert f'id="{anchor}"' in client.get(section).text


def test_the_notice_acknowledged_for_the_quiz_is_one_line_on_the_lesson_too(client, learner):
    assert UNDERSTOOD in client.get(SECTION).text  # the skeleton of the unacknowledged page
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    assert 'class="disclaimer brief"' in notice_of(client.get(SECTION).text)
    # And the other way round: acknowledged on the lesson, the quiz does not ask again.
    read_all_sections(client)
    assert UNDERSTOOD not in client.get(FINAL).text


def test_acknowledging_elsewhere_returns_to_the_course(client, learner):
    for form in ({}, {"section": "no-such-section"}, {"section": "x" * 5000}):
        response = client.post(ACKNOWLEDGE, data=form)
        assert response.status_code == 302 and response.location == COURSE


def test_an_older_version_of_the_notice_does_not_count(client, learner, db, disclaimer):
    assert db.scalar(select(DisclaimerAcknowledgement.version)) is None
    db.add(
        DisclaimerAcknowledgement(
            user_id=learner.id, lesson=SLUG, version=0, acknowledged_at=utcnow()
        )
    )
    db.commit()
    assert disclaimer in notice_of(client.get(SECTION).text)
    full = client.get(NOTICE).text
    assert disclaimer in full and UNDERSTOOD in full


def test_the_full_notice_needs_login_and_acknowledging_needs_a_token(client, learner, db):
    assert client.get(NOTICE).status_code == 200
    assert client.post(ACKNOWLEDGE, csrf=False).status_code == 400
    assert count_rows(db, DisclaimerAcknowledgement) == 0
    client.post("/auth/logout")
    response = client.get(NOTICE)
    assert response.status_code == 302 and "/auth/login" in response.location
