"""What a learner does in the browser, shared by the browser tests."""

from __future__ import annotations

from itertools import count

from playwright.sync_api import Locator, Page, expect

from tests.conftest import PASSWORD

LESSON = "/lessons/spinal-muscle-spasm"
SECTIONS = [
    ("spine-and-spasm", "The spine and what a spasm is"),
    ("vehicle-accidents", "Vehicle accidents"),
    ("sports-strains", "Sports strains and abrupt movements"),
    ("poor-posture", "Poor posture"),
    ("joint-dysfunction", "Spinal joint dysfunction"),
    ("muscular-dysfunction", "Muscular dysfunction"),
    ("summary", "Summary: how the causes connect"),
]
MAX_TABS = 60

_emails = count(1)


def unique_email(prefix: str = "learner") -> str:
    return f"{prefix}{next(_emails)}@example.com"


def tab_to(page: Page, target: Locator, limit: int = MAX_TABS) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    element = target.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("element => document.activeElement === element", element):
            return
    raise AssertionError(f"{target} not reached in {limit} presses of Tab on {page.url}")


def wait_for_path(page: Page, url: str) -> None:
    """Wait until the page is at `url`, whatever fragment (a used skip link's #main) it kept."""
    page.wait_for_url(lambda current: current.partition("#")[0] == url)


def progress_value(page: Page) -> int:
    value = page.locator("progress").get_attribute("value")
    assert value is not None, f"no <progress> value on {page.url}"
    return int(value)


def register(page: Page, base_url: str, email: str, name: str = "Ada Learner") -> None:
    """Create an account through the form (mouse and keyboard alike); ends on the course page."""
    page.goto(f"{base_url}/auth/register")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    wait_for_path(page, f"{base_url}{LESSON}/")


def log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    wait_for_path(page, f"{base_url}{LESSON}/")


def mark_sections_read(page: Page, base_url: str, how_many: int) -> None:
    """Read the first `how_many` sections in order with the page's own button."""
    page.goto(f"{base_url}{LESSON}/sections/{SECTIONS[0][0]}")
    for index in range(how_many):
        page.get_by_role("button", name="Mark as read and").click()
        following = (
            f"{LESSON}/sections/{SECTIONS[index + 1][0]}"
            if index + 1 < len(SECTIONS)
            else f"{LESSON}/progress"
        )
        wait_for_path(page, f"{base_url}{following}")
    expect(page.locator("progress")).to_have_attribute("value", str(how_many))
