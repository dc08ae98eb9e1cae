"""The learner's pages in each of their states, for `make lighthouse` and `make screenshots`.

Two learners are made with the app's own account service and signed in with the cookie a
login sets (bench.fixtures.login); then they walk through the app's own routes over HTTP, as
a browser's forms post: one reads every section, passes the final quiz and claims the
certificate; the other reads every section and leaves a final-quiz attempt open. The
knowledge-check feedback follows the check's form post: its page is the one that post
redirects to, under the session cookie the post set (the answers are kept in the session).
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit

from flask import Flask
from sqlalchemy import select

from bench.fixtures import LESSON, Login, answer_fields, login
from learnapp import accounts, grading
from learnapp.db import writing
from learnapp.models import QuizAttempt

GRADUATE = ("ada.learner@example.com", "Ada Learner")
READER = ("grace.reader@example.com", "Grace Reader")
PASSWORD = "learnapp-pages"  # noqa: S105 - a throwaway account on a throwaway database
CHECKED_SECTION = "spine-and-spasm"  # its knowledge check is answered for the feedback page
CHECK_BUTTON = "section.practice button[type=submit]"


class WalkError(RuntimeError):
    """A step of the walk got another answer than a browser would."""


@dataclass(frozen=True)
class Answer:
    status: int
    location: str  # the path a redirect leads to, or ""
    body: bytes
    cookie: str | None  # the session cookie it set ("name=value"), if any


@dataclass
class Visitor:
    """A signed-in browser without the browser: its cookie, and its forms' CSRF token. It
    keeps its cookie whatever the answers set, as Lighthouse's fixed header does."""

    base: str
    login: Login

    def request(
        self, method: str, path: str, fields: list[tuple[str, str]] | None = None
    ) -> Answer:
        parts = urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        headers = {"Cookie": self.login.cookie}
        body = None
        if fields is not None:
            body = urlencode([("csrf_token", self.login.csrf), *fields])
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            name = self.login.cookie.partition("=")[0]
            cookies = [
                value.split(";", 1)[0]
                for value in response.headers.get_all("Set-Cookie") or []
                if value.startswith(f"{name}=")
            ]
            return Answer(
                response.status,
                urlsplit(response.getheader("Location") or "").path,
                response.read(),
                cookies[-1] if cookies else None,
            )
        finally:
            connection.close()

    def get(self, path: str) -> bytes:
        answer = self.request("GET", path)
        if answer.status != 200:
            raise WalkError(f"GET {path}: {answer.status}")
        return answer.body

    def post(self, path: str, fields: list[tuple[str, str]] | None = None) -> str:
        """A form post that redirects (Post/Redirect/Get): the path it redirects to."""
        answer = self.request("POST", path, fields or [])
        if answer.status != 302:
            raise WalkError(
                f"POST {path}: {answer.status}\n{answer.body[:2000].decode(errors='replace')}"
            )
        return answer.location


@dataclass(frozen=True)
class Page:
    """A page of the journey in its state, as `cookie`'s learner sees it. With `submits`,
    the page is the one the form of that submit button on `path` leads to."""

    title: str
    path: str
    cookie: str
    submits: str | None = None


@dataclass
class LearnerPages:
    pages: list[Page]  # in journey order
    certificate_code: str


def account(app: Flask, email: str, name: str) -> Login:
    """A learner made with the account service, and the login a browser would then hold."""
    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            with writing(session):
                user = accounts.create_user(session, email=email, name=name, password=PASSWORD)
            return login(app, session, user.id)
        finally:
            session.close()


def _answers(app: Flask, attempt_id: int) -> list[tuple[str, str]]:
    """Every question of the attempt answered right, as its form sends them."""
    quiz = app.extensions["learnapp.content"].final_quiz(LESSON)
    session = app.extensions["learnapp.sessionmaker"]()
    try:
        drawn = session.scalar(select(QuizAttempt.drawn).where(QuizAttempt.id == attempt_id))
    finally:
        session.close()
    fields: list[tuple[str, str]] = []
    for entry in drawn:
        fields += answer_fields(quiz.question(entry["id"]), entry["order"], wrong=False)
    return fields


def read_everything(visitor: Visitor, sections: list[str]) -> None:
    for slug in sections:
        visitor.post(f"/lessons/{LESSON}/sections/{slug}/read")
    visitor.post(f"/quizzes/{LESSON}/final/acknowledge")


def open_attempt(visitor: Visitor) -> str:
    """Start the final quiz; the attempt's path."""
    attempt = visitor.post(f"/quizzes/{LESSON}/final/attempts")
    if not attempt.startswith("/quizzes/attempts/"):
        raise WalkError(f"starting the final quiz led to {attempt!r}")
    return attempt


def check_feedback(app: Flask, visitor: Visitor) -> Page:
    """Answer CHECKED_SECTION's knowledge check (its first question right, the others wrong);
    its feedback page. Where the check redirects to a page of its own (the answers kept in the
    session), that page under the session cookie the post set; where it answers the post
    itself, the section's page and the button a browser presses there."""
    checks = app.extensions["learnapp.content"].checks(LESSON)
    fields: list[tuple[str, str]] = []
    for number, question in enumerate(checks.for_section(CHECKED_SECTION)):
        fields += answer_fields(question, grading.practice_order(question), wrong=number > 0)
    answer = visitor.request("POST", f"/quizzes/{LESSON}/checks/{CHECKED_SECTION}", fields)
    title = "knowledge-check feedback"
    if answer.status == 302 and answer.cookie:
        return Page(title, answer.location, answer.cookie)
    if answer.status == 200:
        section = f"/lessons/{LESSON}/sections/{CHECKED_SECTION}"
        return Page(title, section, visitor.login.cookie, submits=CHECK_BUTTON)
    raise WalkError(f"the knowledge check answered {answer.status}")


def walk(app: Flask, base: str, certificate_name: str = GRADUATE[1]) -> LearnerPages:
    """Make both learners and walk them to every state; the pages to look at."""
    lesson = app.extensions["learnapp.content"].lessons[LESSON]
    sections = [section.slug for section in lesson.sections]
    graduate = Visitor(base, account(app, *GRADUATE))
    reader = Visitor(base, account(app, *READER))

    read_everything(reader, sections)
    in_progress = open_attempt(reader)

    read_everything(graduate, sections)
    result = open_attempt(graduate)
    attempt_id = int(result.rsplit("/", 1)[-1])
    if graduate.post(result, _answers(app, attempt_id)) != result:
        raise WalkError("submitting the attempt did not lead to its result")
    certificate = graduate.post(f"/certificates/claim/{attempt_id}", [("name", certificate_name)])
    if not certificate.startswith("/certificates/"):
        raise WalkError(f"claiming the certificate led to {certificate!r}")

    mine, theirs = graduate.login.cookie, reader.login.cookie
    pages = [Page("course", f"/lessons/{LESSON}/", mine)]
    pages += [
        Page(f"section: {slug}", f"/lessons/{LESSON}/sections/{slug}", mine) for slug in sections
    ]
    pages += [
        check_feedback(app, graduate),
        Page("final quiz", f"/quizzes/{LESSON}/final", mine),
        Page("attempt in progress", in_progress, theirs),
        Page("result", result, mine),
        Page("certificate", certificate, mine),
        Page("account", "/account/", mine),
    ]
    for page in pages:  # each answers as it should before anything measures it
        Visitor(base, replace(graduate.login, cookie=page.cookie)).get(page.path)
    return LearnerPages(pages, certificate_code=certificate.rsplit("/", 1)[-1])
