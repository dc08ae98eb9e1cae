"""The app's caches, each named here and kept by Flask-Caching: the simple cache of each
process by default (CACHE_THRESHOLD entries), one Redis shared by every worker where
CACHE_REDIS_URL is set.

A value is kept under its cache's name and a key that holds everything the value depends
on, so nothing is ever invalidated by hand: a change (new content, a cohort's progress
raising its version) makes a new key, and old entries age out. Nothing used for
coordination (throttles, tokens, locks) lives here: an evicted entry must cost only time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import Flask
from flask_caching import Cache

cache = Cache()

# The section text and knowledge check (HTML), the same for everyone:
# (content version, lesson slug, section slug).
SECTION_PARTS = "section-parts"
# A signed-in section page with holes for the learner's name and the CSRF token: everything
# else its template receives (lessons.section_skeleton_key).
LESSON_SKELETON = "lesson-skeleton"
# A cohort's dashboard counts: (cohort id, its progress_version, content version).
COHORT_OVERVIEW = "cohort-overview"
# A rendered row of the dashboard table: (the row's values, its links' base, sections, zone).
LEARNER_ROW = "learner-row"

T = TypeVar("T")


def remembered(
    name: str,
    key: Hashable,
    compute: Callable[[], T],
    still_good: Callable[[T], bool] | None = None,
) -> T:
    """The value kept in cache `name` under `key`, computed and kept first when absent (or
    when `still_good` says the kept one is not: a count that holds until a given time).

    `key` is made of plain values (str, int, tuples, None, dates) whose repr is stable."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    cache_key = f"{name}:{digest}"
    value = cache.get(cache_key)
    if value is None or (still_good is not None and not still_good(value)):
        value = compute()
        cache.set(cache_key, value)
    return value


def init_app(app: Flask) -> None:
    if app.config["CACHE_REDIS_URL"] and app.config["CACHE_TYPE"] == "SimpleCache":
        app.config["CACHE_TYPE"] = "RedisCache"
    cache.init_app(app)
