"""An instructor in a real browser: a cohort, a learner who joins it by the link, reads, fails
and passes the final quiz and gets a certificate; what the instructor then sees on the
dashboard, the learner's page, the question analysis, the charts and the CSV; and a learner
who leaves."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import (
    SECTION_TITLES,
    SECTIONS,
    TEACH,
    PlannedQuestion,
    answer_with_the_mouse,
    by_section,
    claim_certificate,
    create_account,
    create_cohort,
    join_by_link,
    log_in,
    mark_sections_read,
    register,
    start_final_quiz,
    unique_email,
    wait_for_path,
)

pytestmark = pytest.mark.browser

NAME = "Zoë Ōtsuka"
SUMMARY_TERMS = [
    "Enrolled",
    "Started",
    "Read everything",
    "Passed",
    "Certified",
    "Expiring within 90 days",
]
TITLES = [title for _slug, title in SECTIONS]
SHORT_TITLES = ["The spine", "Vehicles", "Sports", "Posture", "Joints", "Muscles", "Summary"]
BANDS = [f"{10 * b}-{10 * b + 9}%" for b in range(9)] + ["90-100%"]


@pytest.fixture(scope="module")
def instructor(live_server) -> str:
    """The e-mail of an instructor account in the live server's database."""
    email = unique_email("instructor")
    create_account(live_server, email, "Ines Instructor", "instructor")
    return email


def take_attempt(page: Page, base: str, right: bool) -> tuple[str, list[PlannedQuestion]]:
    """Start an attempt at the final quiz, answer everything right or wrong, submit; returns
    the attempt's path and the questions drawn."""
    path = start_final_quiz(page, base)
    plan = answer_with_the_mouse(page, right)
    page.get_by_role("button", name="Submit my answers").click()
    expect(page.locator(".lead .badge")).to_have_text("Passed" if right else "Not passed")
    return path, plan


def learner_row(page: Page, email: str) -> Locator:
    return page.locator("table.learners tbody tr").filter(has_text=email)


def learner_count(page: Page) -> Locator:
    return page.locator("p[role=status]")


def expect_marks(row: Locator, read: int) -> None:
    """The row's per-section marks: the first `read` sections read, the others not."""
    expect(row.locator("td.mark span")).to_have_count(len(SECTIONS))
    labels = row.locator("td.mark span").evaluate_all(
        "spans => spans.map(span => span.getAttribute('aria-label'))"
    )
    assert labels == ["read"] * read + ["not read"] * (len(SECTIONS) - read), labels


def apply_filters(page: Page, show: str, state: str, search: str = "") -> None:
    """Choose what to show and search for on the dashboard, apply, wait for the new page."""
    page.get_by_label("Show").select_option(label=show)
    page.get_by_label("Search name or e-mail").fill(search)
    page.get_by_role("button", name="Apply").click()

    def arrived(url: str) -> bool:
        query = parse_qs(urlsplit(url).query)
        return query.get("state", [""]) == [state] and query.get("q", [""]) == [search]

    page.wait_for_url(arrived)


def expect_chart(page: Page, title: str, labels: list[str], counts: list[str]) -> None:
    """A bar chart that is a table named by its title: a row per label, the count as text
    and its bar as SVG, which assistive technology skips."""
    figure = page.locator("figure.chart").filter(has_text=title)
    table = figure.get_by_role("table", name=title)
    expect(table).to_be_visible()
    expect(table.get_by_role("rowheader")).to_have_text(labels)
    expect(table.get_by_role("cell")).to_have_text(counts)
    expect(table.locator("svg .chart-bar")).to_have_count(len(labels))
    expect(table.locator("svg[aria-hidden=true]")).to_have_count(len(labels))


def item_row(page: Page, question_id: str) -> Locator:
    return page.locator("table.items tbody tr").filter(
        has=page.locator("span.meta").get_by_text(question_id, exact=True)
    )


