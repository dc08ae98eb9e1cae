"""Hostile text in every field a person can fill comes back escaped wherever it is shown.

Over-long values are refused with a message and store nothing, and no random input, in
any field of any form, makes the app answer 500.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from pypdf import PdfReader
from sqlalchemy import select

from learnapp.models import Certificate, QuizAttempt, User
from tests.conftest import PASSWORD
from tests.security.world import (
    LESSON,
    World,
    build_world,
    login,
    opened,
    pass_final_quiz,
    rules,
    snapshot,
    url_of,
)

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "javascript-url": "javascript:alert(1)",
    "sql": "'; DROP TABLE users; --",
    "scripts": "محمد علي 王小明 😀🩹 Zoë",
    "template": "Ada {{7*7}}",  # a name needs a letter (learnapp/names.py)
}
SPECIAL = set("<>\"'&")
MARKUP = re.compile(r"<script>alert|<img[^>]*onerror", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def assert_shown_escaped(text: str, html: str, where: str) -> None:
    """`text` appears, escaped: never raw where escaping would change it."""
    if SPECIAL & set(text):
        assert text not in html, f"{where}: raw {text!r}"
    assert str(escape(text)) in html, f"{where}: {text!r} not shown"
    assert not JS_URL.search(html), f"{where}: a javascript: link"
    assert not MARKUP.search(html), f"{where}: injected markup"


def pdf_text(pdf: bytes) -> str:
    return "".join(
        "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split()
    )


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_is_escaped_everywhere(app, create_user, text):
    # Through the real forms: a cohort name, a certificate name, A's own name, a corrected
    # name, a revocation reason, a registration, a join code, a verify code, searches.
    world = build_world(app, create_user, x_cohort_name=text, certificate_name=text)
    a, x, admin = world.client("A"), world.client("X"), world.client("admin")
    assert a.post("/account/name", data={"name": text}).status_code == 302
    visitor = app.test_client()
    form = {"name": text, "email": "c@example.com", "password": PASSWORD, "confirm": PASSWORD}
    welcome = visitor.post("/auth/register", data=form, follow_redirects=True)
    code = world.certificate
    pages = {
        "welcome flash": welcome,
        "account settings": a.get("/account/"),
        "my certificates": a.get("/certificates/"),
        "certificate": a.get(f"/certificates/{code}"),
        "my cohorts": a.get("/cohorts/"),
        "join link": a.get(f"/cohorts/join/{world.join_codes['X']}"),
        "instructor cohorts": x.get("/instructor/"),
        "dashboard": x.get(f"/instructor/cohorts/{world.x_cohort}"),
        "dashboard search": x.get(
            f"/instructor/cohorts/{world.x_cohort}", query_string={"q": text}
        ),
        "learner page": x.get(f"/instructor/cohorts/{world.x_cohort}/learners/{world.ids['A']}"),
        "attempt, instructor": x.get(
            f"/instructor/cohorts/{world.x_cohort}/learners/{world.ids['A']}"
            f"/attempts/{world.attempt}"
        ),
        "item analysis": x.get(f"/instructor/cohorts/{world.x_cohort}/items"),
        "certificate, instructor": x.get(f"/certificates/{code}"),
        "admin users": admin.get("/admin/users"),
        "admin search": admin.get("/admin/users", query_string={"q": text}),
        "verify": visitor.get(f"/verify/{code}"),
    }
    reissued = x.post(f"/certificates/{code}/reissue", data={"name": f"{text} II"})
    assert reissued.status_code == 302
    pages["reissued"] = x.get(f"/certificates/{code}")
    assert (
        admin.post(
            f"/certificates/{code}/revoke", data={"reason": text, "confirmed": "yes"}
        ).status_code
        == 302
    )
    pages["revoked"] = a.get(f"/certificates/{code}")
    pages["verify, revoked"] = visitor.get(f"/verify/{code}")
    pages["join code"] = a.post("/cohorts/join", data={"code": text})
    pages["verify code"] = visitor.get("/verify/", query_string={"code": text})
    for where, response in pages.items():
        assert response.status_code in (200, 400), where
        assert_shown_escaped(text, response.text, where)
    # Echoed nowhere it is not expected, and still not raw: refused look-ups.
    for response in (visitor.get(f"/verify/{text}"), a.get(f"/cohorts/join/{text}")):
        assert response.status_code == 404
        assert not SPECIAL & set(text) or text not in response.text

    with opened(app) as db:
        first = db.scalar(
            select(Certificate).where(Certificate.code == code, Certificate.revision == 1)
        )
        assert first.name == " ".join(text.split())
        if text.isascii():  # the certificate shows the name as text, not as markup
            assert "".join(text.split()) in pdf_text(first.pdf)

    export = x.get(f"/instructor/cohorts/{world.x_cohort}/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert [" ".join(text.split())] == [row["Name"] for row in rows]
    assert "/" not in export.headers["Content-Disposition"].partition(";")[2]


# Each with a letter, as a name needs (learnapp/names.py).
FORMULAS = ["=A1+2", '=HYPERLINK("http://evil.example","x")', "+A1+2", "-A1+2", "@SUM(1,2)"]


def test_csv_export_neutralises_formulas(app, create_user):
    world = build_world(app, create_user)
    for n, formula in enumerate(FORMULAS):
        learner = create_user(email=f"={n}+1@example.com", name=formula)
        client = login(app, learner.email)
        assert client.post("/cohorts/join", data={"code": world.join_codes["X"]}).status_code == 302
    export = world.client("X").get(f"/instructor/cohorts/{world.x_cohort}/export.csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))[1:]
    names = {row[2] for row in rows}  # after the cohort's name and session date
    assert {f"'{formula}" for formula in FORMULAS} <= names
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# --- Over-long values ----------------------------------------------------------------------

LONG = "x" * 5000


def too_long(response: Any) -> bool:
    """The page says what is wrong: a limit in characters."""
    return bool(re.search(r"(longer than|at most|between \d+ and) \d+ characters", response.text))


def test_over_long_values_are_refused_with_a_message_and_store_nothing(app, create_user):
    world = build_world(app, create_user)
    b = world.client("B")
    unclaimed = pass_final_quiz(app, b)  # a passed attempt whose certificate is not claimed
    a, x, visitor = world.client("A"), world.client("X"), app.test_client()
    code = world.certificate
    email = "long@example.com"
    cases = {
        "register name": lambda: visitor.post(
            "/auth/register",
            data={"name": LONG, "email": email, "password": PASSWORD, "confirm": PASSWORD},
        ),
        "register e-mail": lambda: visitor.post(
            "/auth/register",
            data={
                "name": "N",
                "email": f"{LONG}@example.com",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        ),
        "register password": lambda: visitor.post(
            "/auth/register", data={"name": "N", "email": email, "password": LONG, "confirm": LONG}
        ),
        "login password": lambda: visitor.post(
            "/auth/login", data={"email": email, "password": LONG}
        ),
        "account name": lambda: a.post("/account/name", data={"name": LONG}),
        "cohort name": lambda: x.post(
            "/instructor/cohorts",
            data={"name": LONG, "session_date": "2025-03-04", "lesson": LESSON},
        ),
        "join code": lambda: a.post("/cohorts/join", data={"code": LONG}),
        "certificate name": lambda: b.post(f"/certificates/claim/{unclaimed}", data={"name": LONG}),
        "verify code": lambda: visitor.get("/verify/", query_string={"code": LONG}),
    }
    before = snapshot(app)
    for field, send in cases.items():
        response = send()
        assert response.status_code == 400, field
        assert too_long(response) or "not a certificate code" in response.text, field
        assert snapshot(app) == before, f"{field}: something was stored"
    # The certificate forms answer with a redirect and a message on the certificate page.
    for field, path, data in (
        ("corrected name", f"/certificates/{code}/reissue", {"name": LONG}),
        (
            "revocation note",
            f"/certificates/{code}/revoke",
            {"reason": "Issued in error", "note": LONG, "confirmed": "yes"},
        ),
    ):
        response = x.post(path, data=data, follow_redirects=True)
        assert response.status_code == 200, field
        assert too_long(response), f"{field}: no message about the length"
        assert snapshot(app) == before, f"{field}: something was stored"
    # Searches are cut, not refused.
    for response in (
        x.get(f"/instructor/cohorts/{world.x_cohort}", query_string={"q": LONG}),
        world.client("admin").get("/admin/users", query_string={"q": LONG}),
    ):
        assert response.status_code == 200


def test_nul_characters_are_refused_before_the_database(app, create_user):
    """PostgreSQL cannot hold or compare NUL: a 400 with a message, on every backend."""
    learner, admin = create_user(), create_user(email="admin@example.com", role="admin")
    a, boss, visitor = login(app, learner.email), login(app, admin.email), app.test_client()
    nul = "Ada\x00Lovelace"
    before = snapshot(app)
    for response in (
        visitor.post("/auth/login", data={"email": f"{nul}@example.com", "password": PASSWORD}),
        visitor.post(
            "/auth/register",
            data={"name": nul, "email": "n@example.com", "password": PASSWORD, "confirm": PASSWORD},
        ),
        visitor.post("/auth/reset", data={"email": nul}),
        a.post("/account/name", data={"name": nul}),
        a.post("/cohorts/join", data={"code": nul}),
        a.get("/certificates/AAAA%00"),
        boss.get("/admin/users", query_string={"q": nul}),
        visitor.get("/verify/", query_string={"code": nul}),
    ):
        assert response.status_code == 400, response.request.path
        assert "cannot be used (NUL)" in response.text
    assert snapshot(app) == before


# --- Fuzz: no input makes a 500 ------------------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            *HOSTILE.values(),
            *("\x00", "a\x00b", "İ" * 200, "\u202e", "1", "true", ""),
            # invisible names (issue 18), and a number past int()'s limit for strings
            *("\u200b", "\u2800", "\u3164", "\u115f", "क्\u200d", "9" * 4301),
        ]
    ),
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def signed_in(world: World, role: str) -> Any:
    """A client holding the role's current session (robust to fuzzed password changes)."""
    client = world.app.test_client()
    if role != "anonymous":
        with opened(world.app) as db:
            user = db.get(User, world.ids[role])
            session_id = user.get_id()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = session_id, True
    return client


