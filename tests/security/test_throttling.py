"""Throttles: failed logins per account and per address, join-code guesses, verify lookups.

The counters live in the storage every worker shares: with Redis configured, two app
instances (two workers) see the same counts. Each test counts under its own Redis key prefix.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from learnapp import create_app
from learnapp.db import get_engine
from tests.conftest import PASSWORD, CSRFClient
from tests.security.conftest import isolate_throttle
from tests.security.world import login

LIMITS = {
    "LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes",
    "LOGIN_FAILURES_PER_ADDRESS": "5 per 15 minutes",
    "JOIN_CODE_FAILURES": "3 per 15 minutes",
    "VERIFY_RATE_LIMIT": "4 per minute",
}
HERE, ELSEWHERE = "198.51.100.7", "203.0.113.9"
WRONG = "not the password"


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def app_config(app_config: dict[str, Any], storage: str) -> dict[str, Any]:
    return {**app_config, **LIMITS, "RATELIMIT_STORAGE_URL": storage}


@pytest.fixture
def app(app: Any, throttle_namespace: str) -> Any:
    isolate_throttle(app, throttle_namespace)
    return app


def attempt(app: Any, email: str, password: str, address: str = HERE) -> Any:
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    client.environ_base["REMOTE_ADDR"] = address
    return client.post("/auth/login", data={"email": email, "password": password})


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429
    assert re.search(r"Too many failed attempts\. Please wait \d+ minute", response.text)


def test_failures_on_one_account_lock_it_even_for_the_right_password(app, create_user):
    user = create_user()
    for _ in range(3):
        assert attempt(app, user.email, WRONG).status_code == 401
    assert_throttled(attempt(app, user.email, PASSWORD))
    # from another address too: the account is what is being guessed
    assert_throttled(attempt(app, user.email, PASSWORD, address=ELSEWHERE))
    # an unknown e-mail counts the same way (no hint of who is registered)
    for _ in range(3):
        assert attempt(app, "nobody@example.com", WRONG, address=ELSEWHERE).status_code == 401
    assert_throttled(attempt(app, "nobody@example.com", WRONG, address=ELSEWHERE))


def test_failures_from_one_address_lock_it_for_every_account(app, create_user):
    first, second, third = (create_user() for _ in range(3))
    for _ in range(3):
        assert attempt(app, first.email, WRONG).status_code == 401
    # a different account from the same address still works until the address limit
    assert attempt(app, second.email, PASSWORD).status_code == 302
    for _ in range(2):
        assert attempt(app, second.email, WRONG).status_code == 401
    assert_throttled(attempt(app, third.email, PASSWORD))
    assert attempt(app, third.email, PASSWORD, address=ELSEWHERE).status_code == 302


def test_many_learners_logging_in_from_one_address_are_not_slowed(app, create_user):
    """A classroom behind one address: correct logins never count against it."""
    for n in range(50):
        user = create_user(email=f"pupil{n}@example.com")
        assert attempt(app, user.email, PASSWORD).status_code == 302, n


def test_a_success_clears_the_accounts_own_failures(app, create_user):
    user = create_user()
    for _ in range(2):
        assert attempt(app, user.email, WRONG, address=ELSEWHERE).status_code == 401
    assert attempt(app, user.email, PASSWORD, address=ELSEWHERE).status_code == 302
    for _ in range(2):
        assert attempt(app, user.email, WRONG).status_code == 401
    assert attempt(app, user.email, PASSWORD).status_code == 302


def test_join_code_guessing_is_throttled(app, create_user, world_join_code):
    guesser = login(app, create_user().email)
    for n in range(3):
        response = guesser.post("/cohorts/join", data={"code": f"AAAAA-AAAAA-AAAAA-AAAA{n}"})
        assert response.status_code == 400
        assert "No cohort has this code" in response.text
    response = guesser.post("/cohorts/join", data={"code": world_join_code})
    assert response.status_code == 429
    assert "Too many wrong codes" in response.text
    assert guesser.get(f"/cohorts/join/{world_join_code}").status_code == 429
    # the join link counts wrong guesses too, for another learner at another address
    other = login(app, create_user().email, address=ELSEWHERE)
    for _ in range(3):
        assert other.get("/cohorts/join/BBBBB-BBBBB-BBBBB-BBBBB").status_code == 404
    assert other.get(f"/cohorts/join/{world_join_code}").status_code == 429


@pytest.fixture
def world_join_code(app, create_user) -> str:
    instructor = login(app, create_user(email="teacher@example.com", role="instructor").email)
    response = instructor.post(
        "/instructor/cohorts",
        data={"name": "Class", "session_date": "2025-03-04", "lesson": "spinal-muscle-spasm"},
    )
    page = instructor.get(response.location).text
    return re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}", page).group(0)


def test_verify_lookups_are_throttled_per_address(app):
    paths = ["/verify/", "/verify/?code=nonsense", "/verify/AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA"]
    for n, path in enumerate(paths):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{n}"
        for _ in range(4):
            assert client.get(path).status_code in (200, 400, 404), path
        response = client.get(path)
        assert response.status_code == 429, path
        assert "Too many tries" in response.text
        assert client.post("/verify/upload").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = ELSEWHERE
    assert elsewhere.get(paths[0]).status_code == 200


@pytest.fixture
def second_worker(app, app_config, storage, throttle_namespace):
    """Another app instance on the same database and throttle storage: another worker."""
    other = create_app(app_config)
    other.test_client_class = CSRFClient
    isolate_throttle(other, throttle_namespace)
    yield other
    get_engine(other).dispose()


SHARED = pytest.mark.parametrize("storage", ["redis"], indirect=True)  # memory is per worker


@SHARED
def test_workers_share_the_login_counters(app, second_worker, create_user):
    user = create_user()
    for _ in range(3):
        assert attempt(app, user.email, WRONG).status_code == 401
    assert_throttled(attempt(second_worker, user.email, PASSWORD))
    # and the address counters: two failures on worker 2 reach the limit of 5 on worker 1
    other = create_user()
    for _ in range(2):
        assert attempt(second_worker, other.email, WRONG).status_code == 401
    assert_throttled(attempt(app, create_user().email, PASSWORD))


@SHARED
def test_workers_share_the_verify_counters(app, second_worker):
    for worker in (app, second_worker, app, second_worker):
        client = worker.test_client()
        client.environ_base["REMOTE_ADDR"] = HERE
        assert client.get("/verify/").status_code == 200
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = HERE
    assert client.get("/verify/").status_code == 429
