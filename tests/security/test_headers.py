"""Security headers on every kind of response, pages without inline script, trusted hosts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import production_config
from tests.security.world import LESSON, ROLES, World, request_rule, rules, url_of

PROBLEM = "kaboom: secret detail of the failure"


def fail_healthz(monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away: /healthz raises an unexpected error."""

    def broken() -> Any:
        raise RuntimeError(PROBLEM)

    monkeypatch.setattr("learnapp.views.public.get_session", broken)


def until_throttled(client: Any, path: str) -> Any:
    """Ask again and again: the first refusal (or the last answer, if none comes)."""
    for _ in range(500):
        response = client.get(path)
        if response.status_code == 429:
            break
    return response


# kind of response: (who asks, what, expected status, expected content type)
Ask = Callable[[World, Any], Any]
KINDS: dict[str, tuple[str, Ask, int, str]] = {
    "html page": ("anonymous", lambda w, c: c.get("/"), 200, "text/html"),
    "html page, signed in": ("A", lambda w, c: c.get("/account/"), 200, "text/html"),
    "redirect": ("anonymous", lambda w, c: c.get("/lessons/"), 302, "text/html"),
    "json": ("anonymous", lambda w, c: c.get("/healthz"), 200, "application/json"),
    "json download": ("A", lambda w, c: c.get("/account/data.json"), 200, "application/json"),
    "pdf download": (
        "A",
        lambda w, c: c.get(f"/certificates/{w.certificate}/pdf"),
        200,
        "application/pdf",
    ),
    "csv export": (
        "X",
        lambda w, c: c.get(f"/instructor/cohorts/{w.x_cohort}/export.csv"),
        200,
        "text/csv",
    ),
    "static file": ("anonymous", lambda w, c: c.get("/static/css/app.css"), 200, "text/css"),
    "400 (no CSRF token)": (
        "anonymous",
        lambda w, c: c.post("/auth/login", data={}, csrf=False),
        400,
        "text/html",
    ),
    "403": ("A", lambda w, c: c.get("/admin/users"), 403, "text/html"),
    "404": ("anonymous", lambda w, c: c.get("/no/such/page"), 404, "text/html"),
    "404, signed in": ("B", lambda w, c: c.get(f"/certificates/{w.certificate}"), 404, "text/html"),
    "405": ("anonymous", lambda w, c: c.get("/auth/logout"), 405, "text/html"),
    "429": (
        "anonymous",
        lambda w, c: until_throttled(c, "/verify/"),
        429,
        "text/html",
    ),
    "500": ("anonymous", lambda w, c: c.get("/healthz"), 500, "text/html"),
}
SIGNED_IN = {kind for kind, (role, *_rest) in KINDS.items() if role != "anonymous"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        parsed[name.lower()] = values
    return parsed


def ask(world: World, kind: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    role, request, status, content_type = KINDS[kind]
    if kind == "500":
        fail_healthz(monkeypatch)
    response = request(world, world.client(role))
    assert response.status_code == status, kind
    assert response.mimetype == content_type, kind
    return response


def assert_baseline(response: Any, kind: str) -> None:
    policy = directives(response.headers.get("Content-Security-Policy", ""))
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src, f"{kind}: no script-src"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, kind
    assert policy.get("frame-ancestors") == ["'none'"], kind
    assert policy.get("object-src") == ["'none'"], kind
    assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
    assert response.headers.get("Referrer-Policy") in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ), kind


def test_every_kind_of_response_carries_the_headers(world, monkeypatch):
    """One world, every kind in turn (the 500 last: it breaks /healthz)."""
    failures = []
    for kind in KINDS:
        response = None
        try:
            response = ask(world, kind, monkeypatch)
            assert_baseline(response, kind)
            assert "Strict-Transport-Security" not in response.headers, "HSTS outside production"
            if kind in SIGNED_IN:
                assert "no-store" in response.headers.get("Cache-Control", ""), "cacheable"
            if response.status_code >= 400:
                body = response.get_data(as_text=True)
                for trace in ("Traceback", 'File "', "RuntimeError", PROBLEM, "werkzeug"):
                    assert trace not in body, f"the error page shows {trace!r}"
        except AssertionError as error:
            failures.append(f"{kind}: {error}")
        finally:
            if response is not None:
                response.close()
    assert not failures, "\n".join(failures)


class TestProduction:
    @pytest.fixture
    def app_config(self, app_config):
        # No page here counts a throttle: no Redis needed. The test client asks for
        # localhost, which production would refuse when trusting PUBLIC_URL's host alone.
        return {**production_config(app_config), "TRUSTED_HOSTS": ["localhost"]}

    def test_hsts_in_production(self, app, monkeypatch):
        for kind in ("html page", "json", "redirect", "static file", "404", "500"):
            _role, request, status, _type = KINDS[kind]
            if kind == "500":
                fail_healthz(monkeypatch)
            response = request(None, app.test_client())
            assert response.status_code == status, kind
            assert_baseline(response, kind)
            hsts = response.headers.get("Strict-Transport-Security", "")
            max_age = re.search(r"max-age=(\d+)", hsts)
            assert max_age and int(max_age.group(1)) >= 31_536_000, (kind, hsts)
            response.close()


INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "event-handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(
        r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I
    ),
    "inline style attribute (blocked by style-src)": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "inline <style> element": re.compile(r"<style[\s>]", re.I),
}