def test_instructor_follows_a_learner_from_joining_to_certificate(
    new_page, live_server, instructor, tmp_path
):
    base = live_server.url
    teacher = new_page()
    log_in(teacher, base, instructor, lands_on=TEACH)  # an instructor lands on Teach
    expect(teacher.get_by_role("heading", level=1)).to_have_text("Your cohorts")
    teacher.get_by_role("navigation", name="Main").get_by_role("link", name="Teach").click()
    wait_for_path(teacher, f"{base}/instructor/")
    cohort = create_cohort(teacher, base, "Tuesday evening class", "2031-03-04")
    expect(teacher.get_by_role("status").first).to_contain_text(
        "Cohort created. Learners join with the code "
    )
    expect(teacher.locator("main")).to_contain_text("session on 4 March 2031")
    assert cohort.join_url == f"{base}/cohorts/join/{cohort.code}"
    expect(learner_count(teacher)).to_have_text("0 learners.")

    # The learner, in a browser of their own: joins by the link, reads three sections.
    learner = new_page()
    email = unique_email("cohort")
    register(learner, base, email, name=NAME)
    join_by_link(learner, base, cohort)
    membership = learner.locator("table tbody tr")
    expect(membership.get_by_role("rowheader")).to_have_text(cohort.name)
    expect(membership.get_by_role("cell")).to_have_text(
        ["4 March 2031", "Ines Instructor", f"Leave {cohort.name}"]
    )
    mark_sections_read(learner, base, 3)

    teacher.reload()
    row = learner_row(teacher, email)
    expect(row.get_by_role("cell").first).to_have_text("3/7")
    expect_marks(row, 3)
    expect(teacher.locator("dl.summary dd")).to_have_text(["1", "1", "0", "0", "0", "0"])

    # The rest of the lesson; the final quiz failed, then passed; the certificate.
    mark_sections_read(learner, base, len(SECTIONS), start=3)
    _failed, failed_plan = take_attempt(learner, base, right=False)
    passed, passed_plan = take_attempt(learner, base, right=True)
    code = claim_certificate(learner, base, passed, NAME)

    teacher.reload()
    expect(teacher.locator("dl.summary dt")).to_have_text(SUMMARY_TERMS)
    expect(teacher.locator("dl.summary dd")).to_have_text(["1", "1", "1", "1", "1", "0"])
    expect(learner_count(teacher)).to_have_text("1 learner, page 1 of 1.")
    row = learner_row(teacher, email)
    expect(row.get_by_role("rowheader")).to_contain_text(NAME)
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text("7/7")
    expect_marks(row, len(SECTIONS))
    expect(cells.nth(len(SECTIONS) + 2)).to_have_text("2")  # attempts, after the last activity
    expect(cells.nth(len(SECTIONS) + 3)).to_have_text("100%")
    expect(cells.nth(len(SECTIONS) + 4)).to_have_text("Passed")
    expect(row.locator(".badge.valid")).to_have_text("Valid")

    # The section columns by name; the charts: tables with SVG bars for the eye.
    headers = teacher.locator("table.learners thead th.mark")
    expect(headers).to_have_text(SHORT_TITLES)
    expect(teacher.locator("figure.chart table")).to_have_count(2)
    expect_chart(teacher, "Learners who read each section", TITLES, ["1"] * len(TITLES))
    expect_chart(teacher, "Learners by best quiz score", BANDS, ["0"] * 9 + ["1"])

    # Filters and search.
    apply_filters(teacher, "Passed", "passed")
    expect(learner_count(teacher)).to_have_text("1 learner, page 1 of 1.")
    expect(learner_row(teacher, email)).to_be_visible()
    apply_filters(teacher, "Not started", "not_started")
    expect(learner_count(teacher)).to_have_text("0 learners.")
    expect(teacher.locator("table.learners tbody tr")).to_have_text("No learner matches.")
    apply_filters(teacher, "Everyone", "", search=email)
    expect(learner_count(teacher)).to_have_text("1 learner, page 1 of 1.")
    expect(learner_row(teacher, email)).to_be_visible()

    # The CSV, as a spreadsheet would open it.
    with teacher.expect_download() as download_info:
        teacher.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "cohort-tuesday-evening-class-2031-03-04.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), data[:20]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["E-mail"] for r in rows] == [email]
    exported = rows[0]
    assert (exported["Cohort"], exported["Session date"]) == (cohort.name, "2031-03-04")
    assert exported["Name"] == NAME
    assert exported["Sections read"] == "7"
    assert all(exported[f"Read: {title}"] == "yes" for title in TITLES), exported
    assert exported["Attempts"] == "2"
    assert exported["Best score (%)"] == "100"
    assert exported["Passed"] == "yes"
    assert exported["Certificate code"] == code
    assert exported["Certificate status"] == "valid"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", exported["Pass date"]), exported
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", exported["Last activity"]), exported

    # The learner's page: a timeline of reading, the two attempts by cause, the certificate.
    learner_row(teacher, email).get_by_role("link", name=NAME).click()
    teacher.wait_for_url(re.compile(rf"/instructor/cohorts/{cohort.id}/learners/\d+$"))
    expect(teacher.get_by_role("heading", level=1)).to_have_text(NAME)
    events = teacher.locator("ol.timeline > li")
    expect(events).to_have_count(len(SECTIONS) + 3)
    for index, title in enumerate(TITLES):
        expect(events.nth(index)).to_contain_text(f"read “{title}”")
    # The critical questions missed, by their text, and the attempt behind the link.
    missed = [planned.question for planned in failed_plan if planned.question.critical]
    outcome = "not passed"
    if missed:
        several = "safety-critical questions" if len(missed) > 1 else "a safety-critical question"
        outcome = f"missed {several}: " + "; ".join(f"“{q.prompt}”" for q in missed)
    failed_event = events.nth(len(SECTIONS))
    expect(failed_event).to_contain_text(f"final quiz attempt: 0%, {outcome}.")
    failed_event.get_by_role("link", name="final quiz attempt").click()
    teacher.wait_for_url(re.compile(r"/learners/\d+/attempts/\d+$"))
    expect(teacher.get_by_role("heading", level=1)).to_have_text(f"{NAME}: final quiz attempt, 0%")
    expect(teacher.locator("section.review")).to_have_count(len(failed_plan))
    teacher.go_back()
    for slug, points in by_section(failed_plan).items():
        expect(failed_event).to_contain_text(f"{SECTION_TITLES[slug]} 0/{points}")
    passed_event = events.nth(len(SECTIONS) + 1)
    expect(passed_event).to_contain_text("final quiz attempt: 100%, passed.")
    for slug, points in by_section(passed_plan).items():
        expect(passed_event).to_contain_text(f"{SECTION_TITLES[slug]} {points}/{points}")
    expect(events.last).to_contain_text(f"certificate issued: {code}")
    expect(events.last.get_by_role("link", name=code)).to_have_attribute(
        "href", f"/certificates/{code}"
    )

    # Question analysis: from first attempts, then from all; one learner is too few to judge.
    teacher.get_by_role("navigation", name="Breadcrumb").get_by_role(
        "link", name=cohort.name
    ).click()
    wait_for_path(teacher, f"{base}{cohort.dashboard}")
    teacher.get_by_role("link", name="Question analysis").click()
    wait_for_path(teacher, f"{base}/instructor/cohorts/{cohort.id}/items")
    expect(teacher.locator("main")).to_contain_text("From learners' first attempts.")
    first = [planned.question.id for planned in failed_plan]
    second = [planned.question.id for planned in passed_plan]
    expect(teacher.locator("table.items tbody tr")).to_have_count(len(first))
    # Said once, above the table, not on every row.
    expect(teacher.locator("#too-few")).to_contain_text(
        "Too few attempts to judge any of these questions yet"
    )
    expect(teacher.get_by_text(re.compile("too few attempts", re.I))).to_have_count(1)
    for planned in failed_plan:
        row = item_row(teacher, planned.question.id)
        mark = row.get_by_role("rowheader").locator(".badge.critical")
        expect(mark).to_have_count(1 if planned.question.critical else 0)
        cells = row.get_by_role("cell")
        expect(cells.nth(0)).to_have_text("1")
        expect(cells.nth(1)).to_have_text(re.compile(r"^0%\s*Low facility: under 30%$"))
        expect(row).to_have_class("low-facility")
        expect(cells.nth(4)).to_have_text("")

    teacher.get_by_role("link", name="Include every attempt").click()
    teacher.wait_for_url(re.compile(r"/items\?attempts=all$"))
    drawn = set(first) | set(second)
    expect(teacher.locator("table.items tbody tr")).to_have_count(len(drawn))
    for question_id in drawn:
        attempts = (question_id in first) + (question_id in second)
        facility = 100 * (question_id in second) // attempts
        cells = item_row(teacher, question_id).get_by_role("cell")
        expect(cells.nth(0)).to_have_text(str(attempts))
        expect(cells.nth(1)).to_have_text(re.compile(rf"^{facility}%"))
        low = cells.nth(1).get_by_text("Low facility: under 30%")
        expect(low).to_have_count(1 if facility < 30 else 0)
        expect(cells.nth(4)).to_have_text("")


