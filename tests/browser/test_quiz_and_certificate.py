"""The final quiz and the certificate in a real browser: fail, re-read, retake and pass with
the keyboard only; then claim, download and verify a certificate."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.helpers import (
    ATTEMPT_URL,
    FINAL,
    LESSON,
    SECTION_TITLES,
    SECTIONS,
    PlannedQuestion,
    answer_with_the_keyboard,
    assert_form_holds,
    by_section,
    mark_sections_read,
    plan_answers,
    register,
    start_final_quiz,
    tab_to,
    take_final_quiz,
    unique_email,
    wait_for_path,
)
from tests.fonts import require_fonts_for

pytestmark = pytest.mark.browser

NAME = "Zoë Ōtsuka 王小明"


def expect_scores_by_cause(page: Page, plan: list[PlannedQuestion], right: bool) -> None:
    """The result's "By cause" table: one row per section drawn, with its score."""
    expect(page.get_by_role("heading", name="By cause")).to_be_visible()
    rows = page.locator("table.by-section tbody tr")
    points = by_section(plan)
    expect(rows).to_have_count(len(points))
    for slug, total in points.items():
        row = rows.filter(has=page.get_by_role("rowheader", name=SECTION_TITLES[slug], exact=True))
        expect(row.get_by_role("cell").first).to_have_text(f"{total if right else 0} of {total}")