def answer_fields(quiz: Any, drawn: list[dict[str, Any]]) -> list[str]:
    fields = []
    for entry in drawn:
        question = quiz.question(entry["id"])
        parts = len(question.pairs or question.items)
        name = f"q.{question.id}"
        fields += [f"{name}.{n}" for n in range(1, parts + 1)] if parts else [name]
    return fields


def open_attempt(world: World) -> tuple[str, list[str]]:
    """B's attempt in progress (started anew once a fuzzed submission closes one)."""
    with opened(world.app) as db:
        attempt = db.scalar(
            select(QuizAttempt).where(
                QuizAttempt.user_id == world.ids["B"], QuizAttempt.state == "in_progress"
            )
        )
    if attempt is None:
        response = signed_in(world, "B").post(f"/quizzes/{LESSON}/final/attempts")
        return open_attempt(world) if "/attempts/" in response.location else ("/", [])
    quiz = world.app.extensions["learnapp.content"].final_quiz(LESSON)
    return f"/quizzes/attempts/{attempt.id}", answer_fields(quiz, attempt.drawn)


@pytest.fixture
def fuzz_world(app, create_user) -> tuple[World, int]:
    """The world, with B half-way through the final quiz, and C's unclaimed pass."""
    world = build_world(app, create_user)
    b = world.client("B")
    for section in app.extensions["learnapp.content"].lessons[LESSON].sections:
        b.post(f"/lessons/{LESSON}/sections/{section.slug}/read")
    b.post(f"/quizzes/{LESSON}/final/acknowledge")
    world.ids["C"] = create_user(email="carol@example.com", name="Carol").id
    return world, pass_final_quiz(app, login(app, "carol@example.com"))


