"""SQL statements per page, counted (not timed) through the Flask test client with a
`before_cursor_execute` listener on the app's engines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from bench.fixtures import LESSON, START_PATH, Fixtures, Login
from learnapp.db import engines


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    for engine in engines(app):
        event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        for engine in engines(app):
            event.remove(engine, "before_cursor_execute", listener)


def pages(fx: Fixtures) -> dict[str, tuple[str, Login | None]]:
    dashboard = f"/instructor/cohorts/{fx.cohort_id}"
    return {
        "lesson": (f"/lessons/{LESSON}/sections/{fx.section_slugs[0]}", fx.learner),
        "dashboard": (dashboard, fx.instructor),
        "dashboard_stuck": (f"{dashboard}?state=stuck", fx.instructor),
        "learner_page": (f"{dashboard}/learners/{fx.learner_in_cohort}", fx.instructor),
        "certificate_download": (f"/certificates/{fx.certificate_code}/pdf", fx.owner),
        "verify": (f"/verify/{fx.certificate_code}", None),
    }


def client_for(app: Flask, who: Login | None) -> Any:
    """A test client holding the login's session cookie (or none)."""
    client = app.test_client()
    if who is not None:
        name, value = who.cookie.split("=", 1)
        client.set_cookie(name, value)
    return client


def count_pages(app: Flask, fx: Fixtures) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for name, (path, who) in pages(fx).items():
        client = client_for(app, who)
        client.get(path)  # once first: anything a process caches is made
        with counting(app) as statements:
            response = client.get(path)
        counts[name] = _entry(path, response.status_code, statements)
    return counts


def count_quiz(app: Flask, ready: dict[str, Any], pooled: dict[str, Any]) -> dict[str, Any]:
    """One start (a ready learner) and one submit (a pre-opened attempt with answers)."""
    counts = {}
    who = ready["login"]
    with counting(app) as statements:
        response = client_for(app, who).post(START_PATH, data={"csrf_token": who.csrf})
    counts["quiz_start"] = _entry(START_PATH, response.status_code, statements)
    path = f"/quizzes/attempts/{pooled['attempt_id']}"
    with counting(app) as statements:
        response = client_for(app, pooled["login"]).post(
            path, data=pooled["body"], content_type="application/x-www-form-urlencoded"
        )
    counts["quiz_submit"] = _entry(path, response.status_code, statements)
    return counts


def _entry(path: str, status: int, statements: list[str]) -> dict[str, Any]:
    return {
        "path": path,
        "status": status,
        "statements": len(statements),
        "queries": len([s for s in statements if not s.upper().startswith("BEGIN")]),
        "sql": [s[:160] for s in statements],
    }
