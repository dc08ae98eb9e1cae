"""Retention and deletion on request: what a cohort keeps of a deleted account's certificates
and for how long, the admin's withdrawal of a certificate at its holder's request, the purge,
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
        teacher=teacher_client,
        admin=login(app, "admin@example.com"),
        records=f"/instructor/cohorts/{cohort_id}/records",
    )


def delete_account(client) -> None:
    response = client.post("/account/delete", data={"current": PASSWORD})
    assert response.status_code == 302, response.text


def records(db) -> list[CompletionRecord]:
    db.rollback()
    return list(db.scalars(select(CompletionRecord).order_by(CompletionRecord.id)))


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
        assert "Authentic certificate" in page and PUBLIC_WITHDRAWN in page
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
    cohort.teacher.post(f"/certificates/{code}/revoke", data={"reason": "Issued in error"})
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
    assert "0 completion record(s) past their retention period deleted" in result.output
    assert len(records(db)) == 1
    # just past it
    record = records(db)[0]
    record.valid_until = utcnow() - timedelta(days=kept_days) - timedelta(hours=1)
    db.commit()
    result = runner.invoke(args=["retention", "purge"])
    assert "1 completion record(s) past their retention period deleted" in result.output
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
        PUBLIC_WITHDRAWN,
    ):
        assert promise in page, promise
    assert "until an administrator deletes them at your request" not in page


def test_the_join_page_says_instructors_see_the_email(client, cohort, db):
    db.rollback()
    page = client.get(f"/cohorts/join/{db.get(Cohort, cohort.id).join_code}")
    assert page.status_code == 200
    assert "your e-mail address" in page.text and "export" in page.text
