"""axe-core finds no serious or critical accessibility violation on any page.

To cover a new page, add an AxeCase to PAGES: its path, whether it needs the logged-in
learner, the HTTP status it answers with, and optionally a `setup(page)` that brings the
page into the state to check (a submitted form, an opened quiz).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    LESSON,
    SECTIONS,
    mark_sections_read,
    register,
    unique_email,
)

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class AxeCase:
    id: str
    path: str
    login: bool = False
    status: int = 200
    setup: Callable[[Page], None] | None = None


def submit_empty_register_form(page: Page) -> None:
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".field.has-error").first).to_be_visible()


def submit_wrong_password(page: Page) -> None:
    page.get_by_label("E-mail").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()


PAGES = [
    AxeCase("home", "/"),
    AxeCase("home-logged-in", "/", login=True),
    AxeCase("login", "/auth/login"),
    AxeCase("login-failed", "/auth/login", setup=submit_wrong_password),
    AxeCase("register", "/auth/register"),
    AxeCase("register-errors", "/auth/register", setup=submit_empty_register_form),
    AxeCase("course", f"{LESSON}/", login=True),
    *[
        AxeCase(f"section-{slug}", f"{LESSON}/sections/{slug}", login=True)
        for slug, _title in SECTIONS
    ],
    AxeCase("progress", f"{LESSON}/progress", login=True),
    AxeCase("not-found", "/no-such-page", status=404),
    AxeCase("not-found-logged-in", f"{LESSON}/sections/no-such-section", login=True, status=404),
]


@pytest.fixture(scope="module")
def learner_state(browser: Any, live_server: Any) -> Iterator[dict[str, Any]]:
    """Cookies of a learner who has read two sections, so pages show read and unread states."""
    context = browser.new_context()
    try:
        page = context.new_page()
        register(page, live_server.url, unique_email("axe"))
        mark_sections_read(page, live_server.url, 2)
        yield context.storage_state()
    finally:
        context.close()


@pytest.mark.parametrize("case", PAGES, ids=[case.id for case in PAGES])
def test_no_serious_accessibility_violations(
    case: AxeCase, new_page: Any, live_server: Any, axe: Any, request: pytest.FixtureRequest
) -> None:
    options: dict[str, Any] = {"bypass_csp": True}  # axe-core is injected as inline script
    if case.login:
        options["storage_state"] = request.getfixturevalue("learner_state")
    page = new_page(**options)
    response = page.goto(f"{live_server.url}{case.path}")
    assert response is not None and response.status == case.status
    if case.setup:
        case.setup(page)
    axe(page)