def test_a_learner_who_leaves_disappears_from_the_dashboard(new_page, live_server, instructor):
    base = live_server.url
    teacher = new_page()
    log_in(teacher, base, instructor, lands_on=TEACH)
    cohort = create_cohort(teacher, base, "Thursday morning class", "2031-04-10")

    # This learner types the code on "My cohorts" rather than following the link.
    learner = new_page()
    email = unique_email("leaver")
    register(learner, base, email, name="Lee Leaver")
    learner.get_by_role("navigation", name="Main").get_by_role("link", name="My cohorts").click()
    wait_for_path(learner, f"{base}/cohorts/")
    expect(learner.locator("main")).to_contain_text("You are not in any cohort.")
    learner.get_by_label("Cohort code").fill(cohort.code)
    learner.get_by_role("button", name="Join the cohort").click()
    expect(learner.get_by_role("status")).to_have_text(f"You joined {cohort.name}.")

    teacher.reload()
    expect(learner_count(teacher)).to_have_text("1 learner, page 1 of 1.")
    link = learner_row(teacher, email).get_by_role("link", name="Lee Leaver")
    learner_page = link.get_attribute("href")

    # Leaving asks first: the confirmation page says what it means, and nothing has changed.
    learner.get_by_role("button", name=f"Leave {cohort.name}").click()
    expect(learner.get_by_role("heading", level=1)).to_have_text(f"Leave {cohort.name}?")
    expect(learner.locator("main")).to_contain_text("Nothing has changed yet.")
    teacher.reload()
    expect(learner_count(teacher)).to_have_text("1 learner, page 1 of 1.")
    learner.get_by_role("button", name=f"Yes, leave {cohort.name}").click()
    expect(learner.get_by_role("status")).to_contain_text(
        "You left the cohort. Its instructors no longer see your progress;"
    )
    expect(learner.locator("main")).to_contain_text("You are not in any cohort.")

    teacher.reload()
    expect(learner_count(teacher)).to_have_text("0 learners.")
    expect(teacher.locator("table.learners tbody tr")).to_have_text("No learner matches.")
    expect(teacher.locator("dl.summary dd").first).to_have_text("0")
    expect(teacher.get_by_text(email)).to_have_count(0)
    response = teacher.goto(f"{base}{learner_page}")
    assert response is not None and response.status == 404