def inline_code(html: str) -> list[str]:
    return [name for name, pattern in INLINE.items() if pattern.search(html)]


def test_no_page_has_inline_script(world):
    found = []
    for role in ROLES:
        client = world.client(role)
        for rule in rules(world.app):
            response = request_rule(client, world, rule)
            if response.mimetype == "text/html" and (problems := inline_code(response.text)):
                found.append(f"{role} {rule.endpoint} {url_of(world, rule)}: {problems}")
    assert not found, "\n".join(found)
    # pages reached only through a form: a failed login, knowledge-check feedback, a
    # final-quiz attempt in progress, and that attempt sent back with its blanks listed
    b = world.client("B")
    lesson = world.app.extensions["learnapp.content"].lessons[LESSON]
    for section in lesson.sections:
        b.post(f"/lessons/{LESSON}/sections/{section.slug}/read")
    b.post(f"/quizzes/{LESSON}/final/acknowledge")
    attempt = b.post(f"/quizzes/{LESSON}/final/attempts").location
    assert "/quizzes/attempts/" in attempt
    for response in (
        world.client("anonymous").post(
            "/auth/login", data={"email": "x@example.com", "password": "wrong"}
        ),
        b.post(f"/quizzes/{LESSON}/checks/{lesson.sections[0].slug}", follow_redirects=True),
        b.get(attempt),
        b.post(attempt),
    ):
        assert response.status_code in (200, 401)
        assert not inline_code(response.text), response.request.path


def test_the_pattern_finds_inline_code():
    assert inline_code("<script>alert(1)</script>") == ["inline script"]
    assert not inline_code('<script src="/static/app.js"></script>')
    assert inline_code('<img src=x onerror="alert(1)">') == ["event-handler attribute"]
    assert inline_code('<a href="javascript:alert(1)">') == ["javascript: URL"]


class TestTrustedHosts:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "TRUSTED_HOSTS": ["learn.example.org"]}

    def test_only_the_trusted_host_is_served(self, client):
        assert client.get("/", headers={"Host": "learn.example.org"}).status_code == 200
        for host in ("evil.example", "learn.example.org.evil.example", "localhost", "127.0.0.1"):
            response = client.get("/", headers={"Host": host})
            assert response.status_code == 400, host  # not a 500 from a page without URLs
            assert host not in response.text
            assert_baseline(response, f"host {host}")