def post_forms(world: World, claimable: int) -> dict[str, tuple[str, str, list[str]]]:
    """endpoint -> (who posts, URL, the fields of its form)."""
    checks = world.app.extensions["learnapp.content"].checks(LESSON).for_section("spine-and-spasm")
    y, code = world.ids["Y"], world.certificate
    password = ["current", "password", "confirm"]
    return {
        "auth.register": ("anonymous", "/auth/register", ["name", "email", "password", "confirm"]),
        "auth.login": ("anonymous", "/auth/login", ["email", "password", "remember"]),
        "auth.reset_request": ("anonymous", "/auth/reset", ["email"]),
        "auth.reset": ("anonymous", f"/auth/reset/{world.reset_token}", ["password", "confirm"]),
        "verify.upload": ("anonymous", "/verify/upload", ["pdf"]),
        "account.change_name": ("B", "/account/name", ["name"]),
        "account.change_email": ("B", "/account/email", ["email", "current"]),
        "account.send_confirmation": ("B", "/account/confirmation", []),
        "account.confirm_email": ("A", f"/account/confirm/{world.confirm_token}", []),
        "account.change_password": ("B", "/account/password", password),
        "account.delete": ("B", "/account/delete", ["current"]),
        "account.instructor_profile": (
            "X",
            "/account/instructor",
            ["instructor_name", "instructor_number", "issuing_body"],
        ),
        "lessons.mark_read": ("B", f"/lessons/{LESSON}/sections/spine-and-spasm/read", []),
        "lessons.acknowledge": ("B", f"/lessons/{LESSON}/notice/acknowledge", ["section"]),
        "quizzes.check": (
            "B",
            f"/quizzes/{LESSON}/checks/spine-and-spasm",
            [f"q.{q.id}" for q in checks] + [f"q.{q.id}.1" for q in checks],
        ),
        "quizzes.acknowledge": ("B", f"/quizzes/{LESSON}/final/acknowledge", []),
        "quizzes.start": ("B", f"/quizzes/{LESSON}/final/attempts", []),
        "quizzes.submit": ("B", "", []),  # see open_attempt()
        "certificates.claim": ("C", f"/certificates/claim/{claimable}", ["name"]),
        "certificates.reissue": ("X", f"/certificates/{code}/reissue", ["name"]),
        "certificates.revoke": ("X", f"/certificates/{code}/revoke", ["reason", "note"]),
        "certificates.reinstate": ("X", f"/certificates/{code}/reinstate", ["reason", "note"]),
        "certificates.unblock": ("X", f"/certificates/{code}/unblock", ["reason", "note"]),
        "admin.withdraw_certificate": (
            "admin",
            f"/admin/certificates/{code}/withdraw",
            ["confirm"],
        ),
        "cohorts.join": ("B", "/cohorts/join", ["code"]),
        "cohorts.leave": ("A", f"/cohorts/{world.x_cohort}/leave", ["confirmed"]),
        "instructor.create": ("Y", "/instructor/cohorts", ["name", "session_date", "lesson"]),
        "instructor.remove": (
            "X",
            f"/instructor/cohorts/{world.x_cohort}/learners/{world.ids.get('A', 0)}/remove",
            ["confirmed"],
        ),
        "instructor.rotate_codes": ("X", f"/instructor/cohorts/{world.x_cohort}/codes", []),
        "instructor.archive": ("X", f"/instructor/cohorts/{world.x_cohort}/archive", []),
        "instructor.restore": ("X", f"/instructor/cohorts/{world.x_cohort}/restore", []),
        "instructor.add_instructor": (
            "X",
            f"/instructor/cohorts/{world.x_cohort}/instructors",
            ["email"],
        ),
        "instructor.remove_instructor": (
            "X",
            f"/instructor/cohorts/{world.x_cohort}/instructors/{world.ids.get('Z', 0)}/remove",
            [],
        ),
        "admin.update_user": ("admin", f"/admin/users/{y}", [f"u{y}-role", f"u{y}-enabled"]),
        "admin.create_user": ("admin", "/admin/users/new", ["name", "email", "role"]),
        "admin.send_reset": ("admin", f"/admin/users/{y}/reset", []),
        "admin.delete_user": ("admin", f"/admin/users/{y}/delete", ["confirmed"]),
        "admin.retry_outbox": ("admin", f"/admin/outbox/{world.failed_mail}/retry", []),
        "auth.logout": ("B", "/auth/logout", []),
    }


