"""Confirmed addresses: a link mailed at registration confirms the address; an e-mail change
takes effect only once a link mailed to the new address is followed, and the old address is
told; mail beyond the account's own waits for a confirmed address."""

from __future__ import annotations

import email
import re
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from markupsafe import escape
from sqlalchemy import select

from learnapp import accounts
from learnapp.db import get_session
from learnapp.models import User
from tests.conftest import PASSWORD, AuthActions, deliver_outbox
from tests.test_accounts import flashes, logged_in, messages, other_device, reset_link, user
from tests.test_quizzes import LESSON

CONFIRM_PATH = re.compile(r"https://learn\.example\.org(/account/confirm/\S+)")
OLD, NEW = "learner@example.com", "new@example.com"


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_config, "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail")}


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mail"


def mail_to(app, mailbox: Path, address: str) -> list[email.message.EmailMessage]:
    """The mail sent to `address` so far, once the worker has run what is due."""
    deliver_outbox(app)
    return [message for message in messages(mailbox) if message["To"] == address]


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def confirm_path(message: email.message.EmailMessage) -> str:
    (path,) = CONFIRM_PATH.findall(text_of(message))
    return path


def last_link(app, mailbox: Path, address: str) -> str:
    return confirm_path(mail_to(app, mailbox, address)[-1])


def change_email(client, address: str) -> Any:
    return client.post("/account/email", data={"email": address, "current": PASSWORD})


def shown_flash(client) -> list[str]:
    return flashes(client.get("/account/").text)


def can_log_in(app, address: str) -> bool:
    return AuthActions(app.test_client()).login(address).status_code == 302


def register(client, address: str) -> Any:
    form = {"name": "Nova Learner", "email": address, "password": PASSWORD, "confirm": PASSWORD}
    return client.post("/auth/register", data=form)


# --- At registration ----------------------------------------------------------------------


def test_registration_mails_a_link_and_following_it_confirms_the_address(app, client, mailbox, db):
    response = register(client, "Nova@Example.com")
    assert response.status_code == 302
    found = db.scalar(select(User).where(User.email == "nova@example.com"))
    assert found.email_confirmed_at is None
    # Learning does not wait for the confirmation.
    assert client.get(f"/lessons/{LESSON}/").status_code == 200
    page = client.get("/account/").text
    assert "Not confirmed yet" in page and "Send the link again" in page

    (message,) = mail_to(app, mailbox, "nova@example.com")
    assert "Confirm your e-mail address" in message["Subject"]
    path = confirm_path(message)
    page = client.get(path)
    assert page.status_code == 200
    assert "nova@example.com" in page.text and "Confirm this address" in page.text
    assert user(db, found.id).email_confirmed_at is None  # a GET changes nothing

    response = client.post(path)
    assert response.status_code == 302 and response.location == "/account/"
    assert shown_flash(client) == ["Thank you: nova@example.com is confirmed."]
    assert user(db, found.id).email_confirmed_at is not None
    page = client.get("/account/").text
    assert "Confirmed" in page and "Send the link again" not in page
    # Followed again, the link says so and changes nothing.
    assert client.get(path).status_code == 302
    assert shown_flash(client) == ["nova@example.com is confirmed already."]


