"""Issue 21.4, through the pages an instructor and a learner use: the question analysis marks
safety-critical questions, highlights a low facility, says "too few attempts" once and
counts blank answers; the learner's timeline names the critical question missed and links
to the attempt (read-only for the instructor), lists revocations and blocks, and flags a
section marked read in under a quarter of its minutes, timed by the signed moment the
section page was served."""

from __future__ import annotations

import copy
import re
from types import SimpleNamespace

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from markupsafe import escape
from sqlalchemy import select

from learnapp import progress
from learnapp.models import Cohort, QuizVersion, SectionRead, User
from tests import test_certificates
from tests.test_certificate_review import revoke
from tests.test_instructor import LESSON, add_cohort, enrol, logged_in, timeline
from tests.test_lessons import SERVED_FIELD
from tests.test_quizzes import (
    FINAL,
    answer_form,
    fetch,
    read_all_sections,
    start,
    take_quiz,
)

# The certificate tests' fixtures, by name (pytest finds fixtures among a module's globals):
# `people` is a learner certified in Tess Teacher's cohort, made through the pages.
app_config = test_certificates.app_config
catalogue = test_certificates.catalogue
people = test_certificates.people
settings = test_certificates.settings

SECTION = "poor-posture"  # about 4 minutes: a quarter is 60 seconds
SECTION_URL = f"/lessons/{LESSON}/sections/{SECTION}"


@pytest.fixture
def classroom(app, db, client, learner, create_user) -> SimpleNamespace:
    """The logged-in learner (on `client`) in Tess Teacher's cohort, and Tess logged in."""
    tess = create_user(email="tess@example.com", name="Tess Teacher", role="instructor")
    cohort = add_cohort(db, tess.id, "Tuesday class")
    enrol(db, cohort, [learner.id])
    db.commit()
    base = f"/instructor/cohorts/{cohort}"
    return SimpleNamespace(
        teacher=logged_in(app, "tess@example.com"),
        cohort=cohort,
        learner=learner,
        items=f"{base}/items",
        timeline=f"{base}/learners/{learner.id}",
    )


def user_id(db, email: str) -> int:
    db.rollback()
    return db.scalar(select(User.id).where(User.email == email))


def ready_for_the_quiz(client) -> None:
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302


def first_critical(catalogue):
    return next(q for q in catalogue.final_quiz(LESSON).questions if q.critical)


# --- Question analysis ---------------------------------------------------------------------


