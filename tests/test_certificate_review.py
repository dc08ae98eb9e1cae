"""Revocation that sticks: the confirmation page, the certification block and its lifting,
reinstatement, the corrected name kept for later certificates, and the audit log.

Everything goes through the pages an instructor, an admin and a learner use."""

from __future__ import annotations

from sqlalchemy import select

from learnapp.models import Certificate, CertificateEvent, CertificationBlock, User
from tests import test_certificates
from tests.conftest import count_rows
from tests.test_certificates import claim, stored
from tests.test_quizzes import flashes, take_quiz

# The certificate tests' fixtures, by name: pytest finds fixtures among a module's globals.
app_config = test_certificates.app_config
catalogue = test_certificates.catalogue
people = test_certificates.people
settings = test_certificates.settings

REVOKE = {"reason": "Requirements not met", "note": "Learner shared an account"}


def revoke(client, code: str, **form: str):
    return client.post(
        f"/certificates/{code}/revoke",
        data={**REVOKE, **form, "confirmed": "yes"},
        follow_redirects=True,
    )


def actions(db, code: str) -> list[str]:
    db.rollback()
    return list(
        db.scalars(
            select(CertificateEvent.action)
            .where(CertificateEvent.code == code)
            .order_by(CertificateEvent.id)
        )
    )


def blocks_in_force(db) -> int:
    db.rollback()
    return len(
        db.scalars(select(CertificationBlock).where(CertificationBlock.lifted_at.is_(None))).all()
    )


# --- Revoking asks first -------------------------------------------------------------------


def test_revoking_first_shows_what_the_public_will_see_and_changes_nothing(people, db):
    code = people.code
    page = people.teacher.post(f"/certificates/{code}/revoke", data=REVOKE)
    assert page.status_code == 200
    assert "Revoke this certificate?" in page.text
    assert "Requirements not met" in page.text and "Ada Learner" in page.text
    # The private note is carried to the confirmation, and said to stay private.
    assert "Your private note stays private" in page.text
    assert 'class="button danger"' in page.text and "Cancel, keep it valid" in page.text
    assert stored(db, code).revoked_at is None and actions(db, code) == []

    confirmed = people.teacher.post(
        f"/certificates/{code}/revoke", data={**REVOKE, "confirmed": "yes"}
    )
    assert confirmed.status_code == 302
    certificate = stored(db, code)
    assert certificate.revoke_reason == "Requirements not met"
    assert certificate.revoke_note == "Learner shared an account"
    assert actions(db, code) == ["revoke", "block"]


def test_the_revoke_button_looks_destructive_and_the_other_forms_stay(people):
    page = people.teacher.get(f"/certificates/{people.code}").text
    assert 'value="Revoke this certificate…"' in page and 'class="button danger"' in page
    after = revoke(people.teacher, people.code).text
    assert "Correct the name" in after and "Reinstate" in after and "Lift the block" in after


