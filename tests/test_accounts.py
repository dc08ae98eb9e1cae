"""A learner's own account: settings, password reset by e-mail, remember-me, data download,
deletion; and the admin's user list."""

from __future__ import annotations

import email
import json
import re
from datetime import date
from email import policy
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from itsdangerous import TimestampSigner
from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from learnapp import accounts
from learnapp.models import (
    Answer,
    Certificate,
    Cohort,
    DisclaimerAcknowledgement,
    Enrolment,
    QuizAttempt,
    SectionRead,
    User,
)
from tests.conftest import PASSWORD, AuthActions, deliver_outbox, form_errors
from tests.test_quizzes import (
    FINAL,
    LESSON,
    all_wrong,
    read_all_sections,
    take_quiz,
)

NEW_PASSWORD = "a brand new passphrase"
RESET_SENT = "If an account uses that e-mail, a reset link is on its way."
LINK_USED = "This reset link has expired or was already used. Ask for a new one."


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_config, "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail")}


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mail"


def messages(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def reset_link(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()
    links = re.findall(r"https?://\S+/auth/reset/\S+", body)
    assert len(links) == 1, body
    return links[0]


def flashes(html: str) -> list[str]:
    return [str(escape(m)) for m in re.findall(r'<p class="flash[^"]*">([^<]*)</p>', html)]


def shown(text: str, html: str) -> bool:
    return text in html or str(escape(text)) in html


def user(db: Session, user_id: int) -> User | None:
    db.rollback()  # see what requests committed since
    return db.get(User, user_id)


def logged_in(client) -> bool:
    response = client.get("/account/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/auth/login" in response.location
    return False


def other_device(app, email_address: str, password: str = PASSWORD, **extra: Any):
    device = app.test_client()
    response = device.post(
        "/auth/login", data={"email": email_address, "password": password, **extra}
    )
    assert response.status_code == 302, response.text
    return device


def make_stale(client) -> None:
    """What a session restored from a remember-me cookie looks like: logged in, not fresh."""
    with client.session_transaction() as session:
        session["_fresh"] = False


# --- Settings -----------------------------------------------------------------------------


def test_settings_need_login(client):
    for response in (
        client.get("/account/"),
        client.get("/account/data.json"),
        client.post("/account/name", data={"name": "X"}),
        client.post("/account/delete", data={"current": PASSWORD}),
    ):
        assert response.status_code == 302
        assert "/auth/login" in response.location


def test_name_change(client, learner, db):
    response = client.post("/account/name", data={"name": "  Grace   Brewster Hopper "})
    assert response.status_code == 302
    assert response.location == "/account/"
    assert user(db, learner.id).name == "Grace Brewster Hopper"
    assert "Your name is saved." in client.get("/account/").text

    assert client.post("/account/name", data={"name": "   "}).status_code == 400
    assert client.post("/account/name", data={"name": "x" * 121}).status_code == 400
    assert user(db, learner.id).name == "Grace Brewster Hopper"


def test_email_change_needs_the_current_password(app, client, learner, db):
    """A change is asked for here and takes effect once confirmed (test_confirmed_addresses)."""
    response = client.post(
        "/account/email", data={"email": "new@example.com", "current": "not my password"}
    )
    assert response.status_code == 400
    assert "That is not your current password." in form_errors(response.text)
    assert user(db, learner.id).pending_email is None
    assert deliver_outbox(app) == 0

    response = client.post("/account/email", data={"email": "New@Example.com", "current": PASSWORD})
    assert response.status_code == 302
    found = user(db, learner.id)
    assert (found.email, found.pending_email) == ("learner@example.com", "new@example.com")
    assert "We sent a link to new@example.com" in client.get("/account/").text
    assert logged_in(client)
    assert AuthActions(app.test_client()).login("learner@example.com").status_code == 302
    assert AuthActions(app.test_client()).login("new@example.com").status_code == 401


def test_email_change_refuses_an_address_in_use(client, learner, create_user, db):
    create_user(email="taken@example.com")
    response = client.post(
        "/account/email", data={"email": "TAKEN@example.com", "current": PASSWORD}
    )
    assert response.status_code == 400
    assert "Another account uses this e-mail." in form_errors(response.text)
    found = user(db, learner.id)
    assert (found.email, found.pending_email) == ("learner@example.com", None)


def email_changed(found: User | None) -> bool:
    return found is not None and found.pending_email == "new@example.com"  # asked for


def password_changed(found: User | None) -> bool:
    return found is not None and found.session_version == 2


def deleted(found: User | None) -> bool:
    return found is None


@pytest.mark.parametrize(
    ("path", "data", "done"),
    [
        ("/account/email", {"email": "new@example.com", "current": PASSWORD}, email_changed),
        (
            "/account/password",
            {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            password_changed,
        ),
        ("/account/delete", {"current": PASSWORD}, deleted),
    ],
    ids=["email", "password", "delete"],
)
def test_changing_how_one_logs_in_needs_a_fresh_login(client, learner, db, path, data, done):
    make_stale(client)
    assert logged_in(client)
    response = client.post(path, data=data)
    assert response.status_code == 302
    assert response.location == "/auth/login?next=/account/"
    changed = user(db, learner.id)
    assert (changed.email, changed.session_version) == ("learner@example.com", 1)

    # The login page asks for the password again rather than bouncing the stale session.
    page = client.get(response.location)
    assert page.status_code == 200
    assert flashes(page.text) == ["Please log in again to confirm it is you."]
    response = client.post(response.location, data={"email": learner.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/account/"
    with client.session_transaction() as session:
        assert session["_fresh"] is True

    assert not done(user(db, learner.id))
    assert client.post(path, data=data).status_code == 302
    assert done(user(db, learner.id))


def test_password_change(app, client, learner, db):
    elsewhere = other_device(app, learner.email)
    assert logged_in(elsewhere)

    response = client.post(
        "/account/password",
        data={"current": "wrong password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "That is not your current password." in form_errors(response.text)
    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "something else"},
    )
    assert response.status_code == 400
    assert "The two passwords differ." in form_errors(response.text)
    assert logged_in(elsewhere)

    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert "Other devices have been logged out." in client.get("/account/").text
    assert logged_in(client)
    assert not logged_in(elsewhere)
    assert AuthActions(app.test_client()).login(learner.email).status_code == 401
    assert AuthActions(app.test_client()).login(learner.email, NEW_PASSWORD).status_code == 302


def stored_hash(db: Session, user_id: int) -> str:
    db.rollback()  # see what requests committed since
    return db.scalar(select(User.password_hash).where(User.id == user_id))


@pytest.mark.parametrize(
    "older",
    [
        # werkzeug's scrypt, the format of every hash made before Argon2id
        pytest.param(lambda: generate_password_hash(PASSWORD, "scrypt:1024:8:1"), id="scrypt"),
        pytest.param(
            lambda: PasswordHasher(time_cost=1, memory_cost=16, parallelism=1).hash(PASSWORD),
            id="argon2id-at-another-cost",
        ),
    ],
)
def test_an_older_hash_still_logs_in_and_is_replaced_at_the_next_login(app, create_user, db, older):
    user = create_user(email="ada@example.com")
    db.execute(update(User).where(User.id == user.id).values(password_hash=older()))
    db.commit()
    before = stored_hash(db, user.id)
    auth = AuthActions(app.test_client())
    assert auth.login("ada@example.com", "not the password").status_code == 401
    assert stored_hash(db, user.id) == before  # a wrong password changes nothing
    assert auth.login("ada@example.com").status_code == 302
    upgraded = stored_hash(db, user.id)
    config = app.config
    assert upgraded.startswith(
        f"$argon2id$v=19$m={config['PASSWORD_ARGON2_MEMORY_KIB']},"
        f"t={config['PASSWORD_ARGON2_TIME_COST']},p={config['PASSWORD_ARGON2_PARALLELISM']}$"
    )
    assert AuthActions(app.test_client()).login("ada@example.com").status_code == 302
    assert stored_hash(db, user.id) == upgraded  # current now: not hashed again
    assert AuthActions(app.test_client()).login("ada@example.com", "nope").status_code == 401


# --- Password reset -----------------------------------------------------------------------


def request_reset(client, address: str) -> Any:
    response = client.post("/auth/reset", data={"email": address})
    assert response.status_code == 302
    assert response.location == "/auth/login"
    deliver_outbox(client.application)  # as the worker would, after the request
    return response


def test_reset_mails_a_link_to_a_known_address_only(client, create_user, mailbox):
    create_user(email="ada@example.com", name="Ada")
    request_reset(client, " ADA@example.com")
    assert flashes(client.get("/auth/login").text) == [str(escape(RESET_SENT))]
    (message,) = messages(mailbox)
    assert message["To"] == "ada@example.com"
    assert "Reset your learnapp password" in message["Subject"]
    assert "/auth/reset/" in reset_link(message)

    request_reset(client, "nobody@example.com")
    assert flashes(client.get("/auth/login").text) == [str(escape(RESET_SENT))]
    assert len(messages(mailbox)) == 1


def test_reset_link_sets_a_new_password_once(app, client, create_user, mailbox, db):
    ada = create_user(email="ada@example.com", name="Ada")
    elsewhere = other_device(app, "ada@example.com")
    request_reset(client, "ada@example.com")
    path = reset_link(messages(mailbox)[0]).split("://", 1)[1].partition("/")[2]
    path = "/" + path

    page = client.get(path)
    assert page.status_code == 200
    assert 'name="password"' in page.text
    short = client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert logged_in(elsewhere)

    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.location == "/auth/login"
    assert "Your password is changed. Please log in with it." in client.get("/auth/login").text

    assert not logged_in(elsewhere)
    assert AuthActions(app.test_client()).login("ada@example.com").status_code == 401
    assert AuthActions(app.test_client()).login("ada@example.com", NEW_PASSWORD).status_code == 302

    # A second use, by GET or by POST, is refused and changes nothing.
    again = client.get(path)
    assert again.status_code == 302
    assert again.location == "/auth/reset"
    assert flashes(client.get("/auth/reset").text) == [str(escape(LINK_USED))]
    hash_before = user(db, ada.id).password_hash
    response = client.post(path, data={"password": "third password!", "confirm": "third password!"})
    assert response.status_code == 302
    assert response.location == "/auth/reset"
    assert user(db, ada.id).password_hash == hash_before


def test_an_expired_reset_link_is_refused(app, client, create_user, mailbox, monkeypatch, db):
    ada = create_user(email="ada@example.com")
    max_age = app.config["PASSWORD_RESET_MAX_AGE"]
    real = TimestampSigner.get_timestamp
    # The link was issued a second longer ago than it lives.
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - max_age - 1)
    request_reset(client, "ada@example.com")
    monkeypatch.undo()
    client.get("/auth/login")  # shows (and so clears) the "on its way" message
    path = "/auth/reset/" + reset_link(messages(mailbox)[0]).rsplit("/", 1)[1]
    hash_before = user(db, ada.id).password_hash

    new = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    for send in (lambda: client.get(path), lambda: client.post(path, data=new)):
        response = send()
        assert response.status_code == 302
        assert response.location == "/auth/reset"
        assert flashes(client.get("/auth/reset").text) == [str(escape(LINK_USED))]
    assert user(db, ada.id).password_hash == hash_before


def test_forged_reset_links_are_refused(app, client, create_user, db):
    ada = create_user(email="ada@example.com")
    with app.app_context():
        genuine = accounts.reset_token(user(db, ada.id), app.secret_key)
        other_key = accounts.reset_token(user(db, ada.id), "not-the-site-secret")
    payload, _, signature = genuine.rpartition(".")
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    for token in ("nonsense", other_key, tampered, genuine.replace(".", "", 1)):
        response = client.get(f"/auth/reset/{token}")
        assert response.status_code == 302, token
        assert response.location == "/auth/reset"
    hash_before = user(db, ada.id).password_hash
    client.post(
        f"/auth/reset/{other_key}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert user(db, ada.id).password_hash == hash_before
    assert client.get(f"/auth/reset/{genuine}").status_code == 200


def test_no_reset_mail_for_a_disabled_account(client, create_user, mailbox, db):
    ada = create_user(email="ada@example.com")
    found = user(db, ada.id)
    found.is_enabled = False
    db.commit()
    request_reset(client, "ada@example.com")
    assert messages(mailbox) == []


def test_reset_requests_are_throttled_per_address(app, client, create_user, mailbox):
    create_user(email="ada@example.com")
    allowed = int(app.config["PASSWORD_RESETS_PER_ADDRESS"].split()[0])
    for _ in range(allowed):
        request_reset(client, "ada@example.com")
    assert len(messages(mailbox)) == allowed
    # From the same address, another e-mail and another browser are throttled too.
    for device, address in ((client, "ada@example.com"), (app.test_client(), "x@example.com")):
        response = device.post("/auth/reset", data={"email": address})
        assert response.status_code == 429
        assert "Too many reset requests from here." in response.text
    assert deliver_outbox(app) == 0
    assert len(messages(mailbox)) == allowed
    # Another address is not affected.
    response = app.test_client().post(
        "/auth/reset", data={"email": "ada@example.com"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert response.status_code == 302
    assert deliver_outbox(app) == 1
    assert len(messages(mailbox)) == allowed + 1


# --- Remember me --------------------------------------------------------------------------


def remember_cookie(client) -> Any:
    return client.get_cookie("remember_token")


def test_remember_me_logs_in_again_without_a_session_cookie(app, client, create_user):
    create_user(email="ada@example.com")
    plain = other_device(app, "ada@example.com")
    assert remember_cookie(plain) is None

    response = client.post(
        "/auth/login", data={"email": "ada@example.com", "password": PASSWORD, "remember": "y"}
    )
    assert response.status_code == 302
    cookie = remember_cookie(client)
    assert cookie is not None
    assert cookie.http_only

    client.delete_cookie("session")
    assert client.get_cookie("session") is None
    assert logged_in(client)
    with client.session_transaction() as session:
        assert session.get("_fresh") is False
        assert session.get("_user_id", "").startswith(f"{cookie.value.split('|')[0]}")

    # Without the remember cookie too, the browser is a stranger.
    client.delete_cookie("session")
    client.delete_cookie("remember_token")
    assert not logged_in(client)


def test_logout_ends_the_remember_cookie(app, client, create_user):
    create_user(email="ada@example.com")
    client.post(
        "/auth/login", data={"email": "ada@example.com", "password": PASSWORD, "remember": "y"}
    )
    stolen = remember_cookie(client).value
    assert client.post("/auth/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert not logged_in(thief)


# --- Data download ------------------------------------------------------------------------


@pytest.fixture
def history(app, client, learner, db, create_user):
    """The learner read every section, failed, passed and took a certificate; another
    learner has progress of their own."""
    catalogue = app.extensions["learnapp.content"]
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    failed = take_quiz(client, db, catalogue, all_wrong)
    passed = take_quiz(client, db, catalogue)
    response = client.post(f"/certificates/claim/{passed.id}", data={"name": learner.name})
    assert response.status_code == 302, response.text
    code = response.location.rsplit("/", 1)[1]

    create_user(email="other@example.com", name="Other Person")
    other = other_device(app, "other@example.com")
    read_all_sections(other)
    assert other.post(f"{FINAL}/acknowledge").status_code == 302
    take_quiz(other, db, catalogue, all_wrong)
    return {"failed": failed, "passed": passed, "code": code}


def test_data_download_has_everything_of_the_learners_and_nothing_else(
    client, learner, history, db
):
    response = client.get("/account/data.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    data = json.loads(text)

    assert data["account"]["email"] == learner.email
    assert "password_hash" not in data["account"]
    assert "$" not in json.dumps(data["account"])  # no hash under any other name
    assert "other@example.com" not in text
    assert "Other Person" not in text

    # Every row of the learner's, and only theirs: the other learner's read, attempt and
    # answers are not counted in.
    db.rollback()

    def count(model, *where):
        return db.scalar(select(func.count()).select_from(model).where(*where))

    attempts = select(QuizAttempt.id).where(QuizAttempt.user_id == learner.id)
    assert len(data["sections_read"]) == count(SectionRead, SectionRead.user_id == learner.id) == 7
    assert len(data["quiz_attempts"]) == count(QuizAttempt, QuizAttempt.user_id == learner.id) == 2
    answered = sum(len(a["questions"]) for a in data["quiz_attempts"])
    assert answered == count(Answer, Answer.attempt_id.in_(attempts)) == 24
    assert len(data["educational_use_notice_accepted"]) == count(
        DisclaimerAcknowledgement, DisclaimerAcknowledgement.user_id == learner.id
    )
    assert {a["passed"] for a in data["quiz_attempts"]} == {True, False}

    (certificate,) = data["certificates"]
    assert certificate["code"] == history["code"]
    assert "pdf" not in certificate
    stored = db.scalar(select(Certificate).where(Certificate.code == history["code"]))
    assert certificate["pdf_sha256"] == stored.sha256
    assert len(text) < 100_000  # no PDF bytes in any form


# --- Deleting an account ------------------------------------------------------------------


def rows_of(db: Session, user_id: int) -> dict[str, int]:
    db.rollback()

    def count(model: Any, *where: Any) -> int:
        return db.scalar(select(func.count()).select_from(model).where(*where))

    attempts = select(QuizAttempt.id).where(QuizAttempt.user_id == user_id)
    return {
        "users": count(User, User.id == user_id),
        "section_reads": count(SectionRead, SectionRead.user_id == user_id),
        "acknowledgements": count(
            DisclaimerAcknowledgement, DisclaimerAcknowledgement.user_id == user_id
        ),
        "attempts": count(QuizAttempt, QuizAttempt.user_id == user_id),
        "answers": count(Answer, Answer.attempt_id.in_(attempts)),
        "enrolments": count(Enrolment, Enrolment.user_id == user_id),
    }


def test_delete_account(app, client, learner, history, create_user, db):
    teacher = create_user(email="teacher@example.com", name="Teacher", role="instructor")
    cohort = Cohort(
        name="Tuesday class",
        session_date=date(2030, 3, 5),
        lesson=LESSON,
        join_code="JOINCODE1",
        instructor_id=teacher.id,
    )
    db.rollback()  # a fresh transaction, to write in
    db.add(cohort)
    db.flush()
    db.add(Enrolment(cohort_id=cohort.id, user_id=learner.id))
    db.commit()
    before = rows_of(db, learner.id)
    assert before == {
        "users": 1,
        "section_reads": 7,
        "acknowledgements": 1,
        "attempts": 2,
        "answers": 24,
        "enrolments": 1,
    }
    other_id = db.scalar(select(User.id).where(User.email == "other@example.com"))
    others = rows_of(db, other_id)
    assert others["attempts"] == 1

    response = client.post("/account/delete", data={"current": "wrong password"})
    assert response.status_code == 400
    assert "That is not your current password." in form_errors(response.text)
    assert rows_of(db, learner.id) == before

    response = client.post("/account/delete", data={"current": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/"
    assert "Your account and progress are deleted." in client.get("/").text
    assert set(rows_of(db, learner.id).values()) == {0}
    assert rows_of(db, other_id) == others
    assert not logged_in(client)
    assert AuthActions(app.test_client()).login(learner.email).status_code == 401

    certificate = db.scalar(select(Certificate).where(Certificate.code == history["code"]))
    assert (certificate.user_id, certificate.attempt_id) == (None, None)
    assert certificate.name == "Ada Learner"
    page = app.test_client().get(f"/verify/{history['code']}")
    assert page.status_code == 200
    assert "This certificate is genuine and valid." in page.text
    assert "Ada Learner" in page.text
    assert db.get(Cohort, cohort.id) is not None


@pytest.mark.parametrize("role", ["instructor", "admin"])
def test_instructors_and_admins_cannot_delete_themselves(app, client, create_user, db, role):
    staff = create_user(email="staff@example.com", role=role)
    AuthActions(client).login("staff@example.com")
    response = client.post("/account/delete", data={"current": PASSWORD})
    assert response.status_code == 400
    assert any("closed by an admin" in error for error in form_errors(response.text))
    assert user(db, staff.id) is not None
    assert logged_in(client)


# --- Admin: users -------------------------------------------------------------------------


@pytest.fixture
def admin(app, client, create_user):
    found = create_user(email="admin@example.com", name="Ada Admin", role="admin")
    assert AuthActions(client).login("admin@example.com").status_code == 302
    return found


def admin_post(client, user_id: int, role: str, enabled: bool) -> Any:
    data = {f"u{user_id}-role": role, f"u{user_id}-csrf_token": client.csrf_token()}
    if enabled:
        data[f"u{user_id}-enabled"] = "y"
    return client.post(f"/admin/users/{user_id}", data=data)


def test_admin_users_page_is_for_admins_only(app, client, create_user):
    assert "/auth/login" in client.get("/admin/users").location
    create_user(email="learner@example.com")
    AuthActions(client).login("learner@example.com")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users/1", data={"u1-role": "admin"}).status_code == 403


def test_admin_changes_a_role_and_disables_an_account(app, client, admin, create_user, db):
    bob = create_user(email="bob@example.com", name="Bob Learner")
    bobs_browser = other_device(app, "bob@example.com")
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "bob@example.com" in page.text and "admin@example.com" in page.text

    response = admin_post(client, bob.id, "instructor", enabled=True)
    assert response.status_code == 302
    assert "Saved: bob@example.com is now an instructor." in client.get("/admin/users").text
    assert user(db, bob.id).role == "instructor"
    assert logged_in(bobs_browser)

    admin_post(client, bob.id, "instructor", enabled=False)
    found = user(db, bob.id)
    assert (found.role, found.is_enabled) == ("instructor", False)
    assert not logged_in(bobs_browser)
    assert AuthActions(app.test_client()).login("bob@example.com").status_code == 401

    admin_post(client, bob.id, "learner", enabled=True)
    assert AuthActions(app.test_client()).login("bob@example.com").status_code == 302


@pytest.mark.parametrize(
    ("role", "enabled"), [("learner", True), ("instructor", True), ("admin", False)]
)
def test_an_admin_cannot_demote_or_disable_themselves(client, admin, db, role, enabled):
    response = admin_post(client, admin.id, role, enabled)
    assert response.status_code == 302
    page = client.get("/admin/users").text
    assert "You cannot remove your own admin role or disable yourself" in page
    found = user(db, admin.id)
    assert (found.role, found.is_enabled, found.session_version) == ("admin", True, 1)
    assert client.get("/admin/users").status_code == 200