def test_a_link_followed_while_logged_out_asks_to_log_in_first(app, mailbox, db):
    registering = app.test_client()
    assert register(registering, "nova@example.com").status_code == 302
    path = last_link(app, mailbox, "nova@example.com")

    phone = app.test_client()
    response = phone.get(path)
    assert response.status_code == 302 and response.location.startswith("/auth/login?next=")
    response = phone.post(
        response.location, data={"email": "nova@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.location == path
    assert phone.post(path).status_code == 302
    found = db.scalar(select(User).where(User.email == "nova@example.com"))
    assert found.email_confirmed_at is not None


def test_only_account_mail_goes_to_an_address_not_yet_confirmed(app, create_user, db):
    unconfirmed = create_user(email="ada@example.com")
    another = create_user(email="lms@example.com")
    with app.app_context():
        session = get_session()
        trusted = accounts.create_user(
            session, email="sso@example.com", name="Sso Learner", password=PASSWORD, confirmed=True
        )
        session.commit()
    assert trusted.email_confirmed_at is not None
    for kind in ("confirmation", "password-reset", "email-change-notice"):
        assert accounts.may_mail(unconfirmed, kind)
    assert not accounts.may_mail(unconfirmed, "certificate-reminder")
    assert accounts.may_mail(trusted, "certificate-reminder")
    assert not accounts.may_mail(another, "certificate-reminder")
    trusted.is_enabled = False
    assert not accounts.may_mail(trusted, "certificate-reminder")
    assert not accounts.may_mail(trusted, "password-reset")


def test_an_address_from_a_trusted_sign_on_shows_as_confirmed(app, auth, client):
    with app.app_context():
        session = get_session()
        accounts.create_user(
            session, email="sso@example.com", name="Sso Learner", password=PASSWORD, confirmed=True
        )
        session.commit()
    assert auth.login("sso@example.com").status_code == 302
    page = client.get("/account/").text
    assert "Confirmed" in page and "Not confirmed yet" not in page
    assert "Send the link again" not in page


# --- Send again ---------------------------------------------------------------------------


def test_send_again_mails_a_new_link_and_is_throttled(app, client, learner, mailbox, db):
    assert app.config["CONFIRMATION_MAILS"] == "3 per hour; 10 per day"
    for sent in range(1, 4):
        response = client.post("/account/confirmation")
        assert response.status_code == 302 and response.location == "/account/"
        assert shown_flash(client) == [f"A new link is on its way to {OLD}."]
        assert len(mail_to(app, mailbox, OLD)) == sent

    response = client.post("/account/confirmation")
    assert response.status_code == 429
    assert "Several links were sent already" in response.text
    assert "wait 60 minutes" in response.text
    assert len(mail_to(app, mailbox, OLD)) == 3

    # Any of the links confirms; the button is then gone, and a late click sends nothing.
    assert client.post(last_link(app, mailbox, OLD)).status_code == 302
    assert user(db, learner.id).email_confirmed_at is not None
    assert "Send the link again" not in client.get("/account/").text


def test_send_again_for_a_confirmed_address_sends_nothing(app, client, learner, mailbox):
    assert client.post("/account/confirmation").status_code == 302
    assert client.post(last_link(app, mailbox, OLD)).status_code == 302
    client.get("/account/")  # shows the message
    response = client.post("/account/confirmation")
    assert response.status_code == 302
    assert shown_flash(client) == [f"{OLD} is confirmed already."]
    assert len(mail_to(app, mailbox, OLD)) == 1


def test_changes_cannot_flood_one_address_even_from_several_accounts(app, create_user, mailbox):
    victim = "victim@example.org"
    for n in range(3):
        create_user(email=f"sender{n}@example.com")
    first = other_device(app, "sender0@example.com")
    for _ in range(3):
        assert change_email(first, victim).status_code == 302
    assert change_email(first, victim).status_code == 429
    second = other_device(app, "sender1@example.com")
    response = change_email(second, victim)
    assert response.status_code == 429
    assert "Several links were sent already" in response.text
    assert len(mail_to(app, mailbox, victim)) == 3
    # Another address is not affected.
    assert change_email(second, "someone.else@example.org").status_code == 302


# --- An e-mail change ---------------------------------------------------------------------


def test_a_change_takes_effect_only_once_the_new_address_confirms_it(
    app, client, learner, mailbox, db
):
    elsewhere = other_device(app, OLD)
    response = change_email(client, "New@Example.com")
    assert response.status_code == 302
    assert shown_flash(client) == [
        str(
            escape(
                f"We sent a link to {NEW}: your e-mail changes once you follow it. Until then,"
                f" keep logging in with {OLD}."
            )
        )
    ]
    found = user(db, learner.id)
    assert (found.email, found.pending_email, found.session_version) == (OLD, NEW, 1)
    page = client.get("/account/").text
    assert f"Now: {OLD}" in page and f"Waiting for confirmation: <strong>{NEW}</strong>" in page

    # The old address is told, and the link goes to the new one.
    (notice,) = mail_to(app, mailbox, OLD)
    assert "Someone asked to change the e-mail address" in notice["Subject"]
    assert NEW in text_of(notice) and "If it was not you" in text_of(notice)
    assert not CONFIRM_PATH.findall(text_of(notice))
    (message,) = mail_to(app, mailbox, NEW)
    path = confirm_path(message)

    # Until it is followed, the old address logs in and gets password resets.
    assert can_log_in(app, OLD) and not can_log_in(app, NEW)
    app.test_client().post("/auth/reset", data={"email": OLD})
    app.test_client().post("/auth/reset", data={"email": NEW})
    assert reset_link(mail_to(app, mailbox, OLD)[-1])
    assert len(mail_to(app, mailbox, NEW)) == 1

    page = client.get(path)
    assert page.status_code == 200
    assert f"Make <strong>{NEW}</strong> your address instead of {OLD}" in page.text
    assert user(db, learner.id).email == OLD  # a GET changes nothing
    response = client.post(path)
    assert response.status_code == 302 and response.location == "/account/"
    assert shown_flash(client) == [
        f"Your e-mail is now {NEW}: log in with it from now on. Other devices have been logged out."
    ]
    found = user(db, learner.id)
    assert (found.email, found.pending_email) == (NEW, None)
    assert found.email_confirmed_at is not None
    assert logged_in(client) and not logged_in(elsewhere)
    assert can_log_in(app, NEW) and not can_log_in(app, OLD)
    page = client.get("/account/").text
    assert f"Now: {NEW}" in page and "Waiting for confirmation" not in page
    # The link has done its work: followed again it only says so.
    assert client.post(path).status_code == 302
    assert shown_flash(client) == [f"Thank you: {NEW} is confirmed."]
    assert user(db, learner.id).session_version == found.session_version


def test_a_mistyped_address_never_confirmed_leaves_the_account_usable(
    app, client, learner, mailbox, db
):
    assert change_email(client, "learner@exmaple.com").status_code == 302
    AuthActions(client).logout()
    assert can_log_in(app, OLD)
    # The password reset still goes to the address that works.
    app.test_client().post("/auth/reset", data={"email": OLD})
    assert reset_link(mail_to(app, mailbox, OLD)[-1])
    again = other_device(app, OLD)
    assert again.get(f"/lessons/{LESSON}/").status_code == 200
    # Giving the current address withdraws the change, and mails nothing.
    before = len(messages(mailbox))
    assert change_email(again, OLD).status_code == 302
    assert shown_flash(again) == [f"Your e-mail stays {OLD}, and no change is pending."]
    assert user(db, learner.id).pending_email is None
    assert deliver_outbox(app) == 0 and len(messages(mailbox)) == before
    # The typo's link, should its owner follow it, is refused (see below).


LINK_SUPERSEDED = str(escape(accounts.LINK_SUPERSEDED))


def refused(client, path: str, message: str) -> None:
    """The link answers, on GET and POST, with `message` on the account page."""
    client.get("/account/")  # shows (and so clears) any earlier message
    for send in (client.get, client.post):
        response = send(path)
        assert response.status_code == 302 and response.location == "/account/"
        assert shown_flash(client) == [message]


def test_a_link_superseded_by_a_newer_request_is_refused(app, client, learner, mailbox, db):
    assert change_email(client, "first@example.com").status_code == 302
    first = last_link(app, mailbox, "first@example.com")
    assert change_email(client, NEW).status_code == 302
    refused(client, first, LINK_SUPERSEDED)
    found = user(db, learner.id)
    assert (found.email, found.pending_email) == (OLD, NEW)

    assert client.post(last_link(app, mailbox, NEW)).status_code == 302
    assert user(db, learner.id).email == NEW
    refused(client, first, LINK_SUPERSEDED)


def test_a_withdrawn_change_or_a_password_change_voids_the_link(app, client, learner, mailbox, db):
    assert change_email(client, NEW).status_code == 302
    path = last_link(app, mailbox, NEW)
    assert change_email(client, OLD).status_code == 302  # withdrawn
    refused(client, path, LINK_SUPERSEDED)

    assert change_email(client, NEW).status_code == 302
    path = last_link(app, mailbox, NEW)
    new_password = "a brand new passphrase"
    form = {"current": PASSWORD, "password": new_password, "confirm": new_password}
    assert client.post("/account/password", data=form).status_code == 302
    refused(client, path, LINK_SUPERSEDED)
    assert user(db, learner.id).email == OLD


def test_a_link_for_an_address_taken_since_is_refused(app, client, learner, mailbox, db):
    assert change_email(client, NEW).status_code == 302
    path = last_link(app, mailbox, NEW)
    assert register(app.test_client(), NEW).status_code == 302  # someone else, meanwhile
    taken = str(escape(accounts.LINK_TAKEN.format(address=NEW)))
    refused(client, path, taken)
    found = user(db, learner.id)
    assert (found.email, found.email_confirmed_at, found.session_version) == (OLD, None, 1)


def test_a_link_for_a_lookalike_taken_since_is_refused(app, client, learner, mailbox, db):
    assert change_email(client, NEW).status_code == 302
    path = last_link(app, mailbox, NEW)
    lookalike = "n\u0435w@example.com"  # a Cyrillic ie for the "e"
    assert register(app.test_client(), lookalike).status_code == 302
    refused(client, path, str(escape(accounts.LINK_TAKEN.format(address=NEW))))
    assert user(db, learner.id).email == OLD


def test_an_expired_link_is_refused(app, client, learner, mailbox, monkeypatch, db):
    max_age = app.config["EMAIL_CONFIRMATION_MAX_AGE"]
    real = TimestampSigner.get_timestamp

    def issued_too_long_ago(signer: TimestampSigner) -> int:
        # The link (and it alone: not the session's cookie) was signed a second longer ago
        # than it lives.
        late = signer.salt == b"email-confirmation"
        return real(signer) - (max_age + 1 if late else 0)

    monkeypatch.setattr(TimestampSigner, "get_timestamp", issued_too_long_ago)
    assert change_email(client, NEW).status_code == 302
    monkeypatch.undo()
    refused(client, last_link(app, mailbox, NEW), str(escape(accounts.LINK_EXPIRED)))
    found = user(db, learner.id)
    assert (found.email, found.pending_email) == (OLD, NEW)


def test_a_link_is_for_the_account_it_was_sent_for(app, client, learner, create_user, mailbox, db):
    assert change_email(client, NEW).status_code == 302
    path = last_link(app, mailbox, NEW)
    create_user(email="other@example.com")
    other = other_device(app, "other@example.com")
    refused(other, path, str(escape(accounts.LINK_FOR_ANOTHER_ACCOUNT)))
    assert user(db, learner.id).email == OLD
    refused(client, path[:-3] + "xyz", str(escape(accounts.LINK_INVALID)))
    assert user(db, learner.id).email == OLD
