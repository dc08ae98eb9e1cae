"""Who an account is: ids that are never reused, cookies that die with their account, and
e-mail addresses that look-alike characters cannot imitate."""

from __future__ import annotations

import unicodedata

import pytest
from flask_login import encode_cookie
from markupsafe import escape
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from learnapp import accounts
from learnapp.models import User
from tests.conftest import PASSWORD, form_errors
from tests.security.world import LOGIN_PATH, opened

PRIVATE = "/account/"


def register(app, email: str, name: str = "Ada Learner"):
    """A new browser that registers `email`, and the answer."""
    client = app.test_client()
    form = {"name": name, "email": email, "password": PASSWORD, "confirm": PASSWORD}
    return client, client.post("/auth/register", data=form)


def captured_cookies(app, email: str) -> tuple[object, dict[str, str]]:
    """A newly registered browser, and its session cookie with the remember-me cookie of a
    second device that logged in with "keep me logged in" (nothing ended a session since)."""
    client, response = register(app, email)
    assert response.status_code == 302
    device = app.test_client()
    form = {"email": email, "password": PASSWORD, "remember": "y"}
    assert device.post(LOGIN_PATH, data=form).status_code == 302
    cookies = {
        "session": client.get_cookie("session").value,
        "remember_token": device.get_cookie("remember_token").value,
    }
    for name, value in cookies.items():
        assert replay(app, name, value).status_code == 200, name
    return client, cookies


def account_id(app, email: str) -> int | None:
    with opened(app) as db:
        return db.scalar(select(User.id).where(User.email == email))


def replay(app, name: str, value: str):
    """A request from a new browser carrying only one captured cookie."""
    client = app.test_client()
    client.set_cookie(name, value)
    return client.get(PRIVATE)


def logged_out(response) -> bool:
    return response.status_code == 302 and response.location.startswith(LOGIN_PATH)


def users(app) -> int:
    with opened(app) as db:
        return db.scalar(select(func.count()).select_from(User))


# --- Item 1: no cookie outlives its account -----------------------------------------------


def test_a_deleted_accounts_cookies_do_not_open_the_next_account(app):
    client, cookies = captured_cookies(app, "first@example.com")
    first = account_id(app, "first@example.com")
    response = client.post("/account/delete", data={"current": PASSWORD})
    assert response.status_code == 302

    newcomer, response = register(app, "second@example.com", "Second Person")
    assert response.status_code == 302
    second = account_id(app, "second@example.com")
    # SQLite gave the newcomer the deleted account's id before AUTOINCREMENT.
    assert second != first
    for name, value in cookies.items():
        assert logged_out(replay(app, name, value)), name
    assert newcomer.get(PRIVATE).status_code == 200


def test_a_cookie_does_not_open_another_account_that_got_its_id(app):
    """Even were an id reused (a restored backup, a hand-made row), the session names a
    random per-account value as well, which the new account does not share."""
    client, cookies = captured_cookies(app, "first@example.com")
    first = account_id(app, "first@example.com")
    assert client.post("/account/delete", data={"current": PASSWORD}).status_code == 302
    with opened(app) as db:
        # The same id and session version as the deleted account's cookies name.
        db.execute(
            insert(User).values(
                id=first, email="second@example.com", name="Second", password_hash="!"
            )
        )
        db.commit()
    for name, value in cookies.items():
        assert logged_out(replay(app, name, value)), name


def test_ending_every_session_renews_the_session_token(app):
    client, _ = register(app, "ada@example.com")
    with opened(app) as db:
        before = db.scalar(select(User.session_token).where(User.email == "ada@example.com"))
    assert client.post("/auth/logout").status_code == 302
    with opened(app) as db:
        after = db.scalar(select(User.session_token).where(User.email == "ada@example.com"))
    assert before and after and before != after


