"""Co-instructors: a cohort's instructors (cohort_instructors) each have the same powers over
it, from its dashboard to the certificates earned in it, and lose them all when removed; and
an instructor's profile (the name to print, their number and its issuing body).

Arranged through the pages: the certificate tests' people (Tess's cohort, which the learner
joined and earned a certificate in), and Cora, an instructor Tess adds by e-mail."""

from __future__ import annotations

import html
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from learnapp.accounts import NUMBER_CHARACTERS, NUMBER_NEEDS_BODY
from learnapp.cohorts import ARCHIVED, LAST_INSTRUCTOR
from learnapp.models import Certificate, Cohort, CohortInstructor, Enrolment, User
from learnapp.names import NO_LETTER
from tests import test_certificates
from tests.conftest import form_errors
from tests.test_certificates import stored
from tests.test_instructor import (
    COHORT_ROUTES,
    call,
    csv_rows,
    learner_names,
    logged_in,
    table_counts,
)
from tests.test_quizzes import flashes

# The certificate tests' fixtures, by name: pytest finds fixtures among a module's globals.
app_config = test_certificates.app_config
catalogue = test_certificates.catalogue
people = test_certificates.people
settings = test_certificates.settings


def instructors_of(db, cohort_id: int) -> list[int]:
    db.rollback()  # see what requests committed
    return list(
        db.scalars(
            select(CohortInstructor.user_id)
            .where(CohortInstructor.cohort_id == cohort_id)
            .order_by(CohortInstructor.id)
        )
    )


def add(client, cohort_id: int, email: str):
    return client.post(f"/instructor/cohorts/{cohort_id}/instructors", data={"email": email})


def remove(client, cohort_id: int, user_id: int):
    return client.post(f"/instructor/cohorts/{cohort_id}/instructors/{user_id}/remove")


@pytest.fixture
def taught(app, people, create_user, db) -> SimpleNamespace:
    cora = create_user(email="cora@example.com", name="Cora Cotaught", role="instructor")
    db.rollback()
    cohort = db.scalar(select(Cohort.id).where(Cohort.name == "teacher"))
    learner = db.scalar(select(User.id).where(User.email == "learner@example.com"))
    tess = people.users["teacher"].id
    assert instructors_of(db, cohort) == [tess]  # its creator, by creating it
    response = add(people.teacher, cohort, "Cora@Example.com")  # as typed: normalised
    assert response.status_code == 302
    assert response.location == f"/instructor/cohorts/{cohort}#instructors"
    page = people.teacher.get(response.location).text
    assert (
        "Cora Cotaught is now an instructor of teacher, with the same powers over it as you."
        in flashes(page)
    )
    assert instructors_of(db, cohort) == [tess, cora.id]
    return SimpleNamespace(
        cora=logged_in(app, "cora@example.com"),
        cora_id=cora.id,
        tess=people.teacher,
        tess_id=tess,
        cohort=cohort,
        url=f"/instructor/cohorts/{cohort}",
        learner=learner,
        code=people.code,
    )


# --- The same powers -----------------------------------------------------------------------


def test_a_co_instructor_sees_what_the_creator_sees(taught):
    cora, url = taught.cora, taught.url
    assert "teacher" in cora.get("/instructor/").text
    dashboard = cora.get(url)
    assert dashboard.status_code == 200
    assert learner_names(dashboard.text) == ["Ada Learner"]
    assert "Tess Teacher (teach@example.com)" in dashboard.text
    assert "Cora Cotaught (cora@example.com), you" in dashboard.text
    assert csv_rows(cora.get(f"{url}/export.csv"))[1][2] == "Ada Learner"
    for page in (f"/learners/{taught.learner}", "/items", "/records", "/project"):
        assert cora.get(url + page).status_code == 200, page
    assert cora.get(f"/instructor/items/{test_certificates.LESSON}").status_code == 200
    assert cora.get(f"/certificates/{taught.code}").status_code == 200


