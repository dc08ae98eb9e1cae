"""An arranged world for the security tests, built through the app's own pages.

Learner A has read the lesson, passed the final quiz and claimed a certificate (a real PDF);
learner B has done nothing; instructor X made a cohort that A joined, and added instructor Z
to it as a co-instructor; instructor Y made another cohort; and there is an admin. A reset mail to B is failed (its server refused B's
address). Every state in it was reached by real requests, and the mail by the real worker.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, url_for
from sqlalchemy import func, select

from learnapp import accounts
from learnapp.db import Base, get_session
from learnapp.models import Cohort, OutboxMessage, QuizAttempt, User
from tests.conftest import PASSWORD, CSRFClient, deliver_outbox
from tests.smtp import Inbox, smtp_server, smtp_settings

LESSON = "spinal-muscle-spasm"
# Z, a co-instructor of X's cohort, comes last: the access matrix's table has a column for
# each of the others, and Z's is X's (tests/security/test_access_matrix.py).
ROLES = ("anonymous", "A", "B", "X", "Y", "admin", "Z")
LOGIN_PATH = "/auth/login"


@contextmanager
def opened(app: Flask) -> Iterator[Any]:
    """A session in an app context of its own, closed before any request is made.

    (conftest's `db` keeps an app context pushed, and requests made meanwhile would share
    its `g`: its session and flask-login's cached user.)
    """
    with app.app_context():
        yield get_session()


def snapshot(app: Flask) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows, in primary-key order."""
    state = {}
    with opened(app) as db:
        for table in Base.metadata.sorted_tables:
            rows = db.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            state[table.name] = (len(rows), digest)
    return state


def login(
    app: Flask, email: str, password: str = PASSWORD, remember: bool = False, address: str = ""
) -> CSRFClient:
    """A new client, logged in as `email`."""
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    if address:
        client.environ_base["REMOTE_ADDR"] = address
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post(LOGIN_PATH, data=data)
    assert response.status_code == 302, f"login of {email} failed: {response.status_code}"
    return client


def right_answers(attempt: QuizAttempt, quiz: Any) -> dict[str, list[str]]:
    """A submission answering every drawn question right, by display position."""
    form: dict[str, list[str]] = {}
    for entry in attempt.drawn:
        question, order = quiz.question(entry["id"]), entry["order"]
        name = f"q.{question.id}"

        def at(part_id: str, order: list[str] = order) -> str:
            return str(order.index(part_id) + 1)

        if question.type == "single":
            form[name] = [at(question.answer)]
        elif question.type == "multiple":
            form[name] = [at(o.id) for o in question.options if o.id in question.answer]
        elif question.type == "true_false":
            form[name] = [str(question.answer).lower()]
        else:
            parts = [p.id for p in (question.pairs or question.items)]
            for n, part in enumerate(parts, start=1):
                form[f"{name}.{n}"] = [at(part)]
    return form


def pass_final_quiz(app: Flask, client: CSRFClient) -> int:
    """Read every section, acknowledge the notice, pass the final quiz; the attempt id."""
    catalogue = app.extensions["learnapp.content"]
    lesson = catalogue.lessons[LESSON]
    for section in lesson.sections:
        response = client.post(f"/lessons/{LESSON}/sections/{section.slug}/read")
        assert response.status_code == 302
    assert client.post(f"/quizzes/{LESSON}/final/acknowledge").status_code == 302
    response = client.post(f"/quizzes/{LESSON}/final/attempts")
    match = re.fullmatch(r"/quizzes/attempts/(\d+)", response.location or "")
    assert match, f"the quiz did not open: {response.status_code} {response.location}"
    attempt_id = int(match.group(1))
    with opened(app) as db:
        form = right_answers(db.get(QuizAttempt, attempt_id), catalogue.final_quiz(LESSON))
    assert client.post(f"/quizzes/attempts/{attempt_id}", data=form).status_code == 302
    with opened(app) as db:
        attempt = db.get(QuizAttempt, attempt_id)
        assert attempt.state == "closed" and attempt.passed, "the arranged attempt did not pass"
    return attempt_id


def claim(client: CSRFClient, attempt_id: int, name: str) -> str:
    """Claim the certificate for a passed attempt through the real form; its code."""
    response = client.post(f"/certificates/claim/{attempt_id}", data={"name": name})
    match = re.fullmatch(r"/certificates/([0-9A-Z-]+)", response.location or "")
    assert match, f"the claim failed: {response.status_code}\n{response.text[:2000]}"
    return match.group(1)


def add_instructor(client: CSRFClient, cohort_id: int, email: str) -> None:
    """Add a co-instructor through the cohort's dashboard."""
    response = client.post(f"/instructor/cohorts/{cohort_id}/instructors", data={"email": email})
    assert response.status_code == 302, f"{email} was not added: {response.status_code}"


def create_cohort(client: CSRFClient, name: str) -> int:
    response = client.post(
        "/instructor/cohorts",
        data={"name": name, "session_date": "2025-03-04", "lesson": LESSON},
    )
    match = re.fullmatch(r"/instructor/cohorts/(\d+)", response.location or "")
    assert match, f"the cohort was not created: {response.status_code}"
    return int(match.group(1))


@dataclass
class World:
    app: Flask
    emails: dict[str, str]
    names: dict[str, str]
    ids: dict[str, int]
    cohort_names: dict[str, str]
    x_cohort: int = 0
    y_cohort: int = 0
    join_codes: dict[str, str] = field(default_factory=dict)
    attempt: int = 0
    certificate: str = ""
    certificate_name: str = ""
    reset_token: str = ""
    confirm_token: str = ""  # A's link to confirm A's address
    failed_mail: int = 0  # the outbox row of B's reset mail, which the worker gave up on

    def client(self, role: str, **kwargs: Any) -> CSRFClient:
        """A new client: anonymous, or logged in as the role's person."""
        if role == "anonymous":
            return self.app.test_client()  # type: ignore[return-value]
        return login(self.app, self.emails[role], **kwargs)

    def secrets_of_a(self) -> list[str]:
        """What must not show on a page refused to someone other than A."""
        return [self.names["A"], self.emails["A"], self.certificate, self.certificate_name]


def build_world(
    app: Flask,
    create_user: Any,
    *,
    a_name: str = "Zelda Quillfeather",
    certificate_name: str | None = None,
    x_cohort_name: str = "Kestrel evening class",
) -> World:
    people = {
        "A": ("zelda.quill@example.com", a_name, "learner"),
        "B": ("brook.other@example.com", "Brook Otherfield", "learner"),
        "X": ("xavier.teach@example.com", "Xavier Kestrel", "instructor"),
        "Y": ("yara.teach@example.com", "Yara Heronsby", "instructor"),
        "admin": ("ada.admin@example.com", "Ada Overseer", "admin"),
        "Z": ("zora.coteach@example.com", "Zora Cotterill", "instructor"),
    }
    ids = {
        role: create_user(email=email, name=name, role=kind).id
        for role, (email, name, kind) in people.items()
    }
    world = World(
        app=app,
        emails={role: email for role, (email, _n, _k) in people.items()},
        names={role: " ".join(name.split()) for role, (_e, name, _k) in people.items()},
        ids=ids,
        cohort_names={"X": x_cohort_name, "Y": "Heron morning class"},
    )
    x, y, a = world.client("X"), world.client("Y"), world.client("A")
    world.x_cohort = create_cohort(x, x_cohort_name)
    world.y_cohort = create_cohort(y, world.cohort_names["Y"])
    add_instructor(x, world.x_cohort, world.emails["Z"])
    with opened(app) as db:
        for role, cohort_id in (("X", world.x_cohort), ("Y", world.y_cohort)):
            world.join_codes[role] = db.get(Cohort, cohort_id).join_code
    assert a.post("/cohorts/join", data={"code": world.join_codes["X"]}).status_code == 302
    world.attempt = pass_final_quiz(app, a)
    world.certificate_name = certificate_name or world.names["A"]
    world.certificate = claim(a, world.attempt, world.certificate_name)
    with opened(app) as db:
        world.reset_token = accounts.reset_token(db.get(User, ids["A"]), app.secret_key)
        world.confirm_token = accounts.confirmation_token(
            db.get(User, ids["A"]), world.emails["A"], app.secret_key
        )
    world.failed_mail = fail_a_mail(app, world.emails["B"])
    return world


def fail_a_mail(app: Flask, address: str) -> int:
    """Ask for `address`'s password reset, and let the worker send it to a server that
    refuses the address: the row is failed (for admins to retry); its id."""
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    assert client.post("/auth/reset", data={"email": address}).status_code == 302
    backend = {key: app.config[key] for key in smtp_settings(0)}
    with smtp_server(Inbox(refuse=(address,))) as server:
        app.config.update(smtp_settings(server.port))
        deliver_outbox(app)
    app.config.update(backend)
    with opened(app) as db:
        return db.scalar(
            select(func.max(OutboxMessage.id)).where(OutboxMessage.failed_at.is_not(None))
        )


# --- Every route, with its parameters filled from the world --------------------------------


def route_arguments(world: World, endpoint: str) -> dict[str, Any]:
    """URL values for a rule: A's attempt and certificate, X's cohort, A's id, ..."""
    code = world.join_codes.get("X", "") if endpoint == "cohorts.confirm" else world.certificate
    return {
        "lesson_slug": LESSON,
        "section_slug": "spine-and-spasm",
        "attempt_id": world.attempt,
        "code": code,
        "cohort_id": world.x_cohort,
        "user_id": world.ids["A"],
        "token": world.confirm_token if endpoint == "account.confirm_email" else world.reset_token,
        "row_id": world.failed_mail,
    }


def rules(app: Flask) -> list[Any]:
    """Every rule but `static`, GET routes first, so that POSTs (logout last) come after."""

    def order(rule: Any) -> tuple[int, str]:
        if "GET" in rule.methods:
            return (0, rule.endpoint)
        return (2 if rule.endpoint == "auth.logout" else 1, rule.endpoint)

    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"), key=order)


def url_of(world: World, rule: Any, **overrides: Any) -> str:
    values = route_arguments(world, rule.endpoint) | overrides
    with world.app.test_request_context():
        return url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})


def request_rule(client: CSRFClient, world: World, rule: Any) -> Any:
    """GET for a GET route, an empty POST (with its CSRF token) for a POST-only one."""
    url = url_of(world, rule)
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url)
