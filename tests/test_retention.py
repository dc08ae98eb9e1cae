"""Retention and deletion on request: what a cohort keeps of the certificates of learners who
left it or deleted their account, where its instructor sees them (dashboard, CSV) and for how
long, the admin's withdrawal of a certificate at its holder's request, the purge,
and what the privacy notice and the join page promise."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from learnapp.db import utcnow
from learnapp.models import WITHDRAWN, Certificate, Cohort, CompletionRecord
from tests.conftest import PASSWORD, count_rows
from tests.test_certificates import issue, login, stored, upload, written_day
from tests.test_instructor import csv_rows, former_members, learner_names, row_of
from tests.test_quizzes import LESSON, flashes

PUBLIC_WITHDRAWN = str(escape(WITHDRAWN))  # as the pages write it: the apostrophe escaped


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def cohort(app, client, learner, create_user, db) -> SimpleNamespace:
    """The learner on `client` joined a teacher's cohort; an admin is at hand."""
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    teacher_client = login(app, teacher.email)
    created = teacher_client.post(
        "/instructor/cohorts",
        data={"name": "Tuesday class", "session_date": "2025-03-04", "lesson": LESSON},
    )
    cohort_id = int(created.location.rsplit("/", 1)[-1])
    db.rollback()
    join_code = db.scalar(select(Cohort.join_code).where(Cohort.id == cohort_id))
    assert client.post("/cohorts/join", data={"code": join_code}).status_code == 302
    return SimpleNamespace(
        id=cohort_id,
        join_code=join_code,
        teacher=teacher_client,
        admin=login(app, "admin@example.com"),
        records=f"/instructor/cohorts/{cohort_id}/records",
        dashboard=f"/instructor/cohorts/{cohort_id}",
    )


def delete_account(client) -> None:
    response = client.post("/account/delete", data={"current": PASSWORD})
    assert response.status_code == 302, response.text


def records(db) -> list[CompletionRecord]:
    db.rollback()
    return list(db.scalars(select(CompletionRecord).order_by(CompletionRecord.id)))