def test_a_co_instructor_corrects_and_revokes_a_certificate_earned_in_the_cohort(taught, db):
    code = taught.code
    response = taught.cora.post(f"/certificates/{code}/reissue", data={"name": "Ada M. Learner"})
    assert response.status_code == 302
    assert stored(db, code).name == "Ada M. Learner"
    response = taught.cora.post(
        f"/certificates/{code}/revoke",
        data={"reason": "Requirements not met", "confirmed": "yes"},
    )
    assert response.status_code == 302
    assert stored(db, code).revoked_at is not None


def test_a_co_instructor_runs_the_class(taught, db):
    cora, url = taught.cora, taught.url
    db.rollback()
    before = db.get(Cohort, taught.cohort).join_code
    assert cora.post(f"{url}/codes").status_code == 302
    db.rollback()
    assert db.get(Cohort, taught.cohort).join_code != before
    response = cora.post(f"{url}/learners/{taught.learner}/remove", data={"confirmed": "yes"})
    assert response.status_code == 302
    db.rollback()
    assert db.scalar(select(Enrolment.id).where(Enrolment.cohort_id == taught.cohort)) is None
    assert cora.post(f"{url}/archive").status_code == 302
    db.rollback()
    assert db.get(Cohort, taught.cohort).archived_at is not None


def test_removing_a_co_instructor_takes_it_all_away(taught, db):
    response = remove(taught.tess, taught.cohort, taught.cora_id)
    assert response.location == f"{taught.url}#instructors"
    assert "Cora Cotaught is no longer an instructor of teacher." in flashes(
        taught.tess.get(response.location).text
    )
    assert instructors_of(db, taught.cohort) == [taught.tess_id]
    cora, ids = taught.cora, {"cohort": taught.cohort, "member": taught.learner}
    for method, url in COHORT_ROUTES:
        assert call(cora, method, url, **ids).status_code == 404, url
    url = taught.url
    for page in ("/records", "/project"):
        assert cora.get(url + page).status_code == 404, page
    for post in ("/codes", "/archive", "/restore", f"/learners/{taught.learner}/remove"):
        assert cora.post(url + post).status_code == 404, post
    assert add(cora, taught.cohort, "cora@example.com").status_code == 404
    assert remove(cora, taught.cohort, taught.tess_id).status_code == 404
    assert cora.get(f"/certificates/{taught.code}").status_code == 404
    reissue = cora.post(f"/certificates/{taught.code}/reissue", data={"name": "Someone Else"})
    assert reissue.status_code == 404
    assert "teacher" not in cora.get("/instructor/").text
    assert stored(db, taught.code).name == "Ada Learner"


def test_the_creator_removed_loses_it_too(taught, db):
    """Who created a cohort (cohorts.instructor_id) is a record, not a power."""
    response = remove(taught.cora, taught.cohort, taught.tess_id)
    assert response.status_code == 302
    assert taught.tess.get(taught.url).status_code == 404
    db.rollback()
    assert db.get(Cohort, taught.cohort).instructor_id == taught.tess_id
    # Removing oneself: back to one's list, which no longer has the cohort.
    assert add(taught.cora, taught.cohort, "teach@example.com").status_code == 302
    response = remove(taught.cora, taught.cohort, taught.cora_id)
    assert response.location == "/instructor/"
    page = taught.cora.get("/instructor/").text
    assert "You are no longer an instructor of teacher." in flashes(page)
    assert taught.cora.get(taught.url).status_code == 404
    assert taught.tess.get(taught.url).status_code == 200


