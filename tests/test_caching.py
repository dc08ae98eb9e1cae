"""Caches (learnapp/caching.py): per process by default, one Redis for every worker where
CACHE_REDIS_URL is set."""

from __future__ import annotations

import secrets

import redis

from learnapp import create_app
from tests.conftest import PASSWORD, SECTIONS, CSRFClient

SECTION = f"/lessons/spinal-muscle-spasm/sections/{SECTIONS[2]}"


def test_the_simple_cache_holds_at_least_5000_entries(app):
    assert app.config["CACHE_TYPE"] == "SimpleCache"
    assert app.config["CACHE_THRESHOLD"] >= 5000


def test_with_a_redis_url_two_workers_share_one_cache(
    app_config,
    create_user,
    redis_url,
    tmp_path,
    monkeypatch,
):
    """Two apps (as two gunicorn workers) on one Redis: the section page the first rendered
    is the one the second serves, filled in with the second learner's name."""
    prefix = f"learnapp-test-{secrets.token_hex(6)}:"
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    config = {**app_config, "CACHE_REDIS_URL": redis_url, "CACHE_KEY_PREFIX": prefix}
    workers = [create_app(config), create_app(config)]
    store = redis.Redis.from_url(redis_url)
    try:
        pages, renders = [], []
        for number, worker in enumerate(workers):
            worker.test_client_class = CSRFClient
            assert worker.config["CACHE_TYPE"] == "RedisCache"
            email = f"worker{number}@example.com"
            create_user(email=email, name=f"Learner {number}")
            client = worker.test_client()
            client.post("/auth/login", data={"email": email, "password": PASSWORD})
            pages.append(client.get(SECTION).text)
            if number == 0:
                assert any(b"lesson-skeleton:" in k for k in store.scan_iter(match=f"{prefix}*"))
                # The second worker renders nothing: the skeleton comes from Redis.
                monkeypatch.setattr(
                    "learnapp.views.skeletons.render_template", lambda *a, **k: renders.append(a)
                )
        assert renders == []
        assert "Learner 1" in pages[1] and "Learner 0" not in pages[1]
    finally:
        for key in store.scan_iter(match=f"{prefix}*"):
            store.delete(key)
        store.close()
