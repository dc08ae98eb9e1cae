"""A learner's journey in a real browser: keyboard only, across a restart, on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    LESSON,
    SECTIONS,
    log_in,
    mark_sections_read,
    progress_value,
    register,
    tab_to,
    unique_email,
    wait_for_path,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_register_and_read_every_section_with_the_keyboard_only(page, live_server):
    base = live_server.url
    page.goto(f"{base}/")

    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Register"))
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}/auth/register")

    # From the skip link straight into the form, each field next in the tab order.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    for label, text in [
        ("Your name", "Ada Keyboard"),
        ("E-mail", unique_email("keyboard")),
        ("Password", PASSWORD),
        ("Repeat the password", PASSWORD),
    ]:
        page.keyboard.press("Tab")
        expect(page.get_by_label(label, exact=True)).to_be_focused()
        page.keyboard.type(text)
    page.keyboard.press("Enter")

    wait_for_path(page, f"{base}{LESSON}/")
    expect(page.get_by_role("status")).to_contain_text("Welcome, Ada Keyboard")
    assert progress_value(page) == 0
    tab_to(page, page.get_by_role("link", name=f"Start: {SECTIONS[0][1]}"))
    page.keyboard.press("Enter")

    read = 0
    for index, (slug, title) in enumerate(SECTIONS):
        wait_for_path(page, f"{base}{LESSON}/sections/{slug}")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        assert progress_value(page) == read
        last = index == len(SECTIONS) - 1
        button = f"Mark as read and {'finish' if last else 'continue'}"
        tab_to(page, page.get_by_role("button", name=button))
        page.keyboard.press("Enter")
        if last:
            wait_for_path(page, f"{base}{LESSON}/progress")
            # Not a dead end: the next step is the final quiz.
            expect(page.get_by_role("link", name="Take the final quiz")).to_be_visible()
        else:
            wait_for_path(page, f"{base}{LESSON}/sections/{SECTIONS[index + 1][0]}")
        now = progress_value(page)
        assert now > read, f"progress did not increase after reading {slug}"
        read = now
    assert read == len(SECTIONS)

    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Course"))
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}{LESSON}/")
    expect(page.locator(".progress label")).to_contain_text("7 of 7")
    assert progress_value(page) == 7
    expect(page.get_by_text("You have read every section.")).to_be_visible()


def test_progress_survives_a_server_restart(page, new_page, live_server):
    email = unique_email("restart")
    register(page, live_server.url, email)
    mark_sections_read(page, live_server.url, 3)

    before = live_server.process.pid
    live_server.restart()
    assert live_server.process.pid != before

    # A new visit (no cookies) after the restart: log in again and carry on.
    later = new_page()
    log_in(later, live_server.url, email)
    expect(later.locator(".progress label")).to_contain_text("3 of 7")
    assert progress_value(later) == 3
    expect(later.get_by_role("link", name="Continue: Poor posture")).to_be_visible()


@pytest.mark.parametrize("path", ["/", "/auth/login"])
def test_skip_link_is_first_and_moves_focus_to_main(page, live_server, path):
    page.goto(f"{live_server.url}{path}")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused, not left off-screen
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The next Tab continues inside main, not back in the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_pages_fit_a_phone_screen(new_page, live_server):
    phone = new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    register(phone, live_server.url, unique_email("phone"))
    paths = [f"{LESSON}/sections/{slug}" for slug, _ in SECTIONS] + [
        f"{LESSON}/",
        f"{LESSON}/progress",
        f"{LESSON}/notice",
        "/",
    ]
    for path in paths:
        phone.goto(f"{live_server.url}{path}")
        widths = phone.evaluate(
            "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
        )
        # 375 means the viewport meta tag works; a page laid out at 980 px would also "fit".
        assert widths["inner"] == 375, f"{path}: laid out {widths['inner']} px wide"
        assert widths["scroll"] <= widths["inner"], f"{path} scrolls sideways: {widths}"
