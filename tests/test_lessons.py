"""The learner's journey: course page, sections, marking read, resuming, progress."""

from __future__ import annotations

import re

import pytest
from flask import render_template

from learnapp.models import SectionRead
from learnapp.views.skeletons import _Anyone
from tests.conftest import PASSWORD, SECTIONS, count_rows

LESSON = "/lessons/spinal-muscle-spasm"


def progress_value(html: str) -> tuple[int, int]:
    match = re.search(r'<progress [^>]*max="(\d+)" value="(\d+)"', html)
    assert match, "no <progress> element on the page"
    return int(match.group(2)), int(match.group(1))


@pytest.mark.parametrize(
    "path", [f"{LESSON}/", f"{LESSON}/sections/poor-posture", f"{LESSON}/progress"]
)
def test_lesson_pages_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/auth/login" in response.location


def test_course_page_lists_sections_in_order_with_progress(client, learner):
    html = client.get(f"{LESSON}/").text
    positions = [html.index(f'/sections/{slug}"') for slug in SECTIONS]
    assert positions == sorted(positions)
    assert progress_value(html) == (0, 7)
    assert "Start: The spine and what a spasm is" in html
    assert "For education only" in html
    assert "firstaidcprvictoria.ca" in html


def test_section_page_shows_objectives_text_and_neighbours(client, learner):
    html = client.get(f"{LESSON}/sections/poor-posture").text
    assert "<h1>Poor posture</h1>" in html
    assert 'id="the-chain-from-posture-to-spasm"' in html
    assert 'rel="prev" href="/lessons/spinal-muscle-spasm/sections/sports-strains"' in html
    assert 'rel="next" href="/lessons/spinal-muscle-spasm/sections/joint-dysfunction"' in html
    assert "Mark as read and continue" in html


@pytest.mark.parametrize(
    "path",
    [f"{LESSON}/sections/no-such-section", "/lessons/no-such-lesson/", f"{LESSON}/sections/x/read"],
)
def test_unknown_lesson_or_section_is_404(client, learner, path):
    assert client.get(path).status_code in (404, 405)
    assert client.get(path.removesuffix("/read")).status_code == 404


def test_marking_read_records_once_and_moves_on(client, learner, db):
    response = client.post(f"{LESSON}/sections/poor-posture/read")
    assert response.status_code == 302
    assert response.location.endswith("/sections/joint-dysfunction")
    client.post(f"{LESSON}/sections/poor-posture/read")
    assert count_rows(db, SectionRead) == 1
    row = db.query(SectionRead).one()
    assert (row.lesson, row.section, row.user_id) == (
        "spinal-muscle-spasm",
        "poor-posture",
        learner.id,
    )
    first_read = row.read_at
    client.post(f"{LESSON}/sections/poor-posture/read")
    db.rollback()
    assert db.query(SectionRead).one().read_at == first_read


def test_last_section_leads_to_the_progress_page(client, learner):
    response = client.post(f"{LESSON}/sections/summary/read")
    assert response.location.endswith(f"{LESSON}/progress")


def test_marking_read_without_csrf_token_is_refused_and_stores_nothing(client, learner, db):
    response = client.post(f"{LESSON}/sections/poor-posture/read", csrf=False)
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert count_rows(db, SectionRead) == 0


def test_unknown_section_cannot_be_marked_read(client, learner, db):
    assert client.post(f"{LESSON}/sections/made-up/read").status_code == 404
    assert count_rows(db, SectionRead) == 0


def test_learner_resumes_at_first_unread_section(client, learner):
    for slug in SECTIONS[:3]:
        client.post(f"{LESSON}/sections/{slug}/read")
    html = client.get(f"{LESSON}/").text
    assert "Continue: Poor posture" in html
    assert progress_value(html) == (3, 7)


def test_progress_page_shows_when_each_section_was_read(client, learner):
    client.post(f"{LESSON}/sections/vehicle-accidents/read")
    html = client.get(f"{LESSON}/progress").text
    assert progress_value(html) == (1, 7)
    assert html.count("Not yet") == 6


def test_reading_everything_completes_the_bar(client, learner):
    for slug in SECTIONS:
        client.post(f"{LESSON}/sections/{slug}/read")
    html = client.get(f"{LESSON}/").text
    assert progress_value(html) == (7, 7)
    assert "You have read every section." in html


def test_progress_is_per_learner(client, learner, create_user, auth):
    client.post(f"{LESSON}/sections/poor-posture/read")
    auth.logout()
    create_user(email="other@example.com")
    auth.login("other@example.com")
    assert progress_value(client.get(f"{LESSON}/").text) == (0, 7)


def test_progress_survives_a_text_edit(app, client, learner, tmp_path):
    """Progress is keyed by slug: changing a section's words keeps what was read."""
    client.post(f"{LESSON}/sections/poor-posture/read")
    import shutil

    from learnapp.content import load_content

    lessons = tmp_path / "lessons"
    shutil.copytree(app.config["LESSONS_DIR"], lessons)
    page = lessons / "spinal-muscle-spasm" / "poor-posture.md"
    page.write_text(page.read_text() + "\nAn extra sentence added by an editor.\n")
    app.extensions["learnapp.content"] = load_content(lessons, app.config["QUIZZES_DIR"])
    html = client.get(f"{LESSON}/sections/poor-posture").text
    assert "An extra sentence added by an editor." in html
    assert progress_value(html) == (1, 7)


# --- Section pages from skeletons (learnapp/views/skeletons.py) -------------------------

SECTION = f"{LESSON}/sections/poor-posture"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# The moment the page was served, signed for the learner (progress.served_token).
SERVED_FIELD = re.compile(r'name="served" value="([^"]+)"')