def test_the_fuzz_covers_every_post_route(app):
    posts = {rule.endpoint for rule in rules(app) if "POST" in rule.methods}
    stub = World(app, {}, {}, {"Y": 0}, {}, certificate="C")
    assert set(post_forms(stub, 0)) == posts


@FUZZ
@given(data=st.data())
def test_no_form_input_makes_a_500(fuzz_world, data):
    world, claimable = fuzz_world
    forms = post_forms(world, claimable)
    endpoint = data.draw(st.sampled_from(sorted(forms)), label="endpoint")
    role, url, fields = forms[endpoint]
    if endpoint == "quizzes.submit":
        url, fields = open_attempt(world)
    # Fields by index, so that what is drawn does not depend on the world's current state
    # (B's open attempt changes as fuzzed submissions close it).
    values = data.draw(st.lists(st.tuples(st.integers(0, 99), TEXT), max_size=8), label="fields")
    form = {(fields or ["x"])[index % len(fields or ["x"])]: text for index, text in values}
    form |= data.draw(st.dictionaries(st.text(max_size=20), TEXT, max_size=2), label="extra")
    form.pop("csrf_token", None)
    response = signed_in(world, role).post(url, data=form)
    assert response.status_code < 500, (endpoint, form)


GETS = [
    ("A", "/certificates/{}", None),
    ("A", "/certificates/{}/pdf", None),
    ("A", "/cohorts/join/{}", None),
    ("anonymous", "/verify/{}", None),
    ("anonymous", "/auth/reset/{}", None),
    ("A", "/account/confirm/{}", None),
    ("A", "/lessons/{}/", None),
    ("X", "/instructor/items/{}", None),
    ("anonymous", "/verify/", ["code"]),
    ("admin", "/admin/users", ["q", "page"]),
    ("admin", "/admin/certificates", ["q"]),
    ("X", "/instructor/cohorts/{cohort}", ["q", "state", "sort", "order", "page"]),
    ("X", "/instructor/cohorts/{cohort}/items", ["attempts"]),
    ("anonymous", "/auth/login", ["next"]),
]


