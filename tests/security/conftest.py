"""Fixtures for the security tests: the arranged world, and Redis when it is configured."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.security.world import World, build_world

REDIS_URL = os.environ.get("LEARNAPP_TEST_REDIS_URL")


@pytest.fixture
def world(app: Flask, create_user: Any) -> World:
    return build_world(app, create_user)


@pytest.fixture
def throttle_namespace() -> Iterator[str]:
    """A Redis key prefix for this test alone, so runs never share counters; deleted after."""
    prefix = f"learnapp-test-{os.getpid()}-{secrets.token_hex(6)}"
    yield prefix
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass
        finally:
            client.close()


def isolate_throttle(app: Flask, prefix: str) -> None:
    """Point the app's throttle at this test's own Redis keys (limits' `key_prefix`).

    The app builds its storage from the URL alone, and limits reads no prefix from the URL.
    """
    storage = app.extensions["learnapp.throttle"].limiter.storage
    storage.key_prefix = prefix
