"""One learner's whole journey: register, read, acknowledge, fail, pass, claim the certificate."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from learnapp.content import Catalogue
from soak import LESSON
from soak.answers import fill
from soak.browser import Browser, JourneyError, Page, Stopped

PASSWORD = "soak-test-password"  # noqa: S105 - throwaway accounts in a throwaway database
ALREADY_SUBMITTED = "This attempt was already submitted"


@dataclass
class Submission:
    attempt_id: int
    meant_to_pass: bool
    tries: int
    already_submitted: bool  # the result page said a retry found it closed


@dataclass
class Outcome:
    number: int
    email: str
    name: str
    finished: bool = False
    error: str | None = None
    submissions: list[Submission] = field(default_factory=list)
    certificate: str | None = None
    pdf_sha256: str | None = None
    registered_on_retry: bool = False  # the first register was stored, its answer lost


def _attempt_id(page: Page, what: str) -> int:
    match = re.fullmatch(r"/quizzes/attempts/(\d+)", page.path or "")
    if page.status != 302 or match is None:
        raise JourneyError(
            f"{what}: expected a redirect to an attempt, got {page.status} {page.path}"
        )
    return int(match.group(1))


def _register(browser: Browser, outcome: Outcome) -> None:
    browser.expect(browser.get("/auth/register"), 200, "register page")
    form = {
        "name": outcome.name,
        "email": outcome.email,
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    page = browser.post("/auth/register", form)
    if page.status == 400 and page.tries > 1 and "already exists" in page.text:
        # The first try was stored before its instance died: log in as any browser would.
        outcome.registered_on_retry = True
        browser.expect(browser.get("/auth/login"), 200, "login page")
        page = browser.post("/auth/login", {"email": outcome.email, "password": PASSWORD})
    browser.expect(page, 302, "register")


def _take_quiz(browser: Browser, catalogue: Catalogue, outcome: Outcome, right: bool) -> int:
    final = f"/quizzes/{LESSON}/final"
    browser.expect(browser.get(final), 200, "final quiz page")
    attempt_id = _attempt_id(browser.post(f"{final}/attempts"), "start the quiz")
    url = f"/quizzes/attempts/{attempt_id}"
    page = browser.expect(browser.get(url), 200, "attempt page")
    quiz = catalogue.final_quiz(LESSON)
    _ids, form = fill(page.text, quiz, right)
    submitted = browser.expect(browser.post(url, form), 302, "submit", location=url)
    result = browser.expect(browser.get(url), 200, "result page")
    already = ALREADY_SUBMITTED in result.text
    outcome.submissions.append(Submission(attempt_id, right, submitted.tries, already))
    passed = "Well done: you passed the final quiz." in result.text
    if passed != right:
        raise JourneyError(f"attempt {attempt_id}: meant to {'pass' if right else 'fail'}")
    return attempt_id


def journey(browser: Browser, catalogue: Catalogue, outcome: Outcome) -> Outcome:
    """Run the journey; the outcome says how far it got and what the learner saw."""
    try:
        _register(browser, outcome)
        course = f"/lessons/{LESSON}/"
        browser.expect(browser.get(course), 200, "course page")
        for section in catalogue.lessons[LESSON].sections:
            url = f"/lessons/{LESSON}/sections/{section.slug}"
            browser.expect(browser.get(url), 200, f"section {section.slug}")
            browser.expect(browser.post(f"{url}/read"), 302, f"mark {section.slug} read")
        final = f"/quizzes/{LESSON}/final"
        browser.expect(browser.get(final), 200, "final quiz page")
        browser.expect(browser.post(f"{final}/acknowledge"), 302, "acknowledge", location=final)

        _take_quiz(browser, catalogue, outcome, right=False)
        attempt_id = _take_quiz(browser, catalogue, outcome, right=True)

        claim = f"/certificates/claim/{attempt_id}"
        browser.expect(browser.get(claim), 200, "claim page")
        page = browser.expect(browser.post(claim, {"name": outcome.name}), 302, "claim")
        show = page.path or ""
        if not show.startswith("/certificates/"):
            raise JourneyError(f"claim: redirected to {show}")
        browser.expect(browser.get(show), 200, "certificate page")
        pdf = browser.expect(browser.get(f"{show}/pdf"), 200, "certificate download")
        if not pdf.body.startswith(b"%PDF-"):
            raise JourneyError("certificate download is not a PDF")
        outcome.certificate = show.rsplit("/", 1)[1]
        outcome.pdf_sha256 = hashlib.sha256(pdf.body).hexdigest()
        outcome.finished = True
    except (JourneyError, Stopped, ValueError) as error:
        outcome.error = str(error)
    return outcome