@FUZZ
@given(data=st.data())
def test_no_address_or_query_makes_a_500(fuzz_world, data):
    world, _claimable = fuzz_world
    role, template, params = data.draw(st.sampled_from(GETS), label="where")
    segment = data.draw(TEXT, label="segment").translate(str.maketrans("", "", "/?#")) or "x"
    path = template.format(segment, cohort=world.x_cohort)
    query = {name: data.draw(TEXT, label=name) for name in params or []}
    response = signed_in(world, role).get(path, query_string=query)
    assert response.status_code < 500, (path, query)


# --- Shapes that once answered 500: huge ids, files for text, huge numbers (issue 18) -------

SENTINEL_ID = 987654321
# Past PostgreSQL's INTEGER (2^31 - 1), past SQLite's (2^63 - 1), and past Python's int()
# limit for strings (4,300 digits).
HUGE_NUMBERS = [str(2**31), str(2**63), "9" * 30, "9" * 4301]
NOT_A_FILE = "takes text, not a file"
PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def converters(rule: Any) -> dict[str, str]:
    """A rule's arguments and the converter each is written with ("default" for none)."""
    return {argument: name or "default" for name, argument in PART.findall(rule.rule)}


def test_every_number_in_an_address_is_a_bounded_id(app):
    """`<int:...>` has no upper bound: an id past the database's integers was a 500."""
    numbers = {
        (rule.rule, argument)
        for rule in rules(app)
        for argument, name in converters(rule).items()
        if name in ("int", "float")
    }
    assert not numbers, "use <id:...> (views.IdConverter) for these"
    assert any("id" in converters(rule).values() for rule in rules(app))


def role_for(endpoint: str) -> str:
    """Who reaches a route's own checks: its blueprint's kind of user (A holds the records)."""
    return {"instructor": "X", "admin": "admin", "auth": "anonymous"}.get(
        endpoint.partition(".")[0], "A"
    )


def a_file(content: bytes = b"Ada Lovelace") -> tuple[io.BytesIO, str]:
    return (io.BytesIO(content), "name.txt")


def multipart(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data=data, content_type="multipart/form-data")


