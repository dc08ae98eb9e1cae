"""Throttles: failed logins, registrations, password hashes at once, join codes, verify lookups.

Failed logins follow OWASP's advice against lockout: a device that has signed in to an account
before (a signed device cookie naming the account) answers only to its own failures, so other
people's guesses never lock its owner out; any other device is delayed, progressively, by the
failures on the account and from its address, and told what to do, with the reset link.

The counters live in the storage every worker shares: with Redis configured, two app
instances (two workers) see the same counts. Each test counts under its own Redis key prefix.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from learnapp import config, create_app
from learnapp.db import get_engine
from learnapp.models import User
from tests.conftest import PASSWORD, CSRFClient, count_rows, deliver_outbox
from tests.security.conftest import isolate_throttle
from tests.security.world import login
from tests.test_accounts import messages, reset_link

LIMITS = {
    "LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes",
    "LOGIN_FAILURES_PER_ADDRESS": "5 per 15 minutes",
    "LOGIN_FAILURES_PER_DEVICE": "3 per 15 minutes",
    "JOIN_CODE_FAILURES": "3 per 15 minutes",
    "VERIFY_RATE_LIMIT": "4 per minute",
    "REGISTRATIONS_PER_ADDRESS": "3 per hour",
    "REGISTRATIONS_SITE_WIDE": "5 per hour",
    # One password hash at a time per worker, and a short wait for it: requests here come
    # one after another, but for the flood that test_password_hashes_beyond... makes.
    "PASSWORD_HASHES_AT_ONCE": 1,
    "PASSWORD_HASH_WAIT_SECONDS": 0.05,
}
LOGIN_LIMITS = ("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ADDRESS")
HERE, ELSEWHERE = "198.51.100.7", "203.0.113.9"
WRONG = "not the password"
DEVICE_COOKIE = "learnapp_device"


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


def device(app: Any, address: str = HERE) -> CSRFClient:
    """A browser: it keeps its cookies from one request to the next."""
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(app: Any, email: str, password: str, address: str = HERE) -> Any:
    """A login from a new device (a client that has never signed in)."""
    return log_in(device(app, address), email, password)


def log_in(client: CSRFClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", data={"email": email, "password": password})


def known_device(app: Any, email: str, address: str = HERE) -> CSRFClient:
    """A device its owner has signed in with before, and logged out of."""
    client = device(app, address)
    assert log_in(client, email).status_code == 302
    assert client.post("/auth/logout").status_code == 302
    return client


def alert(response: Any) -> str:
    found = re.search(r'role="alert">(.*?)</div>', response.text, re.S)
    return found.group(1) if found else ""


def waited(response: Any) -> int:
    """The wait a delayed login is told, in seconds."""
    found = re.search(r"Please wait (\d+) (second|minute|hour)s?\b", alert(response))
    assert found, alert(response)
    return int(found.group(1)) * {"second": 1, "minute": 60, "hour": 3600}[found.group(2)]


def assert_throttled(response: Any) -> None:
    """Delayed, told for how long, and shown the way out: the reset link."""
    assert response.status_code == 429
    assert "Too many failed attempts" in alert(response)
    assert waited(response) > 0
    assert 'href="/auth/reset"' in alert(response)


def test_failures_on_one_account_delay_new_devices_even_for_the_right_password(app, create_user):
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


def test_other_peoples_failures_never_lock_out_a_device_that_signed_in_before(app, create_user):
    victim, attacker = create_user(), create_user()
    phone = known_device(app, victim.email)
    # the attacker's own device is known for the attacker's account, not for the victim's
    attackers = known_device(app, attacker.email, address=ELSEWHERE)
    for _ in range(10):
        assert log_in(attackers, victim.email, WRONG).status_code in (401, 429)
    for _ in range(10):
        assert attempt(app, victim.email, WRONG).status_code in (401, 429)  # and from HERE
    assert_throttled(log_in(attackers, victim.email, PASSWORD))
    assert_throttled(attempt(app, victim.email, PASSWORD))
    assert log_in(phone, victim.email).status_code == 302


def test_a_known_devices_own_failures_make_it_a_new_device_again(app, create_user):
    user = create_user()
    phone = known_device(app, user.email, address=ELSEWHERE)
    for _ in range(3):
        assert log_in(phone, user.email, WRONG).status_code == 401
    # now it answers to the account's counters, which its failures did not fill: allowed,
    # then delayed like any other device once those fill too
    for _ in range(3):
        assert log_in(phone, user.email, WRONG).status_code == 401
    assert_throttled(log_in(phone, user.email, PASSWORD))


def test_a_forged_or_borrowed_device_cookie_counts_for_nothing(app, create_user):
    victim, other = create_user(), create_user()
    for _ in range(3):
        assert attempt(app, victim.email, WRONG).status_code == 401
    forged = device(app)
    payload = {"device": "forged", "accounts": [victim.id]}
    value = URLSafeTimedSerializer("another key", salt="login-device").dumps(payload)
    forged.set_cookie(DEVICE_COOKIE, value, path="/auth/")
    assert_throttled(log_in(forged, victim.email, PASSWORD))
    # a real device cookie, copied from a device known for another account
    borrowed = known_device(app, other.email)
    assert_throttled(log_in(borrowed, victim.email, PASSWORD))


def test_delays_grow_with_the_failures(app, create_user):
    user = create_user()
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = "2 per 2 seconds; 4 per hour"
    for _ in range(2):
        assert attempt(app, user.email, WRONG).status_code == 401
    first = attempt(app, user.email, PASSWORD)
    assert_throttled(first)
    assert waited(first) <= 2
    time.sleep(2.2)
    for _ in range(2):
        assert attempt(app, user.email, WRONG).status_code == 401
    second = attempt(app, user.email, PASSWORD)
    assert_throttled(second)
    assert waited(second) >= 55 * 60


def test_a_password_reset_makes_the_device_known(app, create_user, tmp_path):
    """The way out the delay message offers: reset by e-mail, then log in on this device."""
    user = create_user()
    app.config.update(MAIL_BACKEND="folder", MAIL_FOLDER=str(tmp_path / "mail"))
    for _ in range(3):
        assert attempt(app, user.email, WRONG, address=ELSEWHERE).status_code == 401
    laptop = device(app)
    assert_throttled(log_in(laptop, user.email))
    assert laptop.post("/auth/reset", data={"email": user.email}).status_code == 302
    deliver_outbox(app)
    (message,) = messages(tmp_path / "mail")
    form = {"password": "a brand new passphrase", "confirm": "a brand new passphrase"}
    assert laptop.post(urlsplit(reset_link(message)).path, data=form).status_code == 302
    assert log_in(laptop, user.email, "a brand new passphrase").status_code == 302
    assert_throttled(attempt(app, user.email, "a brand new passphrase"))  # other devices wait


def test_failures_from_one_address_delay_new_devices_behind_it_but_no_known_one(app, create_user):
    first, second, third = (create_user() for _ in range(3))
    laptop = known_device(app, third.email)
    for _ in range(3):
        assert attempt(app, first.email, WRONG).status_code == 401
    # a different account from the same address still works until the address limit
    assert attempt(app, second.email, PASSWORD).status_code == 302
    for _ in range(2):
        assert attempt(app, second.email, WRONG).status_code == 401
    assert_throttled(attempt(app, third.email, PASSWORD))
    assert attempt(app, third.email, PASSWORD, address=ELSEWHERE).status_code == 302
    assert log_in(laptop, third.email).status_code == 302


def test_a_classroom_behind_one_address_is_not_blocked_by_one_persons_failures(app, create_user):
    """With the default limits: a prankster guesses at six classmates' passwords, ten times
    each. Everyone else still logs in on the school's computers (new devices); the six do
    on devices they used before, and are delayed on new ones, with the reset link."""
    app.config.update({key: config.DEFAULTS[key] for key in LOGIN_LIMITS})
    pupils = [create_user(email=f"pupil{n}@example.com") for n in range(30)]
    targets, others = pupils[:6], pupils[6:]
    own_devices = [known_device(app, pupil.email) for pupil in targets]
    for pupil in targets:
        for _ in range(10):
            assert attempt(app, pupil.email, WRONG).status_code in (401, 429)
    for pupil in others:
        assert attempt(app, pupil.email, PASSWORD).status_code == 302, pupil.email
    for pupil, own in zip(targets, own_devices, strict=True):
        assert log_in(own, pupil.email).status_code == 302, pupil.email
    assert_throttled(attempt(app, targets[0].email, PASSWORD))


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


def test_short_code_guessing_is_throttled_per_account_and_the_link_never(
    app, create_user, world_codes
):
    link_code, short_code = world_codes
    guesser = login(app, create_user().email)
    for n in range(3):
        response = guesser.post("/cohorts/join", data={"code": f"AAAA-AAA{n}"})
        assert response.status_code == 400
        assert "No cohort has this code" in response.text
    response = guesser.post("/cohorts/join", data={"code": short_code})
    assert response.status_code == 429
    assert "Too many wrong codes" in response.text
    # The link's 100-bit code is never refused, typed or followed.
    assert guesser.get(f"/cohorts/join/{link_code}").status_code == 200
    assert guesser.post("/cohorts/join", data={"code": link_code}).status_code == 302
    # Another learner at the same address (one classroom's Wi-Fi) is not held up.
    neighbour = login(app, create_user().email)
    assert neighbour.post("/cohorts/join", data={"code": short_code}).status_code == 302


@pytest.fixture
def world_codes(app, create_user) -> tuple[str, str]:
    """A cohort's link code and short code, as its instructor's pages show them."""
    instructor = login(app, create_user(email="teacher@example.com", role="instructor").email)
    response = instructor.post(
        "/instructor/cohorts",
        data={"name": "Class", "session_date": "2025-03-04", "lesson": "spinal-muscle-spasm"},
    )
    page = instructor.get(f"{response.location}/project").text
    link = re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}", page).group(0)
    short = re.search(r'<p class="short-code">([0-9A-Z]{4}-[0-9A-Z]{4})</p>', page).group(1)
    return link, short


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


def register(app: Any, email: str, address: str = HERE) -> Any:
    form = {"name": "Ada Learner", "email": email, "password": PASSWORD, "confirm": PASSWORD}
    return device(app, address).post("/auth/register", data=form)


def test_registrations_are_limited_per_address(app, create_user, db):
    create_user(email="taken@example.com")
    assert register(app, "one@example.com").status_code == 302
    assert register(app, "taken@example.com").status_code == 400  # a probe counts too
    assert register(app, "two@example.com").status_code == 302
    response = register(app, "three@example.com")
    assert response.status_code == 429
    assert re.search(
        r"Too many accounts were requested from your network\. Please try again in \d+ minutes?",
        response.text,
    )
    assert count_rows(db, User) == 3
    assert register(app, "three@example.com", address=ELSEWHERE).status_code == 302


def test_registrations_are_limited_site_wide(app, db):
    for n in range(5):
        assert register(app, f"pupil{n}@example.com", address=f"192.0.2.{n}").status_code == 302
    response = register(app, "one-more@example.com", address="192.0.2.99")
    assert response.status_code == 429
    assert "Too many accounts are being created on this site right now" in response.text
    assert count_rows(db, User) == 5


def test_a_class_of_thirty_registers_from_one_address_with_the_defaults(app, db):
    """60 in an hour with the default limits: each of 30 with a retry (a typo, a taken e-mail)."""
    for key in ("REGISTRATIONS_PER_ADDRESS", "REGISTRATIONS_SITE_WIDE"):
        app.config[key] = config.DEFAULTS[key]
    for n in range(60):
        assert register(app, f"pupil{n}@example.com").status_code == 302, n
    assert count_rows(db, User) == 60


@pytest.fixture
def slow_hashing(app, monkeypatch):
    """An Argon2 hash, made in another thread, that holds the worker's one slot (LIMITS)
    until released: the requests that find the slot taken meanwhile are refused."""
    entered, release = threading.Event(), threading.Event()
    original = PasswordHasher.hash

    def held(self: PasswordHasher, *args: Any, **kwargs: Any) -> str:
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            release.wait(10)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHasher, "hash", held)
    return entered, release


def test_password_hashes_beyond_the_workers_slots_are_refused_not_queued(app, db, slow_hashing):
    entered, release = slow_hashing
    first: list[Any] = []
    worker = threading.Thread(target=lambda: first.append(register(app, "first@example.com")))
    worker.start()
    try:
        assert entered.wait(10)
        for response in (
            register(app, "second@example.com", address=ELSEWHERE),
            attempt(app, "first@example.com", PASSWORD, address=ELSEWHERE),
        ):
            assert response.status_code == 503
            assert "busy checking other passwords" in response.text
            assert response.headers["Retry-After"]
    finally:
        release.set()
        worker.join(10)
    assert first[0].status_code == 302
    db.rollback()
    assert db.scalars(select(User.email)).all() == ["first@example.com"]
    assert register(app, "second@example.com", address=ELSEWHERE).status_code == 302