def test_a_revocation_without_a_listed_reason_asks_for_one_and_changes_nothing(people, db):
    response = people.teacher.post(
        f"/certificates/{people.code}/revoke",
        data={"reason": "He cheated", "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Please choose the public reason from the list." in flashes(response.text)
    assert stored(db, people.code).revoked_at is None and actions(db, people.code) == []


# --- The block -------------------------------------------------------------------------------


def test_after_a_revocation_the_learner_cannot_be_certified_again(people, db, catalogue):
    revoke(people.teacher, people.code)
    attempt = take_quiz(people.owner, db, catalogue)
    assert attempt.passed
    result = people.owner.get(f"/quizzes/attempts/{attempt.id}").text
    assert "no new one can be issued until your" in result
    assert f"/certificates/claim/{attempt.id}" not in result
    page = people.owner.get(f"/certificates/claim/{attempt.id}")
    assert (
        page.status_code == 200 and "<form" not in page.text.split("<main")[1].split("</main>")[0]
    )
    refused = claim(people.owner, attempt.id)
    assert refused.status_code == 400
    assert "no new one can be issued until your instructor" in refused.text
    assert count_rows(db, Certificate) == 1


def test_lifting_the_block_lets_the_learner_be_certified_with_the_corrected_name(
    people, db, catalogue
):
    """The instructor corrected the name, then revoked: the certificate issued after the
    block is lifted is offered the corrected name, not the account's."""
    code = people.code
    people.teacher.post(f"/certificates/{code}/reissue", data={"name": "Ada M. Learner"})
    revoke(people.teacher, code)
    attempt = take_quiz(people.owner, db, catalogue)

    lifted = people.teacher.post(
        f"/certificates/{code}/unblock",
        data={"reason": "Requirements now met", "note": "Retook it in class"},
        follow_redirects=True,
    )
    assert "The block is lifted" in " ".join(flashes(lifted.text))
    assert blocks_in_force(db) == 0
    assert actions(db, code) == ["reissue", "revoke", "block", "unblock"]

    form = people.owner.get(f"/certificates/claim/{attempt.id}").text
    assert 'value="Ada M. Learner"' in form
    response = claim(people.owner, attempt.id, "Ada M. Learner")
    assert response.status_code == 302
    new = stored(db, response.location.removeprefix("/certificates/"))
    assert new.name == "Ada M. Learner" and new.revoked_at is None


def test_a_learner_who_changes_their_name_is_offered_their_own(people, db, catalogue):
    people.teacher.post(f"/certificates/{people.code}/reissue", data={"name": "Ada M. Learner"})
    assert people.owner.post("/account/name", data={"name": "Ada Newname"}).status_code == 302
    revoke(people.teacher, people.code)
    people.teacher.post(f"/certificates/{people.code}/unblock", data={"reason": "Blocked in error"})
    attempt = take_quiz(people.owner, db, catalogue)
    assert 'value="Ada Newname"' in people.owner.get(f"/certificates/claim/{attempt.id}").text


def test_lifting_needs_a_listed_reason_and_happens_once(people, db):
    revoke(people.teacher, people.code)
    bad = people.teacher.post(
        f"/certificates/{people.code}/unblock", data={"reason": "Because"}, follow_redirects=True
    )
    assert "Please choose the public reason from the list." in flashes(bad.text)
    assert blocks_in_force(db) == 1
    people.admin.post(f"/certificates/{people.code}/unblock", data={"reason": "Blocked in error"})
    again = people.teacher.post(
        f"/certificates/{people.code}/unblock",
        data={"reason": "Blocked in error"},
        follow_redirects=True,
    )
    assert "This block was already lifted." in flashes(again.text)
    assert actions(db, people.code).count("unblock") == 1


def test_only_those_who_manage_the_certificate_may_lift_its_block_or_reinstate_it(people, db):
    revoke(people.teacher, people.code)
    for client, status in ((people.owner, 403), (people.other_teacher, 404), (people.peer, 404)):
        for action, reason in (("unblock", "Blocked in error"), ("reinstate", "Revoked in error")):
            response = client.post(f"/certificates/{people.code}/{action}", data={"reason": reason})
            assert response.status_code == status, (action, status)
    assert blocks_in_force(db) == 1 and stored(db, people.code).revoked_at is not None


# --- Reinstating -----------------------------------------------------------------------------


def test_reinstating_makes_every_revision_valid_again_and_lifts_the_block(people, db):
    code = people.code
    people.teacher.post(f"/certificates/{code}/reissue", data={"name": "Ada M. Learner"})
    revoke(people.teacher, code)
    response = people.admin.post(
        f"/certificates/{code}/reinstate",
        data={"reason": "Revoked in error", "note": "Wrong learner"},
        follow_redirects=True,
    )
    assert "The certificate is valid again." in flashes(response.text)
    db.rollback()
    revisions = db.scalars(select(Certificate).where(Certificate.code == code)).all()
    assert len(revisions) == 2
    assert all(r.revoked_at is None and r.revoke_note is None for r in revisions)
    assert blocks_in_force(db) == 0
    assert actions(db, code) == ["reissue", "revoke", "block", "reinstate", "unblock"]
    assert "Valid" in people.owner.get(f"/certificates/{code}").text
    public = people.peer.get(f"/verify/{code}").text
    assert "<h1>Valid</h1>" in public and "after a revocation: Revoked in error" in public
    assert "Wrong learner" not in public


def test_a_certificate_cannot_be_reinstated_beside_a_newer_valid_one(people, db, catalogue):
    code = people.code
    revoke(people.teacher, code)
    people.teacher.post(f"/certificates/{code}/unblock", data={"reason": "Requirements now met"})
    attempt = take_quiz(people.owner, db, catalogue)
    newer = claim(people.owner, attempt.id).location.removeprefix("/certificates/")
    response = people.teacher.post(
        f"/certificates/{code}/reinstate",
        data={"reason": "Revoked in error"},
        follow_redirects=True,
    )
    assert f"another valid certificate for this lesson ({newer})" in " ".join(
        flashes(response.text)
    )
    assert stored(db, code).revoked_at is not None
    assert "reinstate" not in actions(db, code)


def test_a_valid_certificate_cannot_be_reinstated(people, db):
    response = people.teacher.post(
        f"/certificates/{people.code}/reinstate",
        data={"reason": "Revoked in error"},
        follow_redirects=True,
    )
    assert "This certificate is not revoked." in flashes(response.text)
    assert actions(db, people.code) == []


# --- The log -----------------------------------------------------------------------------


def test_the_log_shows_managers_who_did_what_and_why(people):
    code = people.code
    revoke(people.teacher, code)
    people.admin.post(
        f"/certificates/{code}/reinstate", data={"reason": "Revoked in error", "note": "Mix-up"}
    )
    page = people.admin.get(f"/certificates/{code}").text
    history = page.split('id="log-heading"')[1]
    for text in (
        "Revoked",
        "Certification blocked",
        "Reinstated",
        "Block lifted",
        "Tess Teacher",
        "Ann Admin",
        "Requirements not met",
        "Learner shared an account",
        "Mix-up",
    ):
        assert text in history, text
    holder = people.owner.get(f"/certificates/{code}").text
    assert 'id="log-heading"' not in holder and "Learner shared an account" not in holder
    public = people.peer.get(f"/verify/{code}").text
    assert "Learner shared an account" not in public and "Mix-up" not in public


def test_the_log_keeps_the_actor_once_their_account_is_gone(people, db):
    revoke(people.teacher, people.code)
    db.rollback()
    db.delete(db.get(User, people.users["teacher"].id))
    db.commit()
    page = people.admin.get(f"/certificates/{people.code}").text
    assert "Tess Teacher" in page.split('id="log-heading"')[1]