# --- Adding and removing: what is refused --------------------------------------------------


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Give the e-mail address of the instructor's account."),
        ("not an address", "Give an e-mail address such as name@example.org."),
        (
            "nobody@example.com",
            "No account has the e-mail nobody@example.com. Ask them to register, or an admin"
            " to create their account, then add them.",
        ),
        (
            "peer@example.com",
            "Pat Peer (peer@example.com) is not an instructor: an admin can give the account"
            " the instructor role first.",
        ),
        ("CORA@example.com", "Cora Cotaught is already an instructor of teacher."),
        ("teach@example.com", "Tess Teacher is already an instructor of teacher."),
    ],
)
def test_adding_refuses_with_a_message_and_changes_nothing(taught, db, email, message):
    before = table_counts(db)
    response = add(taught.tess, taught.cohort, email)
    assert response.status_code == 400
    assert [html.unescape(error) for error in form_errors(response.text)] == [message]
    assert learner_names(response.text) == ["Ada Learner"]  # the dashboard, with the form
    assert table_counts(db) == before
    assert instructors_of(db, taught.cohort) == [taught.tess_id, taught.cora_id]


def test_the_last_instructor_cannot_be_removed(taught, db):
    assert remove(taught.tess, taught.cohort, taught.cora_id).status_code == 302
    page = taught.tess.get(taught.url).text
    assert "as an instructor</button>" not in page  # no Remove button for the last one
    response = remove(taught.tess, taught.cohort, taught.tess_id)
    assert response.location == f"{taught.url}#instructors"
    assert LAST_INSTRUCTOR in flashes(taught.tess.get(response.location).text)
    assert instructors_of(db, taught.cohort) == [taught.tess_id]


def test_only_an_instructor_of_the_cohort_is_removed(taught, people, db):
    # The learner is no instructor of it; Otto runs another cohort; 999999 is no one.
    for user_id in (taught.learner, 999_999):
        assert remove(taught.tess, taught.cohort, user_id).status_code == 404
    assert remove(people.other_teacher, taught.cohort, taught.cora_id).status_code == 404
    assert add(people.other_teacher, taught.cohort, "peer@example.com").status_code == 404
    assert remove(people.peer, taught.cohort, taught.cora_id).status_code == 403
    # An admin has every instructor's powers.
    assert remove(people.admin, taught.cohort, taught.cora_id).status_code == 302
    assert instructors_of(db, taught.cohort) == [taught.tess_id]


def test_an_archived_cohort_keeps_its_instructors(taught, db):
    assert taught.tess.post(f"{taught.url}/archive").status_code == 302
    page = taught.tess.get(taught.url).text
    assert (
        'action="/instructor/cohorts/'
        not in page.split('id="instructors"')[1].split("</section>")[0]
    )
    for change in (
        lambda: add(taught.tess, taught.cohort, "other@example.com"),
        lambda: remove(taught.tess, taught.cohort, taught.cora_id),
    ):
        assert change().location == taught.url
        assert ARCHIVED in flashes(taught.tess.get(taught.url).text)
    assert instructors_of(db, taught.cohort) == [taught.tess_id, taught.cora_id]


# --- What learners see, and accounts that go ------------------------------------------------


def test_learners_see_every_instructors_name(taught, people):
    learner = people.owner
    assert "<td>Tess Teacher, Cora Cotaught</td>" in learner.get("/cohorts/").text
    leave = learner.post(f"/cohorts/{taught.cohort}/leave")
    assert "run by Tess Teacher, Cora Cotaught)" in leave.text
    (cohort,) = json.loads(learner.get("/account/data.json").text)["cohorts"]
    assert cohort["instructors"] == ["Tess Teacher", "Cora Cotaught"]


def test_a_cohort_outlives_its_creators_account_but_not_its_last_instructors(taught, people, db):
    admin = people.admin
    response = admin.post(f"/admin/users/{taught.tess_id}/delete", data={"confirmed": "yes"})
    assert response.status_code == 302
    db.rollback()
    assert db.get(User, taught.tess_id) is None
    assert db.get(Cohort, taught.cohort).instructor_id is None  # SET NULL: no cascade
    assert instructors_of(db, taught.cohort) == [taught.cora_id]
    assert taught.cora.get(taught.url).status_code == 200

    admin.post(f"/admin/users/{taught.cora_id}/delete", data={"confirmed": "yes"})
    (message,) = [m for m in flashes(admin.get("/admin/users").text) if "Cora" in m]
    assert message.startswith(
        "Cora Cotaught runs 1 cohort (archived ones included) with no other instructor."
    )
    db.rollback()
    assert db.get(User, taught.cora_id) is not None