def signed_in(app, create_user, email: str, name: str, role: str = "learner"):
    create_user(email=email, name=name, role=role)
    client = app.test_client()
    assert (
        client.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302
    )
    return client


def without_tokens(html: str) -> str:
    """The page without what differs on every request: the CSRF token and the served time."""
    return SERVED_FIELD.sub(
        'name="served" value=""', CSRF_FIELD.sub('name="csrf_token" value=""', html)
    )


def test_learners_in_the_same_state_get_their_own_page_from_one_skeleton(
    app, create_user, monkeypatch
):
    ada = signed_in(app, create_user, "ada@example.com", 'Ada <b>"&"</b>')
    bob = signed_in(app, create_user, "bob@example.com", "Bob Builder")
    first = ada.get(SECTION).text  # renders the skeleton
    second = bob.get(SECTION).text  # fills it in
    assert '<span class="visually-hidden">Ada &lt;b&gt;&#34;&amp;&#34;&lt;/b&gt;</span>' in first
    assert '<span class="visually-hidden">Bob Builder</span>' in second
    assert "Ada" not in second and "\x00" not in second
    # Each page carries its own session's token, and the token works.
    token = CSRF_FIELD.findall(second)[-1]
    assert token != CSRF_FIELD.findall(first)[-1]
    read = bob.post(f"{SECTION}/read", data={"csrf_token": token}, csrf=False)
    assert read.status_code == 302
    # The same page as the template renders it afresh for Bob.
    monkeypatch.setattr(
        "learnapp.views.lessons.render_personal",
        lambda template, _state, **context: render_template(template, **context),
    )
    bob_again = signed_in(app, create_user, "bob2@example.com", "Bob Builder")
    assert without_tokens(bob_again.get(SECTION).text) == without_tokens(second)


def test_a_skeleton_is_kept_per_role_and_reading_state(app, create_user):
    ada = signed_in(app, create_user, "ada@example.com", "Ada")
    bob = signed_in(app, create_user, "bob@example.com", "Bob")
    teacher = signed_in(app, create_user, "teacher@example.com", "Tess", role="instructor")
    assert ada.post(f"{SECTION}/read").status_code == 302
    ada_page, bob_page, teacher_page = (c.get(SECTION).text for c in (ada, bob, teacher))
    assert 'class="state-read"' in ada_page and progress_value(ada_page) == (1, 7)
    assert 'class="state-read"' not in bob_page and progress_value(bob_page) == (0, 7)
    assert ">Teach</a>" in teacher_page and ">Teach</a>" not in bob_page


def test_a_message_to_show_is_shown_on_a_section_page(app, create_user):
    ada = signed_in(app, create_user, "ada@example.com", "Ada")
    ada.get(SECTION)  # the skeleton exists
    with ada.session_transaction() as session:
        session["_flashes"] = [("info", "Welcome back, keep going.")]
    assert "Welcome back, keep going." in ada.get(SECTION).text
    assert "Welcome back, keep going." not in ada.get(SECTION).text  # shown once


def test_a_skeleton_cannot_show_what_differs_between_users():
    with pytest.raises(RuntimeError, match=r"current_user\.email"):
        _ = _Anyone("learner").email


def test_equal_skeleton_keys_mean_equal_pages_whatever_else_differs(app, create_user, monkeypatch):
    """The key holds exactly what the template receives besides the learner's name and the
    CSRF token: two learners with equal keys but different data (names, when they read and
    acknowledged the notice) get the page each would get rendered afresh, and a learner who
    read other sections, or has not acknowledged the notice, gets another key."""
    from learnapp.views import skeletons

    keys: list = []
    real_key = skeletons.skeleton_key
    monkeypatch.setattr(
        skeletons, "skeleton_key", lambda *args: keys.append(real_key(*args)) or keys[-1]
    )
    ada = signed_in(app, create_user, "ada@example.com", "Ada Lovelace")
    bob = signed_in(app, create_user, "bob@example.com", "Bob Builder")
    cleo = signed_in(app, create_user, "cleo@example.com", "Cleo Reader")
    dan = signed_in(app, create_user, "dan@example.com", "Dan Unnoticed")
    readers = (("ada", ada), ("bob", bob), ("cleo", cleo), ("dan", dan))
    first_read = {"ada": SECTIONS[0], "bob": SECTIONS[0], "cleo": SECTIONS[1], "dan": SECTIONS[0]}
    for name, client in readers:
        assert client.post(f"{LESSON}/sections/{first_read[name]}/read").status_code == 302
    slug = LESSON.rsplit("/", 1)[-1]
    # The notice acknowledged on the quiz's page, on the lesson's, and not at all (dan).
    assert ada.post(f"/quizzes/{slug}/final/acknowledge").status_code == 302
    assert bob.post(f"{LESSON}/notice/acknowledge").status_code == 302
    assert cleo.post(f"{LESSON}/notice/acknowledge").status_code == 302
    pages = {name: c.get(SECTION).text for name, c in readers}
    assert keys[0] == keys[1] != keys[2]
    assert keys[3] not in (keys[0], keys[2])
    assert progress_value(pages["ada"]) == progress_value(pages["cleo"]) == (1, 7)

    monkeypatch.setattr(
        "learnapp.views.lessons.render_personal",
        lambda template, _state, **context: render_template(template, **context),
    )
    for name, client in readers:
        assert without_tokens(client.get(SECTION).text) == without_tokens(pages[name])
    assert without_tokens(pages["ada"]).replace("Ada Lovelace", "NAME") == without_tokens(
        pages["bob"]
    ).replace("Bob Builder", "NAME")
