"""axe-core finds no serious or critical accessibility violation on any page.

To cover a new page, add an AxeCase to PAGES: its path, whether it needs the logged-in
learner, the HTTP status it answers with, and optionally a `setup(page)` that brings the
page into the state to check (a submitted form, an opened quiz).

The quiz and certificate pages need learners further on: `login="ready"` has read every
section but not yet acknowledged the quiz's notice; `login="quizzer"` has failed once, passed
twice (claiming a certificate for the first pass only) and has an attempt in progress. Their
pages' {placeholders} are filled in by the quiz_learners fixture.

The teaching pages need `login="instructor"`, whose cohort the quizzer has joined (so its
dashboard has a learner and charts), `login="member"` (the quizzer, once a member of it) or
`login="admin"`; their {cohort_id}, {member_id} and {join_code} are filled in by the
teaching fixture.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from string import Formatter
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    FINAL,
    LESSON,
    SECTIONS,
    TEACH,
    claim_certificate,
    create_account,
    create_cohort,
    join_by_link,
    log_in,
    mark_sections_read,
    register,
    start_final_quiz,
    take_final_quiz,
    unique_email,
)

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class AxeCase:
    id: str
    path: str  # may hold {placeholders} (see quiz_learners and teaching)
    login: bool | str = False  # True: the reader; else a login of quiz_learners or teaching
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


def expect_notice(page: Page) -> None:
    expect(page.get_by_role("heading", name="Before you start")).to_be_visible()


def submit_with_nothing_answered(page: Page) -> None:
    """The quizzer's attempt sent with every question blank: listed, nothing graded."""
    page.get_by_role("button", name="Submit my answers").click()
    expect(
        page.get_by_role("button", name=re.compile(r"^Submit with \d+ unanswered$"))
    ).to_be_visible()


def check_my_answers(page: Page) -> None:
    """A section's knowledge check sent as it is: its feedback page (Post/Redirect/Get)."""
    page.get_by_role("button", name="Check my answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Knowledge check:")


def submit_empty_name(page: Page) -> None:
    page.get_by_label("Name to print on the certificate").fill("")
    page.get_by_role("button", name="Issue my certificate").click()
    expect(page.locator(".field.has-error")).to_be_visible()


def upload_own_certificate(page: Page) -> None:
    """Download the learner's certificate and check it on the verification page."""
    base = page.url.partition("/verify/")[0]
    page.goto(f"{base}/certificates/")
    code = page.locator("tbody .code").first.inner_text()
    pdf = page.request.get(f"{base}/certificates/{code}/pdf")
    assert pdf.ok, pdf.status
    page.goto(f"{base}/verify/")
    page.get_by_label("Certificate PDF").set_input_files(
        files=[{"name": f"{code}.pdf", "mimeType": "application/pdf", "buffer": pdf.body()}]
    )
    page.get_by_role("button", name="Check this file").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Valid")


def submit_empty_cohort_form(page: Page) -> None:
    page.get_by_label("Cohort name").fill("")
    page.get_by_role("button", name="Create the cohort").click()
    expect(page.locator(".field.has-error")).to_be_visible()


def expect_chart_tables(page: Page) -> None:
    """Both charts are on show, each a table, so axe checks them with the page."""
    expect(page.locator("figure.chart table")).to_have_count(2)
    expect(page.locator("figure.chart table").last).to_be_visible()


def expect_membership(page: Page) -> None:
    expect(page.get_by_role("button", name="Leave Axe class")).to_be_visible()


def ask_to_leave(page: Page) -> None:
    """The first press of "Leave" only asks: the confirmation page, nothing changed."""
    page.get_by_role("button", name="Leave Axe class").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leave Axe class?")


def ask_to_delete(page: Page) -> None:
    """The first press of "Delete…" only asks: the confirmation page, nothing deleted."""
    page.get_by_role("button", name=re.compile(r"^Delete… quizzer")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete the account of")


def submit_empty_user_form(page: Page) -> None:
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator(".field.has-error").first).to_be_visible()


def submit_wrong_join_code(page: Page) -> None:
    page.get_by_label("Cohort code").fill("NOT-A-CODE")
    page.get_by_role("button", name="Join the cohort").click()
    expect(page.locator(".field.has-error")).to_be_visible()


