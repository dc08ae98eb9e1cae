"""Fixtures in the style of Flask's tutorial: app, client, runner, and factories.

Every database test runs on SQLite, and also on PostgreSQL when LEARNAPP_TEST_DATABASE_URL
names a server: this run then creates a database of its own there and drops it at the end.
CSRF protection stays on: the test client adds a valid token to each form it posts.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, event, make_url, text

from learnapp import create_app
from learnapp.db import Base, dispose, engines, get_session
from learnapp.models import User

PASSWORD = "correct horse battery"
# The lesson's sections in reading order: tests that read them all walk this list.
SECTIONS = [
    "spine-and-spasm",
    "vehicle-accidents",
    "sports-strains",
    "poor-posture",
    "joint-dysfunction",
    "muscular-dysfunction",
    "summary",
]
# Hypothesis's default deadline (200 ms an example) times each example: under the load of a
# parallel run it fails correct code. Speed is the benchmark's to measure, not the tests'.
settings.register_profile("learnapp", deadline=None)
settings.load_profile("learnapp")

POSTGRES_URL = os.environ.get("LEARNAPP_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("LEARNAPP_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
# Argon2id's lowest cost (8 KiB, one pass): for tests, which hash hundreds of passwords.
CHEAP_HASHING = {"PASSWORD_ARGON2_MEMORY_KIB": 8, "PASSWORD_ARGON2_TIME_COST": 1}


class CSRFClient(FlaskClient):
    """A test client whose form posts carry a CSRF token, unless told `csrf=False`."""

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def post(self, *args: Any, csrf: bool = True, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        if csrf and (data is None or isinstance(data, dict)):
            kwargs["data"] = {"csrf_token": self.csrf_token(), **(data or {})}
        return super().post(*args, **kwargs)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database for this test run alone, dropped at the end."""
    assert POSTGRES_URL
    server = make_url(POSTGRES_URL)
    name = f"learnapp_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """The test Redis; skipped when unset or unreachable, except in CI where that fails."""
    required = os.environ.get("CI") == "true"
    if not REDIS_URL:
        reason = "LEARNAPP_TEST_REDIS_URL is not set"
        if required:
            pytest.fail(f"{reason}, and CI=true requires Redis")
        pytest.skip(reason)
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if required:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI=true: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {error}")
    return REDIS_URL


def only_on(backend: str) -> pytest.MarkDecorator:
    """A test about one database's own behaviour runs on that one alone: not skipped on the
    other (so `.ci/run` skips nothing), and left out where that database is not configured."""
    missing = pytest.mark.skip(reason=f"{backend} is not configured (LEARNAPP_TEST_DATABASE_URL)")
    return pytest.mark.parametrize(
        "database_url",
        [pytest.param(backend, marks=() if backend in BACKENDS else missing)],
        indirect=True,
    )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine = create_engine(url)
        # Creating the schema without fsyncs is ten times faster; the app's own connections
        # use their usual settings afterwards.
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def app_config(database_url: str, tmp_path: Any) -> dict[str, Any]:
    """Overridable per test module: the configuration `app` is built with."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        # Argon2id at its lowest cost keeps the suite fast; production uses OWASP's
        # parameters (tests/security/test_enumeration.py times those).
        **CHEAP_HASHING,
        "RATELIMIT_STORAGE_URL": "memory://",
        "PUBLIC_URL": "https://learn.example.org",
    }


def production_config(
    config: dict[str, Any], redis_url: str = "redis://127.0.0.1:6379/0"
) -> dict[str, Any]:
    """`config` with what production refuses to start without (config.production_problems):
    throttles in shared storage, a mail backend that sends, the public address, a secret key.
    Making the app opens no Redis connection; a test whose requests count, pass `redis_url`."""
    return {
        "PUBLIC_URL": "https://learn.example.org",
        **config,
        "ENV": "production",
        "SECRET_KEY": "production-tests-" + "0" * 48,
        "RATELIMIT_STORAGE_URL": redis_url,
        "MAIL_BACKEND": "folder",
    }


@pytest.fixture
def app(
    app_config: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(app_config)
    app.test_client_class = CSRFClient
    yield app
    dispose(app)


@contextmanager
def statements_listened(app: Flask, listener: Callable[..., Any]) -> Iterator[None]:
    """`listener` as a `before_cursor_execute` listener on both of the app's engines (writes,
    and the reads outside transactions) while the block runs."""
    for engine in engines(app):
        event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        for engine in engines(app):
            event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def client(app: Flask) -> CSRFClient:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """A session for arranging and checking rows outside requests. It opens no app context:
    one held open would be shared by every request of the test (its `g`, its user)."""
    session = app.extensions["learnapp.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def create_user(app: Flask) -> Any:
    """Factory: create_user(email=..., name=..., role=...) -> the new user's id."""
    counter = iter(range(1, 1_000_000))

    def make(
        email: str | None = None,
        name: str = "Ada Learner",
        role: str = "learner",
        password: str = PASSWORD,
    ) -> User:
        from learnapp.accounts import create_user as create

        with app.app_context():
            session = get_session()
            user = create(
                session,
                email=email or f"user{next(counter)}@example.com",
                name=name,
                password=password,
                role=role,
            )
            session.commit()
            return user

    return make


class AuthActions:
    def __init__(self, client: CSRFClient) -> None:
        self.client = client

    def login(self, email: str, password: str = PASSWORD) -> Any:
        return self.client.post("/auth/login", data={"email": email, "password": password})

    def logout(self) -> Any:
        return self.client.post("/auth/logout")


@pytest.fixture
def auth(client: CSRFClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def learner(create_user: Any, auth: AuthActions) -> User:
    """A learner, logged in on `client`."""
    user = create_user(email="learner@example.com", name="Ada Learner")
    assert auth.login("learner@example.com").status_code == 302
    return user


def count_rows(db: Any, model: Any) -> int:
    from sqlalchemy import func, select

    db.rollback()  # see what requests committed since this session last read
    return db.scalar(select(func.count()).select_from(model))


def form_errors(html: str) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]*)<', html)


def deliver_outbox(app: Flask) -> int:
    """Run every outbox row due now once, through the worker's own code (outbox.run_due), as
    `flask worker` would after a request: tests then read the mail it sent. How many ran."""
    from learnapp import outbox

    return outbox.run_due(app)
