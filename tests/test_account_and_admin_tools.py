"""Small things users noticed (issue 22, part 5): counts written as words, not "(s)";
destructive buttons in red, and leaving a cohort only once confirmed; the upload control and
the "Re-read" link on a phone; a data export a person can read (JSON and a printable page);
and the admin's user tools: create a user, mail a reset link, delete a user."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import func, select, update

from learnapp import accounts
from learnapp.models import (
    Answer,
    Certificate,
    Cohort,
    CohortInstructor,
    CompletionRecord,
    Enrolment,
    OutboxMessage,
    QuizAttempt,
    QuizVersion,
    User,
)
from learnapp.plurals import counted
from learnapp.security import wait_in_words
from tests.conftest import PASSWORD, count_rows, deliver_outbox, form_errors
from tests.test_accounts import flashes, logged_in, messages, reset_link, shown
from tests.test_certificates import issue
from tests.test_cohorts import CODE, enrolments
from tests.test_instructor import add_cohort
from tests.test_instructor import logged_in as login
from tests.test_quizzes import FINAL, LESSON, all_wrong, read_all_sections, start, take_quiz

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "a brand new passphrase"
# What no export may hold under any name: internal ids and what stays on the server.
NEVER_EXPORTED = {"id", "session_version", "session_token", "password_hash", "email_skeleton"}


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_config, "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail")}


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def cohort(db, create_user) -> SimpleNamespace:
    """An instructor's cohort, joined with the code CODE."""
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    cohort_id = add_cohort(db, teacher.id, "Tuesday evening", join_code=CODE)
    db.commit()
    return SimpleNamespace(id=cohort_id, url=f"/instructor/cohorts/{cohort_id}")


