"""`next` after login leads only to a path on this site; anything else lands on the default page.

Which database backs the app does not matter here, so the module shares one SQLite app.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine

from learnapp import create_app
from learnapp.db import Base, get_engine
from tests.conftest import CHEAP_HASHING, PASSWORD, CSRFClient

DEFAULT = "/lessons/"
LOCAL = "/lessons/spinal-muscle-spasm/progress"

HOSTILE = [
    "https://evil.example",
    "http://evil.example/lessons/",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http:evil.example",
    "https:/evil.example",
    "evil.example",
    " /lessons/",
    "\t/lessons/",
    "/lessons/\n",
    "/%09/evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "",
]
# The same kind of values as they arrive when the link itself was percent-encoded once.
RAW_QUERIES = [
    "next=%2F%2Fevil.example",
    "next=%2F%5Cevil.example",
    "next=%5C%5Cevil.example",
    "next=%09%2Fevil.example",
    "next=%20%2F%2Fevil.example",
    "next=https%3A%2F%2Fevil.example",
    "next=%2F%2F%2Fevil.example",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("redirects")
    url = f"sqlite:///{folder / 'test.sqlite3'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEARNAPP_INSTANCE_PATH", str(folder / "instance"))
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "SECRET_KEY": "test-secret",
                **CHEAP_HASHING,
            }
        )
    app.test_client_class = CSRFClient
    from learnapp.accounts import create_user
    from learnapp.db import get_session

    with app.app_context():
        create_user(get_session(), email="ada@example.com", name="Ada", password=PASSWORD)
        get_session().commit()
    yield app
    get_engine(app).dispose()


emails = (f"new{n}@example.com" for n in itertools.count())


def log_in(client: CSRFClient, **request: Any) -> Any:
    return client.post(
        "/auth/login", data={"email": "ada@example.com", "password": PASSWORD}, **request
    )


def register(client: CSRFClient, **request: Any) -> Any:
    form = {"name": "New", "email": next(emails), "password": PASSWORD, "confirm": PASSWORD}
    return client.post("/auth/register", data=form, **request)


def signed_in_visit(client: CSRFClient, **request: Any) -> Any:
    """A signed-in person opening the login page is sent on, through `next` too."""
    assert log_in(client).status_code == 302
    return client.get("/auth/login", **request)


ENTRANCES = [log_in, register, signed_in_visit]


@pytest.mark.parametrize("entrance", ENTRANCES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("target", HOSTILE)
def test_next_never_leaves_the_site(app, entrance, target):
    response = entrance(app.test_client(), query_string={"next": target})
    assert response.status_code == 302
    assert response.location == DEFAULT


@pytest.mark.parametrize("query", RAW_QUERIES)
def test_next_encoded_in_the_link_never_leaves_the_site(app, query):
    response = log_in(app.test_client(), query_string=query)
    assert response.status_code == 302
    assert response.location == DEFAULT


@pytest.mark.parametrize("entrance", ENTRANCES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("target", [LOCAL, f"{LOCAL}?from=email#top", "/certificates/"])
def test_a_local_next_is_honoured(app, entrance, target):
    response = entrance(app.test_client(), query_string={"next": target})
    assert response.status_code == 302
    assert response.location == target


def test_the_login_page_sends_visitors_back_where_they_were(app):
    response = app.test_client().get(LOCAL)
    assert response.status_code == 302
    login_url = response.location
    assert login_url.startswith("/auth/login?next=")
    form = {"email": "ada@example.com", "password": PASSWORD}
    assert app.test_client().post(login_url, data=form).location == LOCAL
