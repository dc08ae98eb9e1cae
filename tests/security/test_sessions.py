"""Session and remember-me cookies: their flags, renewal at login, and revocation."""

from __future__ import annotations

import re

import pytest

from learnapp import config
from learnapp.models import User
from tests.conftest import PASSWORD, production_config
from tests.security.conftest import isolate_throttle
from tests.security.world import LOGIN_PATH, login, opened

PRIVATE = "/account/"
# Pages that load the signed-in user in their own statement (security.load_user_with), and
# one that flask-login loads it for: a revoked session opens none of them.
SIGNED_IN_PAGES = (
    PRIVATE,
    "/lessons/spinal-muscle-spasm/",
    "/lessons/spinal-muscle-spasm/sections/spine-and-spasm",
)
NEW_PASSWORD = "a brand new passphrase"


def set_cookies(response) -> dict[str, dict[str, str | None]]:
    """Set-Cookie headers by cookie name: attribute name (lower case) -> value."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        parsed = {"value": value}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            parsed[key.lower()] = val or None
        cookies[name] = parsed
    return cookies


def log_in_remembered(client, email: str):
    form = {"email": email, "password": PASSWORD, "remember": "y"}
    return client.post("/auth/login", data=form)


def assert_cookie_flags(response, secure: bool) -> None:
    cookies = set_cookies(response)
    # learnapp_device: this device has signed in to the account (a failed-login throttle
    # spares it), kept for a year and sent only to the login pages
    names = ("session", "remember_token", "learnapp_device")
    assert set(names) <= cookies.keys()
    for name in names:
        flags = cookies[name]
        assert "httponly" in flags, name
        assert flags.get("samesite") == "Lax", name
        assert ("secure" in flags) is secure, name
    device = cookies["learnapp_device"]
    assert int(device["max-age"]) >= 365 * 24 * 3600
    assert device["path"] == "/auth/"


def test_cookies_are_httponly_and_samesite_lax(client, create_user):
    user = create_user()
    response = log_in_remembered(client, user.email)
    assert response.status_code == 302
    assert_cookie_flags(response, secure=False)


class TestProduction:
    @pytest.fixture
    def app_config(self, app_config, redis_url):
        return production_config(app_config, redis_url)

    @pytest.fixture
    def app(self, app, throttle_namespace):
        isolate_throttle(app, throttle_namespace)
        return app

    def test_cookies_are_also_secure(self, app, create_user):
        user = create_user()
        client, site = app.test_client(), "https://learn.example.org"
        page = client.get("/auth/login", base_url=site).get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"email": user.email, "password": PASSWORD, "remember": "y", "csrf_token": token}
        response = client.post(
            "/auth/login",
            data=form,
            csrf=False,  # the token is the one the page gave
            base_url=site,
            headers={"Referer": f"{site}/auth/login"},  # Flask-WTF checks it over HTTPS
        )
        assert response.status_code == 302
        assert_cookie_flags(response, secure=True)


def test_the_session_is_renewed_at_login(client, create_user):
    user = create_user()
    client.get("/auth/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    planted = client.get_cookie("session").value
    assert (
        client.post("/auth/login", data={"email": user.email, "password": PASSWORD}).status_code
        == 302
    )
    assert client.get_cookie("session").value != planted
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.get_id()  # "id:session version:session token"
    # Whoever planted the old cookie holds a session that is still anonymous.
    stranger = client.application.test_client()
    stranger.set_cookie("session", planted)
    assert stranger.get(PRIVATE).location.startswith(LOGIN_PATH)


def replay(app, name: str, value: str, page: str = PRIVATE):
    """A request from a new browser carrying only one stolen cookie."""
    client = app.test_client()
    client.set_cookie(name, value)
    return client.get(page)


def captured(app, email: str) -> tuple[object, dict[str, str]]:
    """A client logged in with remember-me, and its session and remember cookies."""
    client = app.test_client()
    assert log_in_remembered(client, email).status_code == 302
    cookies = {name: client.get_cookie(name).value for name in ("session", "remember_token")}
    for name, value in cookies.items():  # both work on their own before the revocation
        for page in SIGNED_IN_PAGES:
            assert replay(app, name, value, page).status_code == 200, (name, page)
    return client, cookies


def assert_revoked(app, client, cookies: dict[str, str]) -> None:
    for page in SIGNED_IN_PAGES:
        assert client.get(page).location.startswith(LOGIN_PATH), page
        for name, value in cookies.items():
            response = replay(app, name, value, page)
            assert response.status_code == 302, (name, page)
            assert response.location.startswith(LOGIN_PATH), (name, page)


def test_the_session_cookie_holds_only_what_pages_use(client, create_user):
    """No `_id` (flask-login's hash for its session protection, which is off): it would
    double the cookie every request sends."""
    user = create_user()
    client.get("/auth/login")
    client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    with client.session_transaction() as session:
        assert set(session) == {"_user_id", "_fresh"}
    assert len(client.get_cookie("session").value) < 160


def test_logout_revokes_the_old_session_and_remember_cookies(app, create_user):
    user = create_user()
    client, cookies = captured(app, user.email)
    assert client.post("/auth/logout").status_code == 302
    assert_revoked(app, client, cookies)


def test_disabling_an_account_revokes_its_sessions(app, create_user):
    user = create_user()
    admin = create_user(email="admin@example.com", role="admin")
    client, cookies = captured(app, user.email)
    response = login(app, admin.email).post(
        f"/admin/users/{user.id}", data={f"u{user.id}-role": "learner"}
    )
    assert response.status_code == 302
    with opened(app) as db:
        assert not db.get(User, user.id).is_enabled
    assert_revoked(app, client, cookies)
    # and the right password no longer opens a session
    assert (
        app.test_client()
        .post("/auth/login", data={"email": user.email, "password": PASSWORD})
        .status_code
        == 401
    )


def test_a_password_change_elsewhere_revokes_other_sessions(app, create_user):
    user = create_user()
    client, cookies = captured(app, user.email)
    other_device = login(app, user.email)
    response = other_device.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert_revoked(app, client, cookies)
    assert other_device.get(PRIVATE).status_code == 200  # the device that changed it stays in


def test_the_default_password_hash_is_argon2id_at_owasps_first_recommendation():
    # OWASP's Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
    assert config.DEFAULTS["PASSWORD_ARGON2_MEMORY_KIB"] == 19 * 1024
    assert config.DEFAULTS["PASSWORD_ARGON2_TIME_COST"] == 2
    assert config.DEFAULTS["PASSWORD_ARGON2_PARALLELISM"] == 1


class TestDefaultHashing:
    @pytest.fixture
    def app_config(self, app_config):
        return {k: v for k, v in app_config.items() if not k.startswith("PASSWORD_")}

    def test_a_new_users_password_is_hashed_with_argon2id(self, app, create_user):
        user = create_user()
        with opened(app) as db:
            stored = db.get(User, user.id).password_hash
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in stored
        assert login(app, user.email).get(PRIVATE).status_code == 200