def test_old_format_cookies_simply_log_out(app):
    client, _ = register(app, "ada@example.com")
    ada = account_id(app, "ada@example.com")
    # The identity cookies carried before: "id:session version", with nothing random.
    with client.session_transaction() as session:
        session["_user_id"] = f"{ada}:1"
    assert logged_out(client.get(PRIVATE))
    stranger = app.test_client()
    with app.test_request_context():
        stranger.set_cookie("remember_token", encode_cookie(f"{ada}:1"))
    assert logged_out(stranger.get(PRIVATE))


# --- Item 10: look-alike e-mail addresses -------------------------------------------------

ORIGINAL = "ada@example.com"
LOOKALIKES = {
    "fullwidth letters": "\uff41\uff44\uff41@example.com",
    "a Cyrillic a": "\u0430da@example.com",
    "a Cyrillic a in the domain": "ada@ex\u0430mple.com",
    "a Greek o in the domain": "ada@example.c\u03bfm",
    "upper case": "ADA@Example.COM",
}


@pytest.mark.parametrize("lookalike", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_lookalike_of_an_existing_address_is_refused(app, lookalike):
    register(app, ORIGINAL)
    _client, response = register(app, lookalike, "Mallory")
    assert response.status_code == 400
    errors = form_errors(response.text)
    assert any("already exists" in e or "looks like" in e for e in errors), errors
    assert users(app) == 1


def test_decomposed_accents_are_the_same_address(app):
    composed, decomposed = "jos\u00e9@example.com", "jose\u0301@example.com"
    register(app, decomposed)
    assert account_id(app, composed) is not None  # stored in the normalised (NFC) form
    _client, response = register(app, composed, "Mallory")
    assert response.status_code == 400
    assert users(app) == 1


def test_a_skeleton_lookalike_gets_the_lookalike_message(app):
    register(app, ORIGINAL)
    _client, response = register(app, "\u0430da@example.com", "Mallory")
    assert accounts.LOOKS_TAKEN in form_errors(response.text)


def test_a_lookalike_is_refused_as_a_new_email_too(app):
    register(app, ORIGINAL)
    client, _ = register(app, "bob@example.com", "Bob")
    response = client.post(
        "/account/email", data={"email": "\u0430da@example.com", "current": PASSWORD}
    )
    assert response.status_code == 400
    assert escape(accounts.LOOKS_USED_ELSEWHERE) in form_errors(response.text)
    assert account_id(app, "bob@example.com") is not None


def test_different_addresses_are_still_different(app):
    register(app, ORIGINAL)
    for other in ("adam@example.com", "ada@example.org", "ida@example.com"):
        assert register(app, other, "Someone")[1].status_code == 302, other
    assert users(app) == 4


def test_logging_in_with_the_fullwidth_form_of_ones_address_finds_the_account(app):
    """NFKC folds fullwidth letters into the address the person registered: it is theirs."""
    register(app, ORIGINAL)
    client = app.test_client()
    response = client.post(
        LOGIN_PATH,
        data={
            "email": "\uff41\uff44\uff41@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert client.get(PRIVATE).status_code == 200


def test_logging_in_with_a_cyrillic_lookalike_finds_no_account(app):
    """A look-alike in another script is another address: it opens nothing (and cannot be
    registered), so it gives no one a second set of guesses at the account."""
    register(app, ORIGINAL)
    data = {"email": "\u0430da@example.com", "password": PASSWORD}
    assert app.test_client().post(LOGIN_PATH, data=data).status_code == 401


def test_the_skeleton_is_unique_in_the_database(app):
    """The rule is a constraint: two rows with look-alike addresses cannot both be stored."""
    register(app, ORIGINAL)
    with opened(app) as db:
        statement = insert(User).values(email="\u0430da@example.com", name="M", password_hash="!")
        with pytest.raises(IntegrityError):
            db.execute(statement)
        db.rollback()


@pytest.mark.parametrize(
    "raw",
    [
        "Ada@Example.COM",
        "\uff41\uff44\uff41@example.com",
        "jose\u0301@example.com",
        "ada@Bücher.example",
    ],
)
def test_normalising_is_stable(raw):
    once = accounts.normalise_email(raw)
    assert accounts.normalise_email(once) == once
    assert unicodedata.is_normalized("NFKC", once)
    assert once == once.lower()