def test_text_fields_sent_as_files_are_refused_with_a_message(world):
    """Each text field of the forms people fill in, sent as a file with every other field
    right: a 400 that says so, and nothing stored."""
    forms = {
        "register": (
            "anonymous",
            "/auth/register",
            {
                "name": "Nova",
                "email": "nova@example.com",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        ),
        "login": ("anonymous", "/auth/login", {"email": world.emails["B"], "password": PASSWORD}),
        "reset": ("anonymous", "/auth/reset", {"email": world.emails["B"]}),
        "reset link": (
            "anonymous",
            f"/auth/reset/{world.reset_token}",
            {"password": "a new password", "confirm": "a new password"},
        ),
        "join": ("B", "/cohorts/join", {"code": world.join_codes["X"]}),
        "name change": ("B", "/account/name", {"name": "Brook Renamed"}),
        "cohort creation": (
            "Y",
            "/instructor/cohorts",
            {"name": "New class", "session_date": "2025-03-04", "lesson": LESSON},
        ),
        "user creation": (
            "admin",
            "/admin/users/new",
            {"name": "Nia Newcomer", "email": "nia.new@example.com", "role": "learner"},
        ),
    }
    before = snapshot(world.app)
    for form, (role, url, values) in forms.items():
        for field in values:
            client = signed_in(world, role)
            response = multipart(client, url, {**values, field: a_file()})
            assert response.status_code == 400, (form, field)
            assert NOT_A_FILE in response.text, (form, field)
            assert snapshot(world.app) == before, f"{form}, {field}: something was stored"


def test_an_answer_position_of_4301_digits_is_refused(fuzz_world):
    """Past Python's int() limit for strings: refused as any unknown choice is, for every
    answer field of the final quiz and of a knowledge check."""
    world, _claimable = fuzz_world
    url, fields = open_attempt(world)
    checks = world.app.extensions["learnapp.content"].checks(LESSON).for_section("spine-and-spasm")
    check_url = f"/quizzes/{LESSON}/checks/spine-and-spasm"
    b = signed_in(world, "B")
    before = snapshot(world.app)
    messages = []
    for where, name in [(url, f) for f in fields] + [(check_url, f"q.{q.id}") for q in checks]:
        response = b.post(where, data={name: "1" * 4301})
        assert response.status_code == 400, (where, name)
        messages.append(response.text)
    assert any("is not one of its choices" in text for text in messages)
    assert snapshot(world.app) == before


def test_hostile_shapes_in_every_address_and_form_answer_4xx_and_change_nothing(fuzz_world):
    """Walks the URL map and every form, as the user each is for: ids past the databases'
    integers in every id of every address, and in ?page=; each field of every form sent as a
    file, as a number too long for int(), and as JSON; none answers 500 or changes a row."""
    world, claimable = fuzz_world
    app = world.app
    submit = open_attempt(world)  # B's attempt, opened before the snapshot
    before = snapshot(app)
    sent = 0

    def check(response: Any, where: Any, allowed: tuple[int, ...] = (400, 404)) -> None:
        nonlocal sent
        sent += 1
        assert response.status_code in allowed, (where, response.status_code)

    def unchanged(where: str) -> None:
        assert snapshot(app) == before, f"{where}: a row changed"

    for rule in rules(app):
        client = signed_in(world, role_for(rule.endpoint))
        ids = [argument for argument, name in converters(rule).items() if name == "id"]
        for argument in ids:
            template = url_of(world, rule, **{argument: SENTINEL_ID})
            for number in HUGE_NUMBERS:
                url = template.replace(str(SENTINEL_ID), number)
                response = client.get(url) if "GET" in rule.methods else client.post(url)
                check(response, (rule.endpoint, argument, number[:20]), (404, 405))
        if "GET" in rule.methods:
            url = url_of(world, rule)
            for page in [*HUGE_NUMBERS, "-1", "0", "1.5"]:
                response = client.get(url, query_string={"page": page})
                check(response, (rule.endpoint, "page", page[:20]), (200, 302, 403, 404))
        unchanged(rule.endpoint)

    for endpoint, (role, url, fields) in post_forms(world, claimable).items():
        if endpoint == "quizzes.submit":
            url, fields = submit
        client = signed_in(world, role)
        text_fields = [f for f in fields if f != "pdf"] or ["comment"]
        for field in text_fields:
            check(multipart(client, url, {field: a_file()}), (endpoint, field, "file"))
        # Longer than any field allows. (A form without fields acts on an empty POST.)
        for field in fields:
            response = client.post(url, data={field: HUGE_NUMBERS[-1]})
            check(response, (endpoint, field, "digits"), (302, 400, 404))
        json_body = {field: 5 for field in text_fields}
        response = client.post(
            url, json=json_body, headers={"X-CSRFToken": client.csrf_token()}, csrf=False
        )
        check(response, (endpoint, "json"))
        unchanged(endpoint)
    assert sent > 150