def test_fail_reread_retake_and_pass_with_the_keyboard_only(page, live_server):
    base = live_server.url
    register(page, base, unique_email("quizkeys"))
    mark_sections_read(page, base, len(SECTIONS))
    page.goto(f"{base}{LESSON}/")

    # From here on, the keyboard only. (The course page's next step leads to the quiz.)
    tab_to(page, page.get_by_role("link", name="Take the final quiz"))
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}{FINAL}")
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="I understand: this is for education only"))
    page.keyboard.press("Enter")
    start = page.get_by_role("button", name="Start the quiz")
    expect(start).to_be_visible()
    expect(page.get_by_role("heading", name="Before you start")).to_have_count(0)
    tab_to(page, start)
    page.keyboard.press("Enter")
    page.wait_for_url(ATTEMPT_URL)
    first_attempt = page.url

    plan = answer_with_the_keyboard(page, right=False)
    page.keyboard.press("Enter")  # on "Submit my answers"
    expect(page.get_by_role("heading", level=1)).to_have_text("Your result: 0%")
    expect(page.locator(".lead .badge")).to_have_text("Not passed")
    assert page.url == first_attempt
    expect_scores_by_cause(page, plan, right=False)

    # Re-read the first cause missed, straight from the table.
    slug = plan[0].question.section
    reread = page.locator("table.by-section").get_by_role(
        "link", name=f"Re-read {SECTION_TITLES[slug]}", exact=True
    )
    tab_to(page, reread)
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}{LESSON}/sections/{slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(SECTION_TITLES[slug])

    # Back to the final quiz through the course page, and retake it.
    tab_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Course"))
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}{LESSON}/")
    tab_to(page, page.get_by_role("link", name="Retake the final quiz"))
    page.keyboard.press("Enter")
    wait_for_path(page, f"{base}{FINAL}")
    expect(page.locator(".badge.fail")).to_have_text("Not passed yet")
    tab_to(page, page.get_by_role("button", name="Retake the quiz"))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: ATTEMPT_URL.search(url) is not None and url != first_attempt)

    plan = answer_with_the_keyboard(page, right=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your result: 100%")
    expect(page.locator(".lead .badge")).to_have_text("Passed")
    expect_scores_by_cause(page, plan, right=True)
    expect(page.get_by_role("link", name="Get your certificate")).to_be_visible()


def fits_the_width(page: Page) -> bool:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return widths[0] <= widths[1]


def test_blanks_are_listed_and_kept_before_grading_on_a_phone(new_page, live_server):
    """At 390x844: the first question left blank, the submit lists it and grades nothing;
    the other answers stay chosen, and "Submit with 1 unanswered" grades the attempt."""
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    base = live_server.url
    register(page, base, unique_email("blanks"))
    mark_sections_read(page, base, len(SECTIONS))
    attempt = start_final_quiz(page, base)

    plan = plan_answers(page, right=True)
    skipped, answered = plan[0], plan[1:]
    for planned in answered:
        for control_id, wanted in planned.wanted.items():
            control = page.locator(f'[id="{control_id}"]')
            if isinstance(wanted, str):
                control.select_option(label=wanted)
            elif wanted:
                control.check()
    page.get_by_role("button", name="Submit my answers").click()

    summary = page.locator("section.unanswered")
    expect(summary.get_by_role("heading")).to_have_text(
        re.compile(r"^You have not answered 1 question( in full)?$")
    )
    link = summary.get_by_role("link", name="Question 1")
    expect(link).to_have_attribute("href", f"#question-{skipped.question.id}")
    assert page.url == f"{base}{attempt}"
    assert_form_holds(page, answered)  # nothing lost
    assert fits_the_width(page)
    link.click()
    expect(page.locator(f'[id="question-{skipped.question.id}"]')).to_be_in_viewport()

    page.get_by_role("button", name="Submit with 1 unanswered").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Your result: \d+%$"))
    review = page.locator(f'section.review[aria-labelledby="review-{skipped.question.id}"]')
    expect(review).to_contain_text("Not answered")
    assert fits_the_width(page)


def test_a_reload_of_knowledge_check_feedback_shows_it_again(page, live_server):
    base = live_server.url
    register(page, base, unique_email("check"))
    slug, title = SECTIONS[0]
    page.goto(f"{base}{LESSON}/sections/{slug}")
    page.get_by_role("button", name="Check my answers").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Knowledge check: {title}")
    feedback = page.locator("main").inner_text()
    page.reload()
    expect(heading).to_have_text(f"Knowledge check: {title}")
    assert page.locator("main").inner_text() == feedback
    expect(page.get_by_text("That action is not available here")).to_have_count(0)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def upload(page: Page, base: str, pdf: Path) -> None:
    page.goto(f"{base}/verify/")
    page.get_by_label("Certificate PDF").set_input_files(pdf)
    page.get_by_role("button", name="Check this file").click()
    wait_for_path(page, f"{base}/verify/upload")


def test_pass_claim_download_and_verify_a_certificate(page, live_server, tmp_path):
    require_fonts_for(NAME)
    base = live_server.url
    register(page, base, unique_email("certificate"), name="Zoe Otsuka")
    mark_sections_read(page, base, len(SECTIONS))
    take_final_quiz(page, base, right=True)

    page.get_by_role("link", name="Get your certificate").click()
    name = page.get_by_label("Name to print on the certificate")
    expect(name).to_have_value("Zoe Otsuka")  # the account's name, to confirm or correct
    name.fill(NAME)
    page.get_by_role("button", name="Issue my certificate").click()
    page.wait_for_url(lambda url: "/certificates/" in url and "/claim/" not in url)
    code = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_role("status")).to_contain_text("Your certificate is ready.")
    expect(page.locator("dd.code")).to_have_text(code)
    expect(page.locator("dl.facts")).to_contain_text(NAME)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the PDF").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    pdf = tmp_path / download.suggested_filename
    download.save_as(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert NAME in " ".join(text.split()), text
    assert code in text, text
    # The QR code's address, printed under it: this site (no PUBLIC_URL in development).
    compact = "".join(text.split())
    assert f"/verify/{code}" in compact, text
    assert f"{base}/verify/{code}" in compact, text

    page.get_by_role("link", name="Public verification page").click()
    wait_for_path(page, f"{base}/verify/{code}")
    expect(page.locator(".lead")).to_have_text("This certificate is genuine and valid.")
    expect(page.locator("dl.facts")).to_contain_text(NAME)

    upload(page, base, pdf)
    expect(page.get_by_role("heading", level=1)).to_have_text("Valid")
    expect(page.locator("dd.code").first).to_have_text(code)

    altered = tmp_path / "altered.pdf"
    altered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    upload(page, base, altered)
    expect(page.get_by_role("heading", level=1)).to_have_text("Altered file")

    appended = tmp_path / "appended.pdf"
    appended.write_bytes(data + b"\n")
    upload(page, base, appended)
    expect(page.get_by_role("heading", level=1)).to_have_text("Altered file")