def leave(client, cohort) -> None:
    response = client.post(
        f"/cohorts/{cohort.id}/leave", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert any(f.startswith("You left the cohort.") for f in flashes(response.text))


def exported(cohort) -> dict[str, list[str]]:
    """The cohort's CSV as rows by name (the third column, after the cohort's name and
    session date); the header under "Name"."""
    rows = csv_rows(cohort.teacher.get(f"{cohort.dashboard}/export.csv"))
    return {row[2]: row for row in rows}


def kept_row(certificate: Certificate, marked: str, status: str = "Valid") -> list[str]:
    """A row of the dashboard's former members, as the certificate was issued."""
    return [
        certificate.name,
        marked,
        f"{certificate.score_percent:g}%",
        certificate.code,
        written_day(certificate.issued_at),
        written_day(certificate.valid_until),
        status,
    ]


def kept_csv_row(
    certificate: Certificate, status: str, sections: int, certificate_status: str = "valid"
) -> list[str]:
    day = certificate.issued_at.date().isoformat()
    until = certificate.valid_until.date().isoformat()
    cohort = ["Tuesday class", "2025-03-04"]
    nothing_known = ["", "", *[""] * sections, "", ""]  # e-mail, reads, last activity, attempts
    result = ["100", "yes", ""]  # best score, passed, pass date (not kept)
    certified = [certificate.code, certificate_status, day, until]
    return [*cohort, certificate.name, *nothing_known, *result, *certified, status]


# --- Former members: on the dashboard and in the CSV (issue 20, item 5) -------------------


def test_a_learner_who_leaves_stays_on_the_dashboard_and_in_the_csv_as_a_former_member(
    client, learner, cohort, db, catalogue
):
    code = issue(client, db, catalogue, name="Ada M. Learner")
    certificate = stored(db, code)
    before = cohort.teacher.get(cohort.dashboard).text
    assert learner_names(before) == ["Ada Learner"] and former_members(before) == []
    assert exported(cohort)["Ada Learner"][-1] == "member"

    leave(client, cohort)

    (record,) = records(db)
    assert (record.kept_because, record.user_id, record.name) == (
        "left",
        learner.id,
        "Ada M. Learner",
    )
    html = cohort.teacher.get(cohort.dashboard).text
    assert learner_names(html) == []
    assert "<dt>Enrolled</dt><dd>0</dd>" in html  # the counts stay about current members
    assert "1 former member completed" in html
    assert former_members(html) == [kept_row(certificate, "Left the cohort")]
    rows = exported(cohort)
    assert rows["Name"][-1] == "Status"
    sections = len(catalogue.lessons[LESSON].sections)
    assert rows["Ada M. Learner"] == kept_csv_row(certificate, "left", sections)
    assert "Ada Learner" not in rows and "learner@example.com" not in str(rows)
    # the certificate itself is untouched, and the learner's own pages no longer list the cohort
    assert "This certificate is genuine and valid." in client.get(f"/verify/{code}").text
    assert "You are not in any cohort." in client.get("/cohorts/").text


def test_a_deleted_account_stays_on_the_dashboard_and_in_the_csv_marked_deleted(
    client, learner, cohort, db, catalogue
):
    code = issue(client, db, catalogue)
    certificate = stored(db, code)
    delete_account(client)

    (record,) = records(db)
    assert (record.kept_because, record.user_id) == ("deleted", None)
    html = cohort.teacher.get(cohort.dashboard).text
    assert learner_names(html) == [] and "1 former member completed" in html
    assert former_members(html) == [kept_row(certificate, "Account deleted")]
    sections = len(catalogue.lessons[LESSON].sections)
    assert exported(cohort)["Ada Learner"] == kept_csv_row(certificate, "deleted", sections)


def test_a_learner_who_left_and_rejoins_is_a_member_again_not_twice(
    client, learner, cohort, db, catalogue
):
    code = issue(client, db, catalogue)
    leave(client, cohort)
    assert client.post("/cohorts/join", data={"code": cohort.join_code}).status_code == 302

    html = cohort.teacher.get(cohort.dashboard).text
    assert learner_names(html) == ["Ada Learner"] and former_members(html) == []
    assert "former member completed" not in html
    assert "Valid" in row_of(html, "Ada Learner")  # the member's row shows the certificate
    rows = exported(cohort)
    assert len(rows) == 2 and rows["Ada Learner"][-1] == "member"
    # Kept meanwhile: earned before this membership, it would be lost by leaving again.
    leave(client, cohort)
    assert [r.code for r in records(db)] == [code]
    assert [row[0] for row in former_members(cohort.teacher.get(cohort.dashboard).text)] == [
        "Ada Learner"
    ]
    # and an account deleted while back in the cohort is marked so
    client.post("/cohorts/join", data={"code": cohort.join_code})
    delete_account(client)
    (record,) = records(db)
    assert (record.kept_because, record.user_id) == ("deleted", None)


def test_a_certificate_withdrawn_while_a_member_shows_once_and_then_as_left(
    client, learner, cohort, withdrawable, db, catalogue
):
    code = withdrawable.code
    withdraw(cohort.admin, code)
    html = cohort.teacher.get(cohort.dashboard).text
    # still a member: their own row says the certificate is revoked, and nothing else does
    assert learner_names(html) == ["Ada Learner"] and former_members(html) == []
    assert "Revoked" in html
    (record,) = records(db)
    assert (record.kept_because, record.name) == ("withdrawn", "Ada Lovelace")
    assert "Ada Lovelace" in cohort.teacher.get(cohort.records).text

    leave(client, cohort)
    (record,) = records(db)
    assert record.kept_because == "left"
    (row,) = former_members(cohort.teacher.get(cohort.dashboard).text)
    assert row[:2] == ["Ada Lovelace", "Left the cohort"] and row[-1] == "Withdrawn"
    assert exported(cohort)["Ada Lovelace"][-1] == "left"
    # no name comes back to a withdrawn certificate, and leaving copies nothing more
    assert stored(db, code).name == ""
    assert len(records(db)) == 1


def test_a_revocation_after_leaving_shows_on_the_dashboard(client, learner, cohort, db, catalogue):
    code = issue(client, db, catalogue)
    leave(client, cohort)
    revoked = cohort.admin.post(
        f"/certificates/{code}/revoke", data={"reason": "Issued in error", "confirmed": "yes"}
    )
    assert revoked.status_code == 302
    (row,) = former_members(cohort.teacher.get(cohort.dashboard).text)
    assert row[1:2] == ["Left the cohort"] and row[-1].startswith("Revoked")


def test_what_a_cohort_did_not_see_earned_is_not_kept_when_leaving(
    app, client, learner, create_user, db, catalogue
):
    issue(client, db, catalogue)  # before joining
    teacher = create_user(email="teach@example.com", role="instructor")
    created = login(app, teacher.email).post(
        "/instructor/cohorts",
        data={"name": "Later class", "session_date": "2025-03-04", "lesson": LESSON},
    )
    db.rollback()
    cohort_id = int(created.location.rsplit("/", 1)[-1])
    client.post("/cohorts/join", data={"code": db.get(Cohort, cohort_id).join_code})
    assert client.post(f"/cohorts/{cohort_id}/leave", data={"confirmed": "yes"}).status_code == 302
    assert records(db) == []


def test_a_deleted_accounts_cohort_keeps_its_completion_record(client, cohort, db, catalogue):
    code = issue(client, db, catalogue, name="Ada M. Learner")
    certificate = stored(db, code)
    assert "Ada M. Learner" not in cohort.teacher.get(cohort.records).text  # none yet
    delete_account(client)

    (record,) = records(db)
    assert (record.cohort_id, record.code, record.name, record.score_percent) == (
        cohort.id,
        code,
        "Ada M. Learner",
        100,
    )
    assert (record.issued_at, record.valid_until) == (
        certificate.issued_at,
        certificate.valid_until,
    )
    page = cohort.teacher.get(cohort.records)
    assert page.status_code == 200
    for fact in ("Ada M. Learner", "100%", code, written_day(certificate.issued_at)):
        assert fact in page.text
    kept_until = certificate.valid_until + timedelta(days=365)
    assert written_day(kept_until) in page.text
    assert f'href="{cohort.records}"' in cohort.teacher.get(f"/instructor/cohorts/{cohort.id}").text
    # the certificate itself still verifies, and only admins manage it now
    assert "This certificate is genuine and valid." in client.get(f"/verify/{code}").text
    assert cohort.teacher.get(f"/certificates/{code}").status_code == 404
    assert cohort.admin.get(f"/certificates/{code}").status_code == 200


def test_a_certificate_earned_before_joining_is_not_the_cohorts_record(
    app, client, learner, create_user, db, catalogue
):
    issue(client, db, catalogue)
    teacher = create_user(email="teach@example.com", role="instructor")
    created = login(app, teacher.email).post(
        "/instructor/cohorts",
        data={"name": "Later class", "session_date": "2025-03-04", "lesson": LESSON},
    )
    db.rollback()
    cohort_id = int(created.location.rsplit("/", 1)[-1])
    client.post("/cohorts/join", data={"code": db.get(Cohort, cohort_id).join_code})
    delete_account(client)
    assert records(db) == []


@pytest.fixture
def withdrawable(client, cohort, db, catalogue) -> SimpleNamespace:
    """A certificate the learner earned in the cohort, corrected once (two revisions)."""
    code = issue(client, db, catalogue, name="Ada Learner")
    first_pdf = stored(db, code).pdf
    assert cohort.teacher.post(
        f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"}
    ).status_code == (302)
    return SimpleNamespace(code=code, pdfs=[first_pdf, stored(db, code).pdf])


def withdraw(admin, code: str, **form: str) -> Any:
    return admin.post(
        f"/admin/certificates/{code}/withdraw",
        data={"confirm": "y", **form},
        follow_redirects=True,
    )


def test_an_admin_finds_a_certificate_and_withdraws_it_at_the_holders_request(
    app, client, cohort, withdrawable, db
):
    code = withdrawable.code
    found = cohort.admin.get("/admin/certificates", query_string={"q": code.lower()})
    assert found.status_code == 200
    assert (
        code in found.text and "Ada Lovelace" in found.text and "learner@example.com" in found.text
    )
    assert "Withdraw and delete the PDF" in found.text
    by_name = cohort.admin.get("/admin/certificates", query_string={"q": "lovelace"})
    assert code in by_name.text

    response = withdraw(cohort.admin, code)
    assert response.status_code == 200
    assert f"Certificate {code} is withdrawn: its PDF and the name on it are deleted." in flashes(
        response.text
    )
    db.rollback()
    revisions = db.scalars(select(Certificate).where(Certificate.code == code)).all()
    assert len(revisions) == 2
    for revision in revisions:
        assert (revision.pdf, revision.name, revision.revoke_reason) == (None, "", WITHDRAWN)
        assert revision.withdrawn_at is not None and revision.revoked_at is not None

    public = app.test_client()
    verify = public.get(f"/verify/{code}").text
    assert PUBLIC_WITHDRAWN in verify
    assert "Ada" not in verify and "Spinal muscle spasm" not in verify
    for pdf in withdrawable.pdfs:  # a copy shown later reads as withdrawn, and says no more
        page = upload(public, pdf).text
        assert "<h1>Withdrawn</h1>" in page and PUBLIC_WITHDRAWN in page
        assert "Ada" not in page
    assert client.get(f"/certificates/{code}/pdf").status_code == 404
    holder = client.get(f"/certificates/{code}").text
    assert PUBLIC_WITHDRAWN in holder and "Download the PDF" not in holder
    # the cohort keeps the completion record, the name as certified included
    (record,) = records(db)
    assert (record.code, record.name) == (code, "Ada Lovelace")
    assert "Ada Lovelace" in cohort.teacher.get(cohort.records).text
    # and deleting the account later keeps just that one
    delete_account(client)
    assert len(records(db)) == 1

    again = withdraw(cohort.admin, code)
    assert "This certificate is already withdrawn." in flashes(again.text)


def test_a_revoked_certificate_withdrawn_keeps_its_revocation(cohort, withdrawable, db):
    code = withdrawable.code
    cohort.teacher.post(
        f"/certificates/{code}/revoke", data={"reason": "Issued in error", "confirmed": "yes"}
    )
    withdraw(cohort.admin, code)
    certificate = stored(db, code)
    assert certificate.withdrawn_at is not None and certificate.pdf is None
    assert certificate.revoke_reason == "Issued in error"


def test_withdrawing_needs_the_confirmation(cohort, withdrawable, db):
    response = withdraw(cohort.admin, withdrawable.code, confirm="")
    message = "Please tick the box to confirm the holder's request."
    assert str(escape(message)) in flashes(response.text)
    assert stored(db, withdrawable.code).pdf is not None


def test_only_admins_withdraw(cohort, withdrawable, client, db):
    for who in (cohort.teacher, client):
        assert who.get("/admin/certificates").status_code == 403
        assert withdraw(who, withdrawable.code).status_code == 403
    assert cohort.admin.post("/admin/certificates/0000-0000/withdraw").status_code == 404
    assert stored(db, withdrawable.code).withdrawn_at is None


@pytest.mark.parametrize(
    "settings", [{}, {"COMPLETION_RECORDS_KEPT_DAYS": 30}], ids=["default", "30 days"]
)
def test_the_purge_deletes_records_past_their_period(
    app, runner, client, cohort, db, catalogue, settings
):
    app.config.update(settings)
    kept_days = app.config["COMPLETION_RECORDS_KEPT_DAYS"]
    issue(client, db, catalogue)
    delete_account(client)
    (record,) = records(db)
    # just inside the period
    record.valid_until = utcnow() - timedelta(days=kept_days) + timedelta(hours=1)
    db.commit()
    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "0 completion records past their retention period deleted" in result.output
    assert len(records(db)) == 1
    # just past it
    record = records(db)[0]
    record.valid_until = utcnow() - timedelta(days=kept_days) - timedelta(hours=1)
    db.commit()
    result = runner.invoke(args=["retention", "purge"])
    assert "1 completion record past their retention period deleted" in result.output
    assert count_rows(db, CompletionRecord) == 0
    assert count_rows(db, Certificate) == 1  # the certificate itself is not a cohort record


def test_the_privacy_notice_states_who_sees_what_and_for_how_long(app, client):
    page = client.get("/privacy").text
    for promise in (
        "see your name and e-mail address",
        "export",
        "completion record",
        "365 days after the certificate",
        "never the private note",
        "Leaving a cohort is the same for that cohort",
        PUBLIC_WITHDRAWN,
    ):
        assert promise in page, promise
    assert "until an administrator deletes them at your request" not in page


def test_the_join_page_says_instructors_see_the_email(client, cohort, db):
    db.rollback()
    page = client.get(f"/cohorts/join/{db.get(Cohort, cohort.id).join_code}")
    assert page.status_code == 200
    assert "your e-mail address" in page.text and "export" in page.text
