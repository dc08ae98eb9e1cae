"""A new learner on a phone (issue 22, parts 1 and 4): each section opens with its heading and
text, progress at the top; the educational-use notice in full until acknowledged, then one
line that links to the full notice and to when to get help; and the last section leads to
"Take the final quiz". Found by role and label; axe-core checks each kind of page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import (
    FINAL,
    LESSON,
    SECTIONS,
    mark_sections_read,
    register,
    unique_email,
    wait_for_path,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
UNDERSTOOD = "I understand: this is for education only"


def notice(page: Page) -> Locator:
    return page.get_by_role("complementary", name="Educational use")


def progress_bar(page: Page) -> Locator:
    return page.get_by_role(
        "progressbar", name=re.compile(r"^Your progress: \d of 7 sections read")
    )


def lines_of(box: Locator) -> float:
    """How many lines of text a block holds: its height over its line height."""
    return box.evaluate(
        "element => element.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(element).lineHeight)"
    )


def expect_first_screen(page: Page, title: str) -> Locator:
    """Progress at the top, then the heading and the start of the section's text, all on
    the first screen; returns the section's article."""
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(title)
    expect(heading).to_be_in_viewport()
    bar = progress_bar(page)
    expect(bar).to_be_in_viewport()
    assert bar.bounding_box()["y"] < heading.bounding_box()["y"], "progress is not above"
    article = page.get_by_role("article")
    expect(
        article.get_by_role("heading", name="In this section you will learn to")
    ).to_be_in_viewport()
    return article


def test_a_phone_shows_each_section_first_and_the_last_leads_to_the_quiz(
    new_page: Callable[..., Page], live_server: Any, axe: Callable[[Page], None]
) -> None:
    base = live_server.url
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    register(page, base, unique_email("phone-layout"))

    # Before acknowledging: the notice in full, with its button and the way to get help.
    page.goto(f"{base}{LESSON}/sections/{SECTIONS[3][0]}")
    expect_first_screen(page, SECTIONS[3][1])
    expect(notice(page)).to_contain_text("For education only.")
    expect(notice(page)).to_contain_text("It is not medical advice")
    expect(notice(page).get_by_role("link", name="When to get medical help")).to_be_visible()
    axe(page)

    notice(page).get_by_role("button", name=UNDERSTOOD).click()
    wait_for_path(page, f"{base}{LESSON}/sections/{SECTIONS[3][0]}")

    # After: one line that still says it is for education, linking to the rest.
    line = notice(page)
    expect(line).to_have_text(
        re.compile(r"^\s*For education only\s*·\s*Full notice\s*·\s*When to get help\s*$")
    )
    expect(line.get_by_role("button")).to_have_count(0)
    assert lines_of(line.get_by_role("paragraph")) < 1.5, "the notice is not one line"
    article = expect_first_screen(page, SECTIONS[3][1])
    expect(article.get_by_role("paragraph").first).to_be_in_viewport()  # the text itself
    axe(page)

    # The full notice stays one tap away, and so does when to get medical help.
    line.get_by_role("link", name="Full notice").click()
    wait_for_path(page, f"{base}{LESSON}/notice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Educational-use notice")
    expect(page.get_by_role("main")).to_contain_text("it cannot be used to diagnose any condition")
    expect(page.get_by_role("button", name=UNDERSTOOD)).to_have_count(0)
    axe(page)
    page.go_back()
    notice(page).get_by_role("link", name="When to get help").click()
    page.wait_for_url(re.compile(r"/sections/spine-and-spasm#when-to-get-medical-help$"))
    expect(page.get_by_role("heading", name="When to get medical help")).to_be_in_viewport()

    # Every section opens the same way on a phone.
    for slug, title in SECTIONS:
        page.goto(f"{base}{LESSON}/sections/{slug}")
        expect_first_screen(page, title)
        expect(notice(page)).to_have_text(re.compile(r"^\s*For education only\s*·"))

    # The last section is no dead end: its button leads to the final quiz.
    mark_sections_read(page, base, len(SECTIONS))
    step = page.get_by_role("region", name="Your next step")
    take = step.get_by_role("link", name="Take the final quiz")
    expect(take).to_be_in_viewport()
    axe(page)
    take.click()
    wait_for_path(page, f"{base}{FINAL}")
    expect(page.get_by_role("button", name="Start the quiz")).to_be_visible()  # acknowledged

    # The course page shows the same next step.
    page.goto(f"{base}{LESSON}/")
    expect(
        page.get_by_role("region", name="Your next step").get_by_role(
            "link", name="Take the final quiz"
        )
    ).to_be_visible()
    axe(page)


def test_before_any_reading_the_course_says_where_to_start(
    new_page: Callable[..., Page], live_server: Any, axe: Callable[[Page], None]
) -> None:
    base = live_server.url
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    register(page, base, unique_email("phone-start"))
    step = page.get_by_role("region", name="Your next step")
    expect(step).to_contain_text("the final quiz opens once you have read them all")
    expect(step.get_by_role("link", name=f"Start: {SECTIONS[0][1]}")).to_be_in_viewport()
    expect(step.get_by_role("link", name="Take the final quiz")).to_have_count(0)
    axe(page)

    mark_sections_read(page, base, 2)
    page.goto(f"{base}{LESSON}/progress")
    step = page.get_by_role("region", name="Your next step")
    expect(step).to_contain_text("Read 5 more sections first:")
    for _slug, title in SECTIONS[2:]:
        expect(step.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(step.get_by_role("link", name=f"Continue: {SECTIONS[2][1]}")).to_be_visible()