# --- The instructor's profile --------------------------------------------------------------

PROFILE = "/account/instructor"


def profile_of(db, user_id: int) -> tuple[str | None, str | None, str | None]:
    db.rollback()
    user = db.get(User, user_id)
    return user.instructor_name, user.instructor_number, user.instructor_issuing_body


def test_the_instructor_profile_is_saved(taught, db):
    tess = taught.tess
    assert "As an instructor" in tess.get("/account/").text
    response = tess.post(
        PROFILE,
        data={
            "instructor_name": "  Tess   A. Teacher ",
            "instructor_number": " WSI-2024/0042 ",
            "issuing_body": "Canadian Red Cross",
        },
    )
    assert response.status_code == 302 and response.location == "/account/"
    page = tess.get("/account/").text
    assert "Your instructor profile is saved." in flashes(page)
    assert 'value="Tess A. Teacher"' in page and 'value="WSI-2024/0042"' in page
    assert profile_of(db, taught.tess_id) == (
        "Tess A. Teacher",
        "WSI-2024/0042",
        "Canadian Red Cross",
    )
    assert db.get(User, taught.tess_id).printed_instructor_name == "Tess A. Teacher"
    data = json.loads(tess.get("/account/data.json").text)["account"]
    assert data["instructor_number"] == "WSI-2024/0042"

    # Emptied: no profile, and the account's name is the one to print.
    assert tess.post(PROFILE, data={}).status_code == 302
    assert profile_of(db, taught.tess_id) == (None, None, None)
    assert db.get(User, taught.tess_id).printed_instructor_name == "Tess Teacher"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"instructor_number": "WSI-1"}, NUMBER_NEEDS_BODY),
        ({"issuing_body": "Canadian Red Cross"}, NUMBER_NEEDS_BODY),
        ({"instructor_number": "12<b>3", "issuing_body": "Red Cross"}, NUMBER_CHARACTERS),
        ({"instructor_number": "12\u202e34", "issuing_body": "Red Cross"}, NUMBER_CHARACTERS),
        (
            {"instructor_number": "1" * 41, "issuing_body": "Red Cross"},
            "Field cannot be longer than 40 characters.",
        ),
        ({"instructor_name": "\u200b\u200b"}, NO_LETTER),
        ({"instructor_name": "x" * 121}, "Field cannot be longer than 120 characters."),
        ({"instructor_number": "1", "issuing_body": "1234"}, NO_LETTER),
    ],
)
def test_the_instructor_profile_is_validated_and_nothing_changes(taught, db, form, message):
    saved = {"instructor_number": "RC-1", "issuing_body": "Red Cross"}
    assert taught.tess.post(PROFILE, data=saved).status_code == 302
    response = taught.tess.post(PROFILE, data=form)
    assert response.status_code == 400
    assert message in form_errors(response.text)
    assert profile_of(db, taught.tess_id) == (None, "RC-1", "Red Cross")


def test_learners_have_no_instructor_profile(people, db):
    assert "As an instructor" not in people.peer.get("/account/").text
    response = people.peer.post(PROFILE, data={"instructor_number": "1", "issuing_body": "Me"})
    assert response.status_code == 403
    db.rollback()
    peer = db.scalar(select(User).where(User.email == "peer@example.com"))
    assert peer.instructor_number is None


def test_creating_a_cohort_makes_its_creator_its_instructor(people, db):
    db.rollback()
    rows = db.execute(
        select(Cohort.name, CohortInstructor.user_id, CohortInstructor.added_by_id).join(
            CohortInstructor, CohortInstructor.cohort_id == Cohort.id
        )
    ).all()
    other = db.scalar(select(User.id).where(User.email == "other@example.com"))
    tess = people.users["teacher"].id
    assert sorted(rows) == [("other_teacher", other, other), ("teacher", tess, tess)]
    assert db.scalar(select(Certificate.code)) == people.code