UNKNOWN_CODE = "0000-0000-0000-0000-0000-0000-00"
DASHBOARD = "/instructor/cohorts/{cohort_id}"

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
    AxeCase("notice", f"{LESSON}/notice", login=True),
    # The quizzer acknowledged the notice (one line now) and has a next step past the quiz.
    AxeCase("section-acknowledged", f"{LESSON}/sections/{SECTIONS[3][0]}", login="quizzer"),
    AxeCase("course-next-step", f"{LESSON}/", login="quizzer"),
    AxeCase("progress-next-step", f"{LESSON}/progress", login="quizzer"),
    AxeCase("not-found", "/no-such-page", status=404),
    AxeCase("not-found-logged-in", f"{LESSON}/sections/no-such-section", login=True, status=404),
    AxeCase("final-quiz-notice", FINAL, login="ready", setup=expect_notice),
    AxeCase("final-quiz-history", FINAL, login="quizzer"),
    AxeCase("quiz-attempt", "{in_progress}", login="quizzer"),
    AxeCase(
        "quiz-attempt-unanswered",
        "{in_progress}",
        login="quizzer",
        setup=submit_with_nothing_answered,
    ),
    AxeCase(
        "knowledge-check-feedback",
        f"{LESSON}/sections/{SECTIONS[0][0]}",
        login=True,
        setup=check_my_answers,
    ),
    AxeCase("quiz-result-failed", "{failed}", login="quizzer"),
    AxeCase("quiz-result-passed", "{passed}", login="quizzer"),
    AxeCase("certificate-claim", "/certificates/claim/{unclaimed_id}", login="quizzer"),
    AxeCase(
        "certificate-claim-errors",
        "/certificates/claim/{unclaimed_id}",
        login="quizzer",
        setup=submit_empty_name,
    ),
    AxeCase("certificate", "/certificates/{code}", login="quizzer"),
    AxeCase("my-certificates", "/certificates/", login="quizzer"),
    AxeCase("verify", "/verify/"),
    AxeCase("verify-bad-code", "/verify/?code=not-a-code", status=400),
    AxeCase("verify-valid", "/verify/{code}"),
    AxeCase("verify-unknown", f"/verify/{UNKNOWN_CODE}", status=404),
    AxeCase("verify-upload", "/verify/", login="quizzer", setup=upload_own_certificate),
    AxeCase("privacy", "/privacy"),
    AxeCase("password-reset-request", "/auth/reset"),
    AxeCase("account", "/account/", login=True),
    AxeCase("account-data", "/account/data", login="quizzer"),
    AxeCase("join-confirm", "/cohorts/join/{join_code}", login=True),
    AxeCase("my-cohorts", "/cohorts/", login="member", setup=expect_membership),
    AxeCase("leave-confirm", "/cohorts/", login="member", setup=ask_to_leave),
    AxeCase("my-cohorts-wrong-code", "/cohorts/", login=True, setup=submit_wrong_join_code),
    AxeCase("instructor-cohorts", "/instructor/", login="instructor"),
    AxeCase(
        "instructor-cohort-errors",
        "/instructor/",
        login="instructor",
        setup=submit_empty_cohort_form,
    ),
    AxeCase("dashboard", DASHBOARD, login="instructor", setup=expect_chart_tables),
    AxeCase("dashboard-filtered", f"{DASHBOARD}?state=passed&sort=score", login="instructor"),
    AxeCase("dashboard-no-match", f"{DASHBOARD}?state=not_started", login="instructor"),
    AxeCase("cohort-learner", f"{DASHBOARD}/learners/{{member_id}}", login="instructor"),
    AxeCase(
        "cohort-learner-attempt",
        f"{DASHBOARD}/learners/{{member_id}}/attempts/{{failed_id}}",
        login="instructor",
    ),
    AxeCase("items-cohort", f"{DASHBOARD}/items", login="instructor"),
    AxeCase(
        "items-all-cohorts", f"/instructor/items/{LESSON.rsplit('/', 1)[-1]}", login="instructor"
    ),
    AxeCase("admin-users", "/admin/users", login="admin"),
    AxeCase("admin-users-errors", "/admin/users", login="admin", setup=submit_empty_user_form),
    AxeCase("admin-delete-confirm", "/admin/users?q=quizzer", login="admin", setup=ask_to_delete),
    AxeCase("admin-outbox", "/admin/outbox", login="admin"),
    AxeCase("dev-mailbox", "/dev/mail", login=True),  # the reader's registration mail, if any
]