def item_rows(html: str) -> dict[str, str]:
    """The analysis table's rows (their HTML), by question id."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)
    return {re.search(r'<span class="meta">([^<]+)</span>', row).group(1): row for row in rows}


def test_question_analysis_marks_critical_low_facility_blanks_and_too_few_once(
    classroom, client, db, catalogue
):
    quiz = catalogue.final_quiz(LESSON)
    ready_for_the_quiz(client)
    attempt = fetch(db, start(client))
    drawn = [quiz.question(entry["id"]) for entry in attempt.drawn]
    # Every critical question wrong, one other single-choice question left blank, the rest right.
    form = answer_form(attempt, catalogue, wrong=lambda q: q.critical)
    blank = next(q for q in drawn if q.type == "single" and not q.critical)
    del form[f"q.{blank.id}"]
    form["confirmed"] = [str(drawn.index(blank) + 1)]  # left blank on purpose, as confirmed
    assert client.post(f"/quizzes/attempts/{attempt.id}", data=form).status_code == 302

    html = classroom.teacher.get(classroom.items).text
    # One learner is too few to judge any question: said once, above the table.
    assert len(re.findall("too few attempts", html, re.I)) == 1
    assert html.index('id="too-few"') < html.index('<table class="items">')
    rows = item_rows(html)
    assert set(rows) == {q.id for q in drawn}
    wrong = {q.id for q in drawn if q.critical} | {blank.id}
    for question in drawn:
        row = rows[question.id]
        assert ("Safety-critical" in row) == question.critical, question.id
        # Under 30%: in words and by the row's class (colour).
        assert ("Low facility: under 30%" in row) == (question.id in wrong), question.id
        assert row.startswith('<tr class="low-facility">') == (question.id in wrong)
        expected_blank = 1 if question.id == blank.id else 0
        assert f"Left blank: {expected_blank}</li>" in row, question.id
    # The blank answer is counted beside the wrong options, which nobody chose.
    assert all(
        f"<li>{escape(o.text)}: 0</li>" in rows[blank.id]
        for o in blank.options
        if o.id != blank.answer
    )
    # The legend says what the marks mean, in words.
    assert "a pass needs this question right whatever the score" in html


def test_enough_attempts_leave_no_too_few_note(app, classroom, client, db, catalogue):
    app.config["ITEM_MIN_ATTEMPTS"] = 1
    ready_for_the_quiz(client)
    take_quiz(client, db, catalogue)
    html = classroom.teacher.get(classroom.items).text
    assert not re.search("too few attempts", html, re.I)
    assert "low-facility" not in html.split("<tbody>", 1)[1]  # all right: 100% everywhere


# --- The timeline: the critical question missed, and the attempt -----------------------------


def attempt_link(html: str) -> str:
    links = re.findall(r'<a href="(/instructor/cohorts/\d+/learners/\d+/attempts/\d+)">', html)
    assert len(links) == 1, links
    return links[0]


def test_the_timeline_names_the_critical_question_missed_and_links_to_the_attempt(
    classroom, client, db, catalogue
):
    critical = first_critical(catalogue)
    ready_for_the_quiz(client)
    attempt = take_quiz(client, db, catalogue, lambda q: q.id == critical.id)
    assert attempt.critical_missed and not attempt.passed

    html = classroom.teacher.get(classroom.timeline).text
    (event,) = [e for e in timeline(html) if "final quiz attempt" in e]
    assert f"missed a safety-critical question: “{critical.prompt}”." in event
    assert critical.id not in html  # its text, not its id
    link = attempt_link(html)
    assert link == f"{classroom.timeline}/attempts/{attempt.id}"

    page = classroom.teacher.get(link)
    assert page.status_code == 200
    text = page.text
    assert f"{classroom.learner.name}: final quiz attempt" in text
    assert "A safety-critical question was missed" in text
    assert critical.prompt in text and "Safety-critical question" in text
    # Read-only, and about the learner, not the reader.
    assert "<form" not in text.split("<main", 1)[1].split("</main>", 1)[0]
    assert "(their answer)" in text or "Their answer" in text
    assert "(your answer)" not in text and "Your answer" not in text


def test_a_question_is_named_as_the_attempt_was_asked_it(classroom, client, db, catalogue):
    """An attempt drawn from an earlier content version is read against the quiz stored
    with it: the prompt it missed then, not the one the question has now."""
    critical = first_critical(catalogue)
    ready_for_the_quiz(client)
    attempt = take_quiz(client, db, catalogue, lambda q: q.id == critical.id)
    version = db.get(QuizVersion, attempt.quiz_version_id)
    document = copy.deepcopy(version.document)
    asked = next(q for q in document["questions"] if q["id"] == critical.id)
    asked["prompt"] = "As the question read when the attempt was drawn"
    version.document, version.content_version = document, "an earlier version"
    db.commit()
    html = classroom.teacher.get(classroom.timeline).text
    (event,) = [e for e in timeline(html) if "final quiz attempt" in e]
    assert "question: “As the question read when the attempt was drawn”." in event
    assert critical.prompt not in html
    page = classroom.teacher.get(attempt_link(html)).text
    assert "As the question read when the attempt was drawn" in page


def test_a_passed_attempt_links_too_and_names_nothing(classroom, client, db, catalogue):
    ready_for_the_quiz(client)
    attempt = take_quiz(client, db, catalogue)
    html = classroom.teacher.get(classroom.timeline).text
    (event,) = [e for e in timeline(html) if "final quiz attempt" in e]
    assert "final quiz attempt: 100%, passed." in event
    assert classroom.teacher.get(attempt_link(html)).status_code == 200
    assert attempt_link(html).endswith(f"/attempts/{attempt.id}")


def test_the_attempt_page_is_scoped_as_the_other_instructor_pages(
    app, classroom, client, db, catalogue, create_user
):
    """Another instructor, a learner, a visitor, another member's URL and an open attempt:
    none sees it. An admin does."""
    ready_for_the_quiz(client)
    closed = take_quiz(client, db, catalogue, lambda q: q.critical)
    url = f"{classroom.timeline}/attempts/{closed.id}"
    create_user(email="otto@example.com", role="instructor")
    create_user(email="admin@example.com", role="admin")
    create_user(email="peer@example.com", name="Pat Peer")
    assert logged_in(app, "admin@example.com").get(url).status_code == 200
    assert logged_in(app, "otto@example.com").get(url).status_code == 404  # not his cohort
    assert client.get(url).status_code == 403  # a learner, even its owner
    response = app.test_client().get(url)
    assert response.status_code == 302 and response.location.startswith("/auth/login")

    # Another member of the cohort: this attempt is not theirs.
    peer = logged_in(app, "peer@example.com")
    peer_id = user_id(db, "peer@example.com")
    enrol(db, classroom.cohort, [peer_id])
    db.commit()
    other_url = f"/instructor/cohorts/{classroom.cohort}/learners/{peer_id}/attempts/{closed.id}"
    assert classroom.teacher.get(other_url).status_code == 404
    # No such member, no such attempt: not found.
    nobody = f"/instructor/cohorts/{classroom.cohort}/learners/999999"
    assert classroom.teacher.get(f"{nobody}/attempts/{closed.id}").status_code == 404
    assert classroom.teacher.get(f"{classroom.timeline}/attempts/999999").status_code == 404

    # An attempt still open has a key that must not be seen: not found, and not linked.
    ready_for_the_quiz(peer)
    open_id = start(peer)
    peer_timeline = f"/instructor/cohorts/{classroom.cohort}/learners/{peer_id}"
    assert classroom.teacher.get(f"{peer_timeline}/attempts/{open_id}").status_code == 404
    html = classroom.teacher.get(peer_timeline).text
    assert "started a final quiz attempt (in progress)." in html and "/attempts/" not in html


# --- The timeline: revocations and blocks --------------------------------------------------


def test_the_timeline_lists_revocation_block_lifting_and_reinstatement(app, db, people):
    teacher = people.users["teacher"]
    learner_id = user_id(db, test_certificates.EMAIL)
    cohort = db.scalar(select(Cohort.id).where(Cohort.instructor_id == teacher.id))
    code = people.code
    assert revoke(people.teacher, code, note="Private words").status_code == 200
    url = f"/instructor/cohorts/{cohort}/learners/{learner_id}"
    events = [e.split(": ", 1)[1] for e in timeline(people.teacher.get(url).text)]
    assert events[-2:] == [
        f"certificate {code} revoked by Tess Teacher: Requirements not met.",
        f"blocked from a new certificate for this lesson (set by the revocation of {code})"
        " by Tess Teacher: Requirements not met.",
    ]
    assert "Private words" not in people.teacher.get(url).text  # the private note stays off

    lifted = people.teacher.post(
        f"/certificates/{code}/unblock", data={"reason": "Requirements now met"}
    )
    assert lifted.status_code == 302
    reinstated = people.teacher.post(
        f"/certificates/{code}/reinstate", data={"reason": "Revoked in error"}
    )
    assert reinstated.status_code == 302
    events = [e.split(": ", 1)[1] for e in timeline(people.teacher.get(url).text)]
    assert events[-2:] == [
        "certification block lifted: a new certificate may be issued"
        " by Tess Teacher: Requirements now met.",
        f"certificate {code} reinstated by Tess Teacher: Revoked in error.",
    ]


# --- Reading time ------------------------------------------------------------------------------


def page_token(client, url: str = SECTION_URL) -> str:
    """The `served` field of the section page as served now."""
    page = client.get(url)
    assert page.status_code == 200
    (token,) = SERVED_FIELD.findall(page.text)
    return token


def signed(app, learner_id: int, seconds_ago: int, section: str = SECTION) -> str:
    """The `served` field the section page carries had it been served `seconds_ago`: signed
    with the app's serializer while its clock is moved (outside any request, so that no
    session cookie is signed or read meanwhile)."""
    lesson = app.extensions["learnapp.content"].lessons[LESSON]
    real = TimestampSigner.get_timestamp
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - seconds_ago)
        return progress.served_token(app.secret_key, learner_id, lesson, lesson.section(section))


def reading(db, user_id: int, section: str = SECTION) -> tuple[bool, int | None]:
    """Whether the section is marked read, and the reading time stored with it."""
    db.rollback()
    row = db.execute(
        select(SectionRead.id, SectionRead.reading_seconds).where(
            SectionRead.user_id == user_id, SectionRead.section == section
        )
    ).first()
    return (False, None) if row is None else (True, row.reading_seconds)


def mark_read(client, token: str | None, section: str = SECTION):
    data = {} if token is None else {"served": token}
    response = client.post(f"/lessons/{LESSON}/sections/{section}/read", data=data)
    assert response.status_code == 302  # on to the next section, whatever the token
    return response


def read_line(html: str, title: str) -> str:
    return next(e for e in timeline(html) if f"read “{title}”" in e)


def test_a_section_marked_read_in_a_hurry_is_flagged_on_the_timeline(app, classroom, client, db):
    mark_read(client, signed(app, classroom.learner.id, 20))
    marked, seconds = reading(db, classroom.learner.id)
    assert marked and 20 <= seconds <= 25
    line = read_line(classroom.teacher.get(classroom.timeline).text, "Poor posture")
    assert re.search(r"marked read after 2\d s, under a quarter of its 4 minutes$", line), line


def test_a_section_read_slowly_is_not_flagged(app, classroom, client, db):
    mark_read(client, signed(app, classroom.learner.id, 10 * 60))
    marked, seconds = reading(db, classroom.learner.id)
    assert marked and 600 <= seconds <= 605
    html = classroom.teacher.get(classroom.timeline).text
    assert read_line(html, "Poor posture").endswith("read “Poor posture”")
    assert "under a quarter" not in html


def _tampered(app, learner_id: int) -> str:
    token = signed(app, learner_id, 20)
    return token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")


def _other_payload(app, learner_id: int) -> str:
    """The signature of another token on a payload naming this learner and section."""
    _payload, rest = signed(app, learner_id + 1, 20).split(".", 1)
    return signed(app, learner_id, 20).split(".", 1)[0] + "." + rest


def _another_section(app, learner_id: int) -> str:
    return signed(app, learner_id, 20, section="summary")


def _another_learner(app, learner_id: int) -> str:
    return signed(app, learner_id + 1, 20)


def _another_salt(app, learner_id: int) -> str:
    serializer = URLSafeTimedSerializer(app.secret_key, salt="email-confirmation")
    return serializer.dumps([learner_id, LESSON, SECTION])


def _another_key(app, learner_id: int) -> str:
    lesson = app.extensions["learnapp.content"].lessons[LESSON]
    return progress.served_token("not the key", learner_id, lesson, lesson.section(SECTION))


@pytest.mark.parametrize(
    "make",
    [
        lambda app, learner_id: None,  # no field at all
        lambda app, learner_id: "",
        lambda app, learner_id: "not a token",
        lambda app, learner_id: "x" * 5000,
        _tampered,
        _other_payload,
        _another_section,
        _another_learner,
        _another_salt,
        _another_key,
        lambda app, learner_id: signed(app, learner_id, -3600),  # from the future
        lambda app, learner_id: signed(app, learner_id, 24 * 3600 + 60),  # over a day old
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "huge",
        "tampered",
        "other-payload",
        "another-section",
        "another-learner",
        "another-salt",
        "another-key",
        "future",
        "over-a-day",
    ],
)
def test_a_bad_served_time_still_marks_read_and_records_no_reading_time(
    app, classroom, client, db, make
):
    token = make(app, classroom.learner.id)
    response = mark_read(client, token)
    assert response.location == f"/lessons/{LESSON}/sections/joint-dysfunction"
    assert reading(db, classroom.learner.id) == (True, None)
    html = classroom.teacher.get(classroom.timeline).text
    assert read_line(html, "Poor posture").endswith("read “Poor posture”")
    # The learner's pages count the read as any other.
    assert 'class="state-read"' in client.get(SECTION_URL).text


def test_reading_again_keeps_the_first_reading_time(app, classroom, client, db):
    mark_read(client, signed(app, classroom.learner.id, 20))
    first = reading(db, classroom.learner.id)
    mark_read(client, signed(app, classroom.learner.id, 900))
    assert reading(db, classroom.learner.id) == first


@pytest.mark.parametrize(
    ("seconds", "hurried"),
    [(None, False), (0, True), (59, True), (60, False), (600, False)],
)
def test_a_hurried_read_is_under_a_quarter_of_the_minutes(catalogue, seconds, hurried):
    section = catalogue.lessons[LESSON].section(SECTION)  # 4 minutes
    assert progress.read_in_a_hurry(seconds, section) is hurried


def test_each_learner_gets_their_own_served_time_from_one_skeleton(
    app, classroom, client, db, create_user
):
    """The page carries the token, filled into the skeleton per request: it names the
    learner and the section, and times a read at once (0 seconds: a hurried read)."""
    create_user(email="bob@example.com", name="Bob Builder")
    bob, bob_id = logged_in(app, "bob@example.com"), user_id(db, "bob@example.com")
    ada_token = page_token(client)
    bob_token = page_token(bob)  # from the skeleton Ada's page made
    serializer = progress.served_serializer(app.secret_key)
    assert serializer.loads(ada_token) == [classroom.learner.id, LESSON, SECTION]
    assert serializer.loads(bob_token) == [bob_id, LESSON, SECTION]
    # Bob's token does not time Ada's read; his own times his.
    mark_read(client, bob_token)
    assert reading(db, classroom.learner.id) == (True, None)
    mark_read(bob, bob_token)
    marked, seconds = reading(db, bob_id)
    assert marked and 0 <= seconds <= 5