# What an instructor sees at each width (issue 21): the page never wider than the window,
# the join link broken to fit, every chart label whole, and the learners table either fitting
# or scrolling inside a named region the keyboard reaches.
LAYOUT = """() => {
  const box = element => element.getBoundingClientRect();
  const region = document.querySelector('.table-scroll');
  return {
    page: document.documentElement.scrollWidth,
    joinLink: box(document.querySelector('.join-link')).right,
    labels: [...document.querySelectorAll('.chart-label')].map(
      label => label.scrollWidth <= label.clientWidth && box(label).right <= innerWidth),
    tableScrolls: region.scrollWidth > region.clientWidth,
  };
}"""


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_dashboard_fits_the_window(new_page, live_server, instructor, width, height):
    base = live_server.url
    teacher = new_page(viewport={"width": width, "height": height})
    log_in(teacher, base, instructor, lands_on=TEACH)
    cohort = create_cohort(teacher, base, f"Layout class at {width} pixels wide", "2031-05-06")
    learner = new_page()
    register(learner, base, unique_email("layout"), name="Lay Out")
    join_by_link(learner, base, cohort)
    teacher.reload()

    layout = teacher.evaluate(LAYOUT)
    assert layout["page"] <= width, layout
    assert layout["joinLink"] <= width, layout
    assert layout["labels"] == [True] * (len(SECTIONS) + 10), layout
    assert layout["tableScrolls"] == (width < 1000), layout
    region = teacher.get_by_role("region", name="Learners")
    expect(region).to_have_attribute("tabindex", "0")
    expect(region.get_by_role("columnheader")).to_contain_text(["Learner", "Read", *SHORT_TITLES])
