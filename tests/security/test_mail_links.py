"""Links in e-mails: built from PUBLIC_URL whatever Host the request named, and a reset link
that works only for the address it was mailed to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from learnapp import create_app
from learnapp.db import dispose
from tests.conftest import PASSWORD, deliver_outbox, production_config
from tests.security.world import login
from tests.test_accounts import LINK_USED, NEW_PASSWORD, flashes, messages, reset_link
from tests.test_confirmed_addresses import confirm_path

PUBLIC_URL = "https://learn.example.org"


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_config, "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(tmp_path / "mail")}


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mail"


def mailed_link(mailbox: Path) -> str:
    (message,) = messages(mailbox)
    return reset_link(message)


# --- Item 2: the Host header does not choose where links point ------------------------------


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


@pytest.mark.parametrize("host", ["evil.example", "learn.example.org.evil.example"])
def test_a_reset_link_points_to_public_url_whatever_the_host(client, create_user, mailbox, host):
    """The attacker asks for the victim's reset under their own Host (form and all)."""
    create_user(email="ada@example.com")
    site = f"http://{host}"
    token = csrf_token(client.get("/auth/reset", base_url=site).text)
    data = {"email": "ada@example.com", "csrf_token": token}
    response = client.post("/auth/reset", data=data, csrf=False, base_url=site)
    assert response.status_code == 302
    deliver_outbox(client.application)
    assert mailed_link(mailbox).startswith(f"{PUBLIC_URL}/auth/reset/")


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "PROXY_FIX": True}

    def test_forwarded_host_does_not_choose_the_link(self, client, create_user, mailbox):
        create_user(email="ada@example.com")
        headers = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
        response = client.post("/auth/reset", data={"email": "ada@example.com"}, headers=headers)
        assert response.status_code == 302
        deliver_outbox(client.application)
        assert mailed_link(mailbox).startswith(f"{PUBLIC_URL}/auth/reset/")


class TestUnderAPath:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "PUBLIC_URL": "https://example.org/first-aid/"}

    def test_the_link_keeps_public_urls_path(self, client, create_user, mailbox):
        create_user(email="ada@example.com")
        client.post("/auth/reset", data={"email": "ada@example.com"})
        deliver_outbox(client.application)
        assert mailed_link(mailbox).startswith("https://example.org/first-aid/auth/reset/")


def production_app(app_config: dict[str, Any], tmp_path: Path, monkeypatch, **settings: Any):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app(production_config({**app_config, **settings}))


@pytest.mark.parametrize("trusted", [None, ["learn.example.org"]], ids=["derived", "given"])
def test_production_trusts_only_public_urls_host(app_config, tmp_path, monkeypatch, trusted):
    app = production_app(app_config, tmp_path, monkeypatch, TRUSTED_HOSTS=trusted)
    try:
        assert app.config["TRUSTED_HOSTS"] == ["learn.example.org"]
        client = app.test_client()
        assert client.get("/healthz", base_url="https://learn.example.org").status_code == 200
        for host in ("evil.example", "learn.example.org.evil.example"):
            response = client.get("/healthz", base_url=f"https://{host}")
            assert response.status_code == 400, host
    finally:
        dispose(app)


def test_production_keeps_trusted_hosts_it_is_given(app_config, tmp_path, monkeypatch):
    given = ["learn.example.org", "www.learn.example.org"]
    app = production_app(app_config, tmp_path, monkeypatch, TRUSTED_HOSTS=given)
    try:
        assert app.config["TRUSTED_HOSTS"] == given
    finally:
        dispose(app)


# --- Item 8: a reset link is for the address it was mailed to -----------------------------


def test_a_reset_link_mailed_before_an_email_change_stops_working(
    app, client, create_user, mailbox
):
    create_user(email="ada@example.com")
    client.post("/auth/reset", data={"email": "ada@example.com"})
    deliver_outbox(app)
    path = mailed_link(mailbox).removeprefix(PUBLIC_URL)
    assert client.get(path).status_code == 200  # it works until the address changes

    owner = login(app, "ada@example.com")
    response = owner.post("/account/email", data={"email": "new@example.com", "current": PASSWORD})
    assert response.status_code == 302
    deliver_outbox(app)
    assert client.get(path).status_code == 200  # asked for, not yet confirmed: still ada@
    (confirmation,) = [m for m in messages(mailbox) if m["To"] == "new@example.com"]
    assert owner.post(confirm_path(confirmation)).status_code == 302  # now the address

    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.location == "/auth/reset"
    assert client.get(path).location == "/auth/reset"
    assert LINK_USED in " ".join(flashes(client.get("/auth/reset").text))
    # The password is unchanged, and a link mailed to the new address works.
    assert login(app, "new@example.com").get("/account/").status_code == 200
    client.post("/auth/reset", data={"email": "new@example.com"})
    deliver_outbox(app)
    fresh = reset_link(messages(mailbox)[-1]).removeprefix(PUBLIC_URL)
    assert client.get(fresh).status_code == 200