def mails(db) -> list[dict[str, Any]]:
    """The mail written to the outbox so far, oldest first."""
    db.rollback()
    return [row.payload for row in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def path_of(link: str) -> str:
    return link.removeprefix("https://learn.example.org")


# --- Counts in words ----------------------------------------------------------------------


def test_counts_agree_with_their_noun():
    assert counted(1, "minute") == "1 minute"
    assert counted(15, "minute") == "15 minutes"
    assert counted(0, "lesson") == "0 lessons"
    assert counted(2, "quiz", "quizzes") == "2 quizzes"
    assert wait_in_words(1) == "1 second"
    assert wait_in_words(15 * 60) == "15 minutes"
    assert wait_in_words(3 * 3600) == "3 hours"


def test_no_source_writes_a_count_with_s_in_brackets():
    """Every "(s)" the site wrote is gone: none in a template or a message of the package
    (the "http(s)" of a comment about links is not a count)."""
    found = []
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("learnapp/**/*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"\w\((s|es|zes)\)", line.replace("http(s)", "")):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_commands_say_their_counts_in_words(app, runner, create_user):
    output = runner.invoke(args=["content", "check"]).output
    assert re.search(r": \d+ sections in 1 lesson, \d+ questions in 2 quizzes: OK", output)
    assert "0 completion records past" in runner.invoke(args=["retention", "purge"]).output
    assert "0 outbox rows run" in runner.invoke(args=["worker", "--once"]).output
    create_user(email="ada@example.com")
    output = runner.invoke(args=["progress", "rebuild"]).output
    assert "(s)" not in output


# --- Destructive buttons and leaving a cohort ---------------------------------------------


def test_destructive_buttons_are_red(client, learner, cohort):
    page = client.get("/account/").text
    assert re.search(r'<input class="button danger"[^>]*value="Delete my account"', page)
    client.post("/cohorts/join", data={"code": CODE})
    page = client.get("/cohorts/").text
    assert re.search(r'<button type="submit" class="button danger secondary">Leave<span', page)


def test_leaving_asks_first_and_changes_nothing_until_confirmed(
    app, client, learner, cohort, db, catalogue
):
    assert client.post("/cohorts/join", data={"code": CODE}).status_code == 302
    code = issue(client, db, catalogue)  # earned in the cohort: the cohort would keep it
    teacher = login(app, "teach@example.com")

    asked = client.post(f"/cohorts/{cohort.id}/leave")
    assert asked.status_code == 200
    page = asked.text
    assert "Leave Tuesday evening?" in page and "Nothing has changed yet." in page
    assert "Its instructors no longer see your progress" in page
    assert "The cohort keeps the completion record of any certificate you earned in it" in page
    assert '<input type="hidden" name="confirmed" value="yes">' in page
    assert 'class="button danger">Yes, leave Tuesday evening</button>' in page
    assert enrolments(db) == [(cohort.id, learner.id)]
    assert count_rows(db, CompletionRecord) == 0
    assert "Ada Learner" in teacher.get(cohort.url).text

    # Any other answer than the page's confirms nothing.
    refused = client.post(f"/cohorts/{cohort.id}/leave", data={"confirmed": "no"})
    assert refused.status_code == 400
    assert enrolments(db) == [(cohort.id, learner.id)]

    left = client.post(f"/cohorts/{cohort.id}/leave", data={"confirmed": "yes"})
    assert left.status_code == 302 and left.location == "/cohorts/"
    assert any(f.startswith("You left the cohort.") for f in flashes(client.get("/cohorts/").text))
    assert enrolments(db) == []
    db.rollback()
    (record,) = db.scalars(select(CompletionRecord))
    assert (record.code, record.kept_because) == (code, "left")
    # Not a member now: only the kept record (a former member's) is left on the dashboard.
    assert teacher.get(f"{cohort.url}/learners/{learner.id}").status_code == 404


# --- The upload control and the "Re-read" link ---------------------------------------------


def test_the_upload_control_is_a_labelled_file_input_drawn_by_the_stylesheet(client):
    page = client.get("/verify/").text
    assert '<label for="pdf">Certificate PDF</label>' in page
    assert re.search(r'<input[^>]*id="pdf"[^>]*type="file"', page)
    assert " style=" not in page  # the CSP allows no inline style: the look is app.css's
    css = client.get("/static/css/app.css").text
    assert 'input[type="file"]::file-selector-button' in css


def test_re_read_does_not_break_at_its_hyphen(client, learner, db, catalogue):
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    failed = take_quiz(client, db, catalogue, all_wrong)
    page = client.get(f"/quizzes/attempts/{failed.id}").text
    table = re.search(r'<table class="by-section">.*?</table>', page, re.S).group(0)
    assert re.search(r"<td><a href=\"[^\"]+\">Re-read<span", table)
    css = client.get("/static/css/app.css").text
    assert re.search(r"table\.by-section td a \{ white-space: nowrap; \}", css)


# --- The data export ----------------------------------------------------------------------


@pytest.fixture
def studied(app, client, learner, db, catalogue) -> dict[str, Any]:
    """The learner read every section, failed once, passed and was certified."""
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    failed = take_quiz(client, db, catalogue, all_wrong)
    passed = take_quiz(client, db, catalogue)
    response = client.post(f"/certificates/claim/{passed.id}", data={"name": learner.name})
    assert response.status_code == 302, response.text
    return {"failed": failed, "passed": passed, "code": response.location.rsplit("/", 1)[1]}


def keys_in(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for name, value in document.items():
            yield name
            yield from keys_in(value)
    elif isinstance(document, list):
        for item in document:
            yield from keys_in(item)


def strings_in(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from strings_in(value)
    elif isinstance(document, list):
        for item in document:
            yield from strings_in(item)


def expected_answer(question) -> Any:
    """A right answer in the words of the quiz, worked out from the quiz alone."""
    if question.type == "single":
        return question.option(question.answer).text
    if question.type == "multiple":
        return [o.text for o in question.options if o.id in question.answer]
    if question.type == "true_false":
        return "True" if question.answer else "False"
    if question.type == "matching":
        return [{"item": p.left, "your_match": p.right} for p in question.pairs]
    return [item.text for item in question.items]


def export(client) -> dict[str, Any]:
    response = client.get("/account/data.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return json.loads(response.get_data(as_text=True))


def test_the_export_has_question_texts_chosen_answers_and_no_ids(
    client, learner, studied, db, catalogue
):
    data = export(client)
    quiz = catalogue.final_quiz(LESSON)
    lesson = catalogue.lessons[LESSON]
    titles = {section.title for section in lesson.sections}

    failed, passed = data["quiz_attempts"]
    assert (failed["passed"], passed["passed"]) == (False, True)
    assert passed["quiz"] == quiz.title and passed["lesson"] == lesson.title
    assert {part["section"] for part in passed["by_section"]} <= titles
    db.rollback()
    stored = db.scalars(
        select(Answer).where(Answer.attempt_id == studied["passed"].id).order_by(Answer.position)
    ).all()
    assert [q["question"] for q in passed["questions"]] == [
        quiz.question(a.question_id).prompt for a in stored
    ]
    for shown_question, answer in zip(passed["questions"], stored, strict=True):
        question = quiz.question(answer.question_id)
        assert shown_question["your_answer"] == expected_answer(question), question.id
        assert shown_question["correct"] is True and shown_question["section"] in titles
    assert not any(q["correct"] for q in failed["questions"])

    (certificate,) = data["certificates"]
    assert (certificate["code"], certificate["status"]) == (studied["code"], "Valid")
    assert {read["section"] for read in data["sections_read"]} == titles

    # No internal ids, no credentials, no part ids: only words.
    assert not NEVER_EXPORTED & set(keys_in(data))
    assert not [key for key in keys_in(data) if key.endswith("_id") or key == "drawn"]
    part_ids = {
        part.id for q in quiz.questions for part in (*q.options, *q.pairs, *q.items) if part.id
    }
    assert not part_ids & set(strings_in(data))
    # Times in ISO 8601, in UTC.
    assert data["exported_at"].endswith("Z")
    for moment in (data["account"]["registered_at"], passed["submitted_at"]):
        assert datetime.fromisoformat(moment).utcoffset().total_seconds() == 0


def test_the_export_shows_a_question_as_the_learner_saw_it(client, learner, studied, db):
    """An attempt drawn from an older version of the quiz is exported in that version's
    words (the document stored with the attempt), not today's."""
    db.rollback()
    attempt = db.get(QuizAttempt, studied["passed"].id)
    version = db.get(QuizVersion, attempt.quiz_version_id)
    document = copy.deepcopy(version.document)
    first = attempt.drawn[0]["id"]
    asked = next(q for q in document["questions"] if q["id"] == first)
    asked["prompt"] = "As the learner saw it: " + asked["prompt"]
    db.add(QuizVersion(quiz_id=version.quiz_id, content_version="older", document=document))
    db.flush()
    older = db.scalar(select(QuizVersion.id).where(QuizVersion.content_version == "older"))
    db.execute(
        update(QuizAttempt).where(QuizAttempt.id == attempt.id).values(quiz_version_id=older)
    )
    db.commit()

    passed = export(client)["quiz_attempts"][1]
    assert passed["questions"][0]["question"] == asked["prompt"]


def test_an_open_attempt_is_exported_without_its_choices(app, client, learner, db, catalogue):
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    attempt_id = start(client)
    text = client.get("/account/data.json").get_data(as_text=True)
    (attempt,) = json.loads(text)["quiz_attempts"]
    db.rollback()
    drawn = db.get(QuizAttempt, attempt_id).drawn
    quiz = catalogue.final_quiz(LESSON)
    assert attempt["state"] == "open" and attempt["note"]
    assert [q["question"] for q in attempt["questions"]] == [
        quiz.question(e["id"]).prompt for e in drawn
    ]
    assert "your_answer" not in text and '"correct"' not in text
    for entry in drawn:
        question = quiz.question(entry["id"])
        for choice in (*question.options, *question.items):
            assert json.dumps(choice.text, ensure_ascii=False) not in text, choice.text


def test_the_printable_page_shows_the_same_data(client, learner, studied, catalogue):
    settings = client.get("/account/").text
    assert 'href="/account/data"' in settings and 'href="/account/data.json"' in settings

    data = export(client)
    page = client.get("/account/data")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.text
    assert "Your data" in html and studied["code"] in html
    passed = data["quiz_attempts"][1]
    for question in passed["questions"]:
        assert shown(question["question"], html), question["question"]
        answer = question["your_answer"]
        for text in [answer] if isinstance(answer, str) else []:
            assert shown(text, html), text
    for read in data["sections_read"]:
        assert shown(read["section"], html)
    assert shown(learner.email, html)
    assert "session_version" not in html and "password" not in html.lower().replace(
        "your password is stored only as a hash", ""
    )


def test_the_data_page_needs_login(client):
    response = client.get("/account/data")
    assert response.status_code == 302 and "/auth/login" in response.location


# --- Admin: create, reset, delete ---------------------------------------------------------


@pytest.fixture
def admin(client, create_user) -> User:
    """An admin, logged in on `client`."""
    found = create_user(email="admin@example.com", name="Ada Admin", role="admin")
    assert client.post(
        "/auth/login", data={"email": "admin@example.com", "password": PASSWORD}
    ).status_code == (302)
    return found


def new_user(client, **values: str) -> Any:
    data = {"name": "Nia Newcomer", "email": "nia@example.com", "role": "learner", **values}
    return client.post("/admin/users/new", data=data)


def test_an_admin_creates_a_user_who_sets_a_password_through_the_mailed_link(
    app, client, admin, db, mailbox
):
    page = client.get("/admin/users").text
    assert "Add a user" in page and 'action="/admin/users/new"' in page

    response = new_user(client, role="instructor")
    assert response.status_code == 302
    assert re.fullmatch(r"/admin/users\?q=nia(@|%40)example\.com", response.location)
    listed = client.get(response.location).text
    assert shown("Created Nia Newcomer (nia@example.com), an instructor.", listed)
    db.rollback()
    created = db.scalar(select(User).where(User.email == "nia@example.com"))
    assert (created.name, created.role, created.email_confirmed_at) == (
        "Nia Newcomer",
        "instructor",
        None,
    )
    welcome, confirmation = mails(db)
    assert welcome["to"] == confirmation["to"] == "nia@example.com"
    assert welcome["subject"] == "Your learnapp account: choose your password"
    assert "within 60 minutes" in welcome["text"] and "(s)" not in welcome["text"]

    deliver_outbox(app)
    (mail,) = [m for m in messages(mailbox) if "choose your password" in m["Subject"]]
    link = path_of(reset_link(mail))
    visitor = app.test_client()
    assert visitor.get(link).status_code == 200
    chosen = visitor.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert chosen.status_code == 302
    assert visitor.post(
        "/auth/login", data={"email": "nia@example.com", "password": NEW_PASSWORD}
    ).status_code == (302)
    assert logged_in(visitor)
    assert visitor.get(link).status_code == 302  # the link works once


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": ""}, "Give the person's name."),
        ({"name": "\u200b"}, None),  # no visible letter: the name rule's own message
        ({"email": ""}, "Give their e-mail address."),
        ({"email": "not an address"}, "Give an e-mail address such as name@example.org."),
        ({"email": "admin@example.com"}, "An account with this e-mail already exists"),
        ({"role": "overlord"}, "Choose a role from the list."),
    ],
)
def test_a_bad_new_user_is_refused_with_a_message_and_nothing_written(
    client, admin, db, values, message
):
    before = (count_rows(db, User), count_rows(db, OutboxMessage))
    response = new_user(client, **values)
    assert response.status_code == 400
    errors = form_errors(response.text)
    assert errors
    if message is not None:
        assert any(str(escape(message)) in error or message in error for error in errors), errors
    assert (count_rows(db, User), count_rows(db, OutboxMessage)) == before


def test_a_failure_while_creating_a_user_leaves_no_half_written_rows(
    app, client, admin, db, monkeypatch
):
    def broken(*_args: Any) -> None:
        raise RuntimeError("the mail could not be written")

    monkeypatch.setattr(accounts, "send_confirmation", broken)
    before = (count_rows(db, User), count_rows(db, OutboxMessage))
    assert new_user(client).status_code == 500
    assert (count_rows(db, User), count_rows(db, OutboxMessage)) == before


def test_an_admin_mails_a_user_a_reset_link_that_works(
    app, client, admin, create_user, db, mailbox
):
    bob = create_user(email="bob@example.com", name="Bob Learner")
    app.config["PASSWORD_RESET_MAX_AGE"] = 60  # one minute: the message says so in words
    response = client.post(f"/admin/users/{bob.id}/reset")
    assert response.status_code == 302
    assert "A reset link is on its way to bob@example.com. It works once, within 1 minute." in (
        flashes(client.get("/admin/users").text)
    )
    (mail,) = mails(db)
    assert mail["to"] == "bob@example.com"
    deliver_outbox(app)
    (message,) = messages(mailbox)
    link = path_of(reset_link(message))
    visitor = app.test_client()
    assert (
        visitor.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
        == 302
    )
    assert visitor.post(
        "/auth/login", data={"email": "bob@example.com", "password": NEW_PASSWORD}
    ).status_code == (302)


def test_a_disabled_or_unknown_user_gets_no_reset_link(client, admin, create_user, db):
    bob = create_user(email="bob@example.com")
    db.rollback()
    db.execute(update(User).where(User.id == bob.id).values(is_enabled=False))
    db.commit()
    client.post(f"/admin/users/{bob.id}/reset")
    assert any("is disabled" in f for f in flashes(client.get("/admin/users").text))
    assert client.post("/admin/users/999999/reset").status_code == 404
    assert mails(db) == []


def test_deleting_a_user_asks_first_then_keeps_what_retention_keeps(
    app, client, learner, cohort, create_user, db, catalogue
):
    """The learner on `client` joined a cohort and earned a certificate in it; an admin
    deletes the account as the learner's own deletion would."""
    assert client.post("/cohorts/join", data={"code": CODE}).status_code == 302
    code = issue(client, db, catalogue)
    create_user(email="admin@example.com", name="Ada Admin", role="admin")
    admin_client = login(app, "admin@example.com")

    asked = admin_client.post(f"/admin/users/{learner.id}/delete")
    assert asked.status_code == 200
    page = asked.text
    assert "Delete the account of Ada Learner?" in page and "Nothing has changed yet." in page
    assert "the 1 certificate issued to them" in page and "Account deleted" in page
    assert 'class="button danger">Yes, delete Ada Learner</button>' in page
    assert count_rows(db, User) == 3 and count_rows(db, CompletionRecord) == 0

    deleted = admin_client.post(f"/admin/users/{learner.id}/delete", data={"confirmed": "yes"})
    assert deleted.status_code == 302 and deleted.location == "/admin/users"
    assert any(
        f.startswith("The account of Ada Learner (learner@example.com) is deleted")
        for f in flashes(admin_client.get("/admin/users").text)
    )
    db.rollback()
    assert db.get(User, learner.id) is None
    assert not logged_in(client)
    certificate = db.scalar(select(Certificate).where(Certificate.code == code))
    assert (certificate.user_id, certificate.name) == (None, "Ada Learner")
    (record,) = db.scalars(select(CompletionRecord))
    assert (record.code, record.kept_because, record.user_id) == (code, "deleted", None)
    assert count_rows(db, Enrolment) == 0


def test_an_admin_cannot_delete_themselves(client, admin, db):
    for data in ({}, {"confirmed": "yes"}):
        response = client.post(f"/admin/users/{admin.id}/delete", data=data)
        assert response.status_code == 302
        assert "You cannot delete your own account; ask another admin." in flashes(
            client.get("/admin/users").text
        )
    db.rollback()
    assert db.get(User, admin.id) is not None
    # Their own row offers no delete button.
    page = client.get("/admin/users").text
    assert f'action="/admin/users/{admin.id}/delete' not in page


def test_the_only_instructor_of_a_cohort_is_not_deleted(client, admin, create_user, db):
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    cohort_id = add_cohort(db, teacher.id)
    db.commit()
    client.post(f"/admin/users/{teacher.id}/delete", data={"confirmed": "yes"})
    (message,) = [
        f for f in flashes(client.get("/admin/users").text) if f.startswith("Tess Teacher")
    ]
    assert "runs 1 cohort (archived ones included)" in message and "Disable" in message
    db.rollback()
    assert db.get(User, teacher.id) is not None

    # With a co-instructor to run it, the account goes and the cohort stays.
    other = create_user(email="other@example.com", name="Otto Other", role="instructor")
    db.rollback()  # a fresh transaction, to write in
    db.add(CohortInstructor(cohort_id=cohort_id, user_id=other.id, added_by_id=teacher.id))
    db.commit()
    response = client.post(f"/admin/users/{teacher.id}/delete", data={"confirmed": "yes"})
    assert response.status_code == 302
    db.rollback()
    assert db.get(User, teacher.id) is None and db.get(Cohort, cohort_id) is not None


def test_an_instructor_without_cohorts_can_be_deleted(client, admin, create_user, db):
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    assert client.post(f"/admin/users/{teacher.id}/delete").status_code == 200
    response = client.post(f"/admin/users/{teacher.id}/delete", data={"confirmed": "yes"})
    assert response.status_code == 302
    db.rollback()
    assert db.get(User, teacher.id) is None


def test_a_garbled_confirmation_deletes_nothing(client, admin, create_user, db):
    bob = create_user(email="bob@example.com")
    response = client.post(f"/admin/users/{bob.id}/delete", data={"confirmed": "sure"})
    assert response.status_code == 302
    assert "That confirmation was not understood, so nothing was deleted." in flashes(
        client.get("/admin/users").text
    )
    assert client.post("/admin/users/999999/delete").status_code == 404
    db.rollback()
    assert db.get(User, bob.id) is not None


def test_the_user_tools_are_for_admins_only_and_need_a_csrf_token(
    app, client, admin, create_user, db
):
    bob = create_user(email="bob@example.com")
    posts = [
        ("/admin/users/new", {"name": "Eve", "email": "eve@example.com", "role": "admin"}),
        (f"/admin/users/{bob.id}/reset", {}),
        (f"/admin/users/{bob.id}/delete", {"confirmed": "yes"}),
    ]
    before = (count_rows(db, User), count_rows(db, OutboxMessage))
    for url, data in posts:
        assert client.post(url, data=data, csrf=False).status_code == 400, url
    learner_client = app.test_client()
    assert learner_client.post(
        "/auth/login", data={"email": "bob@example.com", "password": PASSWORD}
    ).status_code == (302)
    for url, data in posts:
        assert learner_client.post(url, data=data).status_code == 403, url
    assert app.test_client().post(posts[0][0], data=posts[0][1]).status_code == 302  # to log in
    assert (count_rows(db, User), count_rows(db, OutboxMessage)) == before
    db.rollback()
    assert db.scalar(select(func.count()).select_from(User).where(User.id == bob.id)) == 1
