"""Running a class (issue 21): joining by the link through login or registration, the room's
short code and its throttles, the page an instructor projects, new codes, removing a learner
and archiving a cohort."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from markupsafe import escape
from sqlalchemy import select

from learnapp import cohorts
from learnapp.db import utcnow
from learnapp.models import Cohort, CompletionRecord, Enrolment, SectionRead
from tests.conftest import PASSWORD, form_errors
from tests.test_certificates import issue
from tests.test_instructor import logged_in
from tests.test_quizzes import LESSON, flashes

ARCHIVED = str(escape(cohorts.ARCHIVED))


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "JOIN_CODE_FAILURES": "3 per 15 minutes",
        "JOIN_CODE_FAILURES_SITE_WIDE": "5 per 15 minutes",
    }


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def cohort(app, db, create_user) -> SimpleNamespace:
    """A cohort created by its instructor today, through the page."""
    create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    teacher = logged_in(app, "teach@example.com")
    today = date.today().isoformat()
    created = teacher.post(
        "/instructor/cohorts",
        data={"name": "Tuesday class", "session_date": today, "lesson": LESSON},
    )
    cohort_id = int(created.location.rsplit("/", 1)[-1])
    return SimpleNamespace(id=cohort_id, teacher=teacher, url=f"/instructor/cohorts/{cohort_id}")


def stored(db, cohort_id: int) -> Cohort:
    db.rollback()  # see what requests committed since
    return db.get(Cohort, cohort_id)


def members(db, cohort_id: int) -> list[int]:
    db.rollback()
    return list(db.scalars(select(Enrolment.user_id).where(Enrolment.cohort_id == cohort_id)))


def join(client, code: str):
    return client.post("/cohorts/join", data={"code": code})


# --- The join link through login and registration ------------------------------------------


def test_a_visitor_with_the_link_registers_and_ends_in_the_cohort(app, client, db, cohort):
    link = f"/cohorts/join/{stored(db, cohort.id).join_code}"
    to_login = client.get(link)
    assert to_login.status_code == 302
    login_page = client.get(to_login.location)
    assert "You are joining <strong>Tuesday class</strong>" in login_page.text
    register_link = re.search(r'href="(/auth/register\?next=[^"]+)"', login_page.text).group(1)

    register_page = client.get(register_link.replace("&amp;", "&"))
    assert "You are joining <strong>Tuesday class</strong>" in register_page.text
    registered = client.post(
        register_link.replace("&amp;", "&"),
        data={
            "name": "Nia New",
            "email": "nia@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert registered.status_code == 302 and registered.location == link
    confirm = client.get(link)
    assert "Join Tuesday class" in confirm.text and members(db, cohort.id) == []
    code = stored(db, cohort.id).join_code
    assert join(client, code).status_code == 302
    (member,) = members(db, cohort.id)
    assert db.get(Cohort, cohort.id) is not None and member is not None


def test_a_member_with_an_account_logs_in_from_the_link_and_ends_in_the_cohort(
    client, db, create_user, cohort
):
    create_user(email="ada@example.com")
    link = f"/cohorts/join/{stored(db, cohort.id).join_code}"
    login_page = client.get(client.get(link).location)
    assert "You are joining <strong>Tuesday class</strong>" in login_page.text
    logged = client.post(
        f"/auth/login?next={quote(link)}", data={"email": "ada@example.com", "password": PASSWORD}
    )
    assert logged.location == link


@pytest.mark.parametrize(
    "next_url", ["/cohorts/join/01ABC-DEFGH-JKMNP-QRSTW", "/lessons/", "https://evil.example/x"]
)
def test_the_login_page_names_no_class_for_other_addresses(client, cohort, next_url):
    page = client.get(f"/auth/login?next={quote(next_url)}")
    assert page.status_code == 200 and "You are joining" not in page.text


# --- The room's short code ---------------------------------------------------------------


def test_the_short_code_joins_as_read_aloud_and_typed_on_a_phone(db, client, learner, cohort):
    short = stored(db, cohort.id).short_code
    typed = f" {short[:4].lower()} {short[4:].lower()} "
    assert join(client, typed).status_code == 302
    assert members(db, cohort.id) == [learner.id]


def test_the_short_code_expires_at_the_end_of_the_sessions_day(db, client, learner, cohort):
    row = stored(db, cohort.id)
    short = row.short_code
    assert row.short_code_expires_at == cohorts.end_of_day(date.today(), "UTC")
    row.short_code_expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    refused = join(client, short)
    assert refused.status_code == 400
    assert any("No cohort has this code today" in e for e in form_errors(refused.text))
    assert members(db, cohort.id) == []
    # The link still joins.
    assert join(client, stored(db, cohort.id).join_code).status_code == 302


def test_end_of_day_is_where_the_site_is():
    toronto = cohorts.end_of_day(date(2026, 12, 6), "America/Toronto")
    assert toronto.astimezone(UTC) == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_a_classroom_sharing_one_address_is_not_locked_out_by_one_learner(
    app, db, create_user, cohort
):
    create_user(email="typo@example.com")
    create_user(email="other@example.com")
    typo, other = logged_in(app, "typo@example.com"), logged_in(app, "other@example.com")
    for _ in range(3):
        assert join(typo, "WRONGCDE").status_code == 400
    short = stored(db, cohort.id).short_code
    assert join(typo, short).status_code == 429  # this account waits
    assert join(other, short).status_code == 302  # the rest of the room does not


def test_wrong_short_codes_across_the_site_are_throttled_but_the_link_still_joins(
    app, db, create_user, cohort
):
    guessers = []
    for number in range(3):
        create_user(email=f"guess{number}@example.com")
        guessers.append(logged_in(app, f"guess{number}@example.com"))
    for client in guessers[:2]:
        for _ in range(3 if client is guessers[0] else 2):
            assert join(client, "WRONGCDE").status_code == 400
    row = stored(db, cohort.id)
    refused = join(guessers[2], row.short_code)
    assert refused.status_code == 429
    assert any("on this site" in e and "join link" in e for e in form_errors(refused.text))
    assert guessers[2].get(f"/cohorts/join/{row.join_code}").status_code == 200
    assert join(guessers[2], row.join_code).status_code == 302


# --- The page to project -------------------------------------------------------------------


def test_the_projected_page_shows_the_code_large_and_the_link_as_a_qr_code(
    app, db, client, learner, cohort, create_user
):
    row = stored(db, cohort.id)
    page = cohort.teacher.get(f"{cohort.url}/project")
    assert page.status_code == 200
    assert f'<p class="short-code">{row.spoken_short_code}</p>' in page.text
    assert re.search(
        r'<img class="join-qr" src="data:image/svg\+xml;charset=utf-8,[^"]+" alt="QR code',
        page.text,
    )
    assert f"https://learn.example.org/cohorts/join/{row.join_code}" in page.text
    assert 'data-copy="#join-link" hidden' in page.text  # shown by copy.js, where it can copy
    assert "The code works until the end of" in page.text
    assert client.get(f"{cohort.url}/project").status_code == 403
    create_user(email="other-teacher@example.com", role="instructor")
    other = logged_in(app, "other-teacher@example.com")
    assert other.get(f"{cohort.url}/project").status_code == 404


def test_new_codes_replace_both_and_keep_the_members(db, client, learner, cohort):
    old = stored(db, cohort.id)
    old_link, old_short = old.join_code, old.short_code
    assert join(client, old_short).status_code == 302
    rotated = cohort.teacher.post(f"{cohort.url}/codes", follow_redirects=True)
    new = stored(db, cohort.id)
    assert (new.join_code, new.short_code) != (old_link, old_short)
    assert any(new.spoken_short_code in f for f in flashes(rotated.text))
    assert members(db, cohort.id) == [learner.id]
    assert client.get(f"/cohorts/join/{old_link}").status_code == 404
    assert join(client, old_short).status_code == 400
    assert client.get(f"/cohorts/join/{new.join_code}").status_code == 200


# --- Removing a learner --------------------------------------------------------------------


def test_removing_asks_first_then_keeps_the_learners_progress_and_the_cohorts_record(
    client, learner, db, cohort, catalogue
):
    assert join(client, stored(db, cohort.id).join_code).status_code == 302
    code = issue(client, db, catalogue)
    reads = db.scalars(select(SectionRead).where(SectionRead.user_id == learner.id)).all()
    remove = f"{cohort.url}/learners/{learner.id}/remove"
    assert (
        "Remove from the cohort…" in cohort.teacher.get(f"{cohort.url}/learners/{learner.id}").text
    )

    asked = cohort.teacher.post(remove)
    assert asked.status_code == 200 and "Nothing has changed yet." in asked.text
    assert members(db, cohort.id) == [learner.id]

    done = cohort.teacher.post(remove, data={"confirmed": "yes"}, follow_redirects=True)
    assert any("Ada Learner is no longer in Tuesday class" in f for f in flashes(done.text))
    assert members(db, cohort.id) == []
    (record,) = db.scalars(select(CompletionRecord)).all()
    assert (record.kept_because, record.code) == ("removed", code)
    assert "Removed by an instructor" in cohort.teacher.get(cohort.url).text
    # The learner's own progress and certificate stay theirs.
    assert len(
        db.scalars(select(SectionRead).where(SectionRead.user_id == learner.id)).all()
    ) == len(reads)
    assert client.get(f"/certificates/{code}").status_code == 200
    assert cohort.teacher.post(remove, data={"confirmed": "yes"}).status_code == 404


# --- Archiving -----------------------------------------------------------------------------


def test_an_archived_cohort_is_read_only_and_out_of_the_default_list(
    client, learner, db, cohort, create_user, app
):
    row = stored(db, cohort.id)
    link, short = row.join_code, row.short_code
    create_user(email="late@example.com")
    late = logged_in(app, "late@example.com")
    assert join(late, link).status_code == 302

    archived = cohort.teacher.post(f"{cohort.url}/archive", follow_redirects=True)
    assert any("Tuesday class is archived" in f for f in flashes(archived.text))
    assert "Tuesday class" not in cohort.teacher.get("/instructor/").text.split("<h2>New cohort")[0]
    listed = cohort.teacher.get("/instructor/?archived=1").text
    assert "Archived cohorts" in listed and "Tuesday class" in listed
    assert "Archived cohorts (1)" in cohort.teacher.get("/instructor/").text

    page = client.get(f"/cohorts/join/{link}")
    assert page.status_code == 409 and ARCHIVED in page.text
    assert "Join this cohort</button>" not in page.text
    refused = join(client, link)
    assert refused.status_code == 409 and ARCHIVED in refused.text
    assert join(client, short).status_code == 400  # the short code went with the archiving
    changed = cohort.teacher.post(f"{cohort.url}/codes", follow_redirects=True)
    assert ARCHIVED in changed.text and stored(db, cohort.id).join_code == link
    removal = cohort.teacher.post(
        f"{cohort.url}/learners/{members(db, cohort.id)[0]}/remove",
        data={"confirmed": "yes"},
        follow_redirects=True,
    )
    assert ARCHIVED in removal.text and len(members(db, cohort.id)) == 1
    assert cohort.teacher.get(cohort.url).status_code == 200  # still there to read

    cohort.teacher.post(f"{cohort.url}/restore")
    assert stored(db, cohort.id).archived_at is None
    assert join(client, link).status_code == 302