STAFF = ("instructor", "admin")  # accounts made with the flask CLI
TEACHING_LOGINS = (*STAFF, "member")
TEACHING_PLACEHOLDERS = {"cohort_id", "member_id", "join_code"}


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


@pytest.fixture(scope="module")
def quiz_learners(browser: Any, live_server: Any) -> Iterator[dict[str, Any]]:
    """Two learners for the quiz and certificate pages: their cookies, and the addresses of
    the quizzer's attempts and certificate."""
    base = live_server.url
    contexts = []
    try:
        ready = browser.new_context()
        contexts.append(ready)
        page = ready.new_page()
        register(page, base, unique_email("ready"))
        mark_sections_read(page, base, len(SECTIONS))

        quizzer = browser.new_context()
        contexts.append(quizzer)
        page = quizzer.new_page()
        register(page, base, unique_email("quizzer"))
        mark_sections_read(page, base, len(SECTIONS))
        paths = {
            "failed": take_final_quiz(page, base, right=False),
            "passed": take_final_quiz(page, base, right=True),
            "unclaimed": take_final_quiz(page, base, right=True),
            "in_progress": start_final_quiz(page, base),
        }
        paths["code"] = claim_certificate(page, base, paths["passed"], "Zoë Ōtsuka 王小明")
        paths["unclaimed_id"] = paths["unclaimed"].rsplit("/", 1)[-1]
        paths["failed_id"] = paths["failed"].rsplit("/", 1)[-1]
        yield {
            "states": {"ready": ready.storage_state(), "quizzer": quizzer.storage_state()},
            "paths": paths,
        }
    finally:
        for context in contexts:
            context.close()


@pytest.fixture(scope="module")
def teaching(
    browser: Any, live_server: Any, quiz_learners: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """An instructor with a cohort that the quizzer has joined (as "member"), and an admin:
    the cohort's addresses, and everyone's cookies (the quiz learners' too)."""
    base = live_server.url
    emails = {role: unique_email(role) for role in STAFF}
    for role, email in emails.items():
        create_account(live_server, email, f"{role.title()} Axe", role)
    contexts = []

    def browser_page(storage_state: Any = None) -> Page:
        context = browser.new_context(storage_state=storage_state)
        contexts.append(context)
        return context.new_page()

    try:
        states = dict(quiz_learners["states"])
        admin = browser_page()
        log_in(admin, base, emails["admin"], lands_on=TEACH)
        states["admin"] = admin.context.storage_state()

        instructor = browser_page()
        log_in(instructor, base, emails["instructor"], lands_on=TEACH)
        states["instructor"] = instructor.context.storage_state()
        cohort = create_cohort(instructor, base, "Axe class", "2031-05-06")
        join_by_link(browser_page(states["quizzer"]), base, cohort)
        states["member"] = states["quizzer"]
        instructor.reload()
        member = instructor.locator("table.learners tbody th a").get_attribute("href")
        paths = {
            **quiz_learners["paths"],
            "cohort_id": cohort.id,
            "member_id": member.rsplit("/", 1)[-1],
            "join_code": cohort.code,
        }
        yield {"states": states, "paths": paths}
    finally:
        for context in contexts:
            context.close()


def world(case: AxeCase, request: pytest.FixtureRequest) -> dict[str, Any] | None:
    """The arranged world the case needs for its login or placeholders, if any."""
    placeholders = {name for _, name, _, _ in Formatter().parse(case.path) if name}
    if case.login in TEACHING_LOGINS or placeholders & TEACHING_PLACEHOLDERS:
        return request.getfixturevalue("teaching")
    if (case.login and case.login is not True) or placeholders:
        return request.getfixturevalue("quiz_learners")
    return None


@pytest.mark.parametrize("case", PAGES, ids=[case.id for case in PAGES])
def test_no_serious_accessibility_violations(
    case: AxeCase, new_page: Any, live_server: Any, axe: Any, request: pytest.FixtureRequest
) -> None:
    options: dict[str, Any] = {"bypass_csp": True}  # axe-core is injected as inline script
    path = case.path
    arranged = world(case, request)
    if arranged is not None:
        path = path.format(**arranged["paths"])
    if case.login is True:
        options["storage_state"] = request.getfixturevalue("learner_state")
    elif case.login:
        options["storage_state"] = arranged["states"][case.login]
    page = new_page(**options)
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == case.status
    if case.setup:
        case.setup(page)
    axe(page)
