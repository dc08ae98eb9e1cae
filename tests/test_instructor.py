"""Instructor pages: access, the cohort dashboard, a learner's timeline, charts and the CSV."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import secrets
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from learnapp import learner_progress, reports
from learnapp.cohorts import new_join_code
from learnapp.db import Base, utcnow
from learnapp.models import (
    Certificate,
    Cohort,
    CohortInstructor,
    CompletionRecord,
    Enrolment,
    QuizAttempt,
    QuizVersion,
    SectionRead,
    User,
)
from tests.conftest import PASSWORD, CSRFClient, statements_listened

LESSON = "spinal-muscle-spasm"
QUIZ = "spinal-muscle-spasm-final"
SECTIONS = [
    ("spine-and-spasm", "The spine and what a spasm is"),
    ("vehicle-accidents", "Vehicle accidents"),
    ("sports-strains", "Sports strains and abrupt movements"),
    ("poor-posture", "Poor posture"),
    ("joint-dysfunction", "Spinal joint dysfunction"),
    ("muscular-dysfunction", "Muscular dysfunction"),
    ("summary", "Summary: how the causes connect"),
]
DAY = timedelta(days=1)


@pytest.fixture
def app_config(app_config, request):
    """Tests may add settings with indirect parametrisation of `app_config`."""
    return {**app_config, **getattr(request, "param", {})}


# --- Arranging rows directly (bulk inserts; shared with the other instructor tests) -------


def add_users(db: Any, people: list[tuple[str, str]]) -> list[int]:
    """Learners as (name, e-mail), inserted in one statement; their ids in the same order."""
    rows = [{"name": n, "email": e, "password_hash": "!", "role": "learner"} for n, e in people]
    return list(db.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), rows))


def add_cohort(db: Any, instructor_id: int, name: str = "Tuesday class", **values: Any) -> int:
    cohort = Cohort(
        name=name,
        session_date=values.get("session_date", date(2025, 3, 4)),
        lesson=LESSON,
        join_code=values.get("join_code") or new_join_code(),
        instructor_id=instructor_id,
        short_code=values.get("short_code"),
        short_code_expires_at=values.get("short_code_expires_at"),
    )
    db.add(cohort)
    db.flush()
    # Its instructor runs it as cohorts.create makes them do: as its first co-instructor.
    db.add(CohortInstructor(cohort_id=cohort.id, user_id=instructor_id, added_by_id=instructor_id))
    db.flush()
    return cohort.id


def enrol(db: Any, cohort_id: int, user_ids: list[int]) -> None:
    db.execute(insert(Enrolment), [{"cohort_id": cohort_id, "user_id": u} for u in user_ids])


def add_quiz_version(db: Any) -> int:
    return db.scalar(
        insert(QuizVersion).returning(QuizVersion.id),
        {"quiz_id": QUIZ, "content_version": "test", "document": {}},
    )


def reads(user_id: int, count: int, at: datetime) -> list[dict[str, Any]]:
    """The first `count` sections, read a minute apart from `at`."""
    return [
        {
            "user_id": user_id,
            "lesson": LESSON,
            "section": slug,
            "read_at": at + i * timedelta(minutes=1),
        }
        for i, (slug, _title) in enumerate(SECTIONS[:count])
    ]


def closed_attempt(
    user_id: int,
    version_id: int,
    at: datetime,
    percent: float,
    passed: bool,
    critical: bool = False,
    by_section: dict[str, list[float]] | None = None,
    score: float | None = None,
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "quiz_id": QUIZ,
        "quiz_version_id": version_id,
        "state": "closed",
        "drawn": [],
        "started_at": at - timedelta(minutes=10),
        "submitted_at": at,
        "score": percent / 100 * 12 if score is None else score,
        "points": 12,
        "percent": percent,
        "passed": passed,
        "critical_missed": critical,
        "by_section": by_section or {},
    }


def certificate(
    user_id: int,
    issued_at: datetime,
    valid_until: datetime,
    revoked_at: datetime | None = None,
    superseded_at: datetime | None = None,
    code: str | None = None,
    revision: int = 1,
) -> dict[str, Any]:
    code = code or secrets.token_hex(8).upper()
    pdf = f"%PDF-fake {code} {revision}".encode()
    return {
        "code": code,
        "revision": revision,
        "user_id": user_id,
        "lesson": LESSON,
        "lesson_title": "Spinal muscle spasm",
        "name": "Someone",
        "score_percent": 90.0,
        "content_version": "test",
        "organisation": "Test org",
        "issued_at": issued_at,
        "valid_until": valid_until,
        "superseded_at": superseded_at,
        "revoked_at": revoked_at,
        "revoke_reason": "Issued in error" if revoked_at else None,
        "created_at": issued_at,
        "pdf": pdf,
        "sha256": hashlib.sha256(pdf).hexdigest(),
    }


def refresh_progress(app: Flask, db: Any) -> None:
    """Rows inserted directly bypass the services that keep learner_progress: recompute it."""
    learner_progress.rebuild(db, app.extensions["learnapp.content"])


def logged_in(app: Flask, email: str) -> CSRFClient:
    """A new client, logged in as `email`."""
    client = app.test_client()
    assert (
        client.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302
    )
    return client  # type: ignore[return-value]


def table_counts(db: Any) -> dict[str, int]:
    db.rollback()  # see what requests committed since
    tables = Base.metadata.sorted_tables
    return {t.name: db.scalar(select(func.count()).select_from(t)) for t in tables}


def learner_names(html: str) -> list[str]:
    """The learners listed in the dashboard table, in order."""
    return re.findall(
        r'<th scope="row"><a href="/instructor/cohorts/\d+/learners/\d+">([^<]*)</a>', html
    )


def row_of(html: str, name: str) -> str:
    return next(row for row in html.split("<tr>") if f">{name}</a>" in row)


def cells(row: str) -> list[str]:
    """A table row's cells as text."""
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def former_members(html: str) -> list[list[str]]:
    """The dashboard's "Former members" table, a list of cells per row (none: [])."""
    section = html.split('<h2 id="former-members">')[1]
    if "<tbody>" not in section:
        return []
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [cells(row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


# --- Access ------------------------------------------------------------------------------

ROUTES = [
    ("get", "/instructor/"),
    ("post", "/instructor/cohorts"),
    ("get", "/instructor/cohorts/{cohort}"),
    ("get", "/instructor/cohorts/{cohort}/learners/{member}"),
    ("get", "/instructor/cohorts/{cohort}/items"),
    ("get", f"/instructor/items/{LESSON}"),
    ("get", "/instructor/cohorts/{cohort}/export.csv"),
]
COHORT_ROUTES = [r for r in ROUTES if "{cohort}" in r[1]]


@pytest.fixture
def two_cohorts(db, create_user) -> SimpleNamespace:
    """Two instructors, each with a cohort of one learner."""
    mine = create_user(email="mine@example.com", name="Mia Instructor", role="instructor")
    theirs = create_user(email="theirs@example.com", name="Theo Instructor", role="instructor")
    member, other = add_users(db, [("Mo Member", "mo@ex.org"), ("Ot Other", "ot@ex.org")])
    cohort = add_cohort(db, mine.id, "Mia's class")
    their_cohort = add_cohort(db, theirs.id, "Theo's class")
    enrol(db, cohort, [member])
    enrol(db, their_cohort, [other])
    db.commit()
    return SimpleNamespace(cohort=cohort, member=member, their_cohort=their_cohort, other=other)


def call(client: CSRFClient, method: str, url: str, **ids: int) -> Any:
    return getattr(client, method)(url.format(**ids))


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_learners_are_refused(client, learner, two_cohorts, method, url):
    ids = {"cohort": two_cohorts.cohort, "member": two_cohorts.member}
    assert call(client, method, url, **ids).status_code == 403


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_visitors_are_sent_to_log_in(client, two_cohorts, method, url):
    response = call(client, method, url, cohort=two_cohorts.cohort, member=two_cohorts.member)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize(("method", "url"), COHORT_ROUTES)
def test_another_instructors_cohort_is_not_found(app, two_cohorts, method, url):
    client = logged_in(app, "mine@example.com")
    ids = {"cohort": two_cohorts.their_cohort, "member": two_cohorts.other}
    assert call(client, method, url, **ids).status_code == 404
    assert call(client, method, url, cohort=999_999, member=two_cohorts.member).status_code == 404


def test_a_learner_outside_the_cohort_is_not_found(app, two_cohorts):
    client = logged_in(app, "mine@example.com")
    url = f"/instructor/cohorts/{two_cohorts.cohort}/learners/"
    assert client.get(url + str(two_cohorts.member)).status_code == 200
    assert client.get(url + str(two_cohorts.other)).status_code == 404


def test_an_unknown_lesson_has_no_item_analysis(app, two_cohorts):
    assert logged_in(app, "mine@example.com").get("/instructor/items/nope").status_code == 404


def test_instructors_list_their_own_cohorts_and_admins_every_cohort(app, create_user, two_cohorts):
    create_user(email="admin@example.com", role="admin")
    mine = logged_in(app, "mine@example.com").get("/instructor/").text
    assert "Mia&#39;s class" in mine and "Theo&#39;s class" not in mine
    admin = logged_in(app, "admin@example.com")
    listing = admin.get("/instructor/").text
    assert "Mia&#39;s class" in listing and "Theo&#39;s class" in listing
    for method, url in COHORT_ROUTES:
        for cohort, member in [
            (two_cohorts.cohort, two_cohorts.member),
            (two_cohorts.their_cohort, two_cohorts.other),
        ]:
            assert call(admin, method, url, cohort=cohort, member=member).status_code == 200


# --- An arranged cohort ------------------------------------------------------------------
#
#   learner          reads            attempts (days ago: %)            certificate
#   Ann Never        -                -                                 -
#   Bob Reader       3, 10 days ago   -                                 -             stuck
#   Cat Fresh        2, yesterday     -                                 -
#   Dan Critical     7, 20 days ago   2: 85 failed, critical missed     -             critical
#   Eve Expiring     7, 1200 days     1100: 90 passed                   expires in 30 days
#   Fay Certified    7, 60 days       50: 100 passed                    valid (revision 2)
#   Gus Expired      -                1200: 80 passed                   expired
#   Hal Revoked      5, 40 days       30: 70 critical; 29: 95 passed    revoked
#   Ivy Stuckfail    -                30: 50 failed                     -             stuck
#   Kim 100% Keen    -                -                                 -
#   Lee_Under        -                -                                 -
# Olga Outsider reads and passes but is in no cohort of this instructor; Ann is also in
# another instructor's cohort.
NAMES = [
    "Ann Never",
    "Bob Reader",
    "Cat Fresh",
    "Dan Critical",
    "Eve Expiring",
    "Fay Certified",
    "Gus Expired",
    "Hal Revoked",
    "Ivy Stuckfail",
    "Kim 100% Keen",
    "Lee_Under",
]


def email_of(name: str) -> str:
    return name.split()[0].lower() + "@example.com"


@pytest.fixture
def arranged(app, db, create_user) -> SimpleNamespace:
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    other_teacher = create_user(email="other@example.com", role="instructor")
    now = utcnow()
    ids = dict(zip(NAMES, add_users(db, [(n, email_of(n)) for n in NAMES]), strict=True))
    (olga,) = add_users(db, [("Olga Outsider", "olga@example.com")])
    cohort = add_cohort(db, teacher.id)
    enrol(db, cohort, list(ids.values()))
    enrol(db, add_cohort(db, other_teacher.id, "Elsewhere"), [ids["Ann Never"], olga])
    version = add_quiz_version(db)
    retired = {"user_id": ids["Bob Reader"], "lesson": LESSON, "section": "retired-section"}
    db.execute(
        insert(SectionRead),
        [
            *reads(ids["Bob Reader"], 3, now - 10 * DAY),
            {**retired, "read_at": now},
            *reads(ids["Cat Fresh"], 2, now - DAY),
            *reads(ids["Dan Critical"], 7, now - 20 * DAY),
            *reads(ids["Eve Expiring"], 7, now - 1200 * DAY),
            *reads(ids["Fay Certified"], 7, now - 60 * DAY),
            *reads(ids["Hal Revoked"], 5, now - 40 * DAY),
            *reads(olga, 7, now - 5 * DAY),
        ],
    )
    hal_first = {"spine-and-spasm": [2.0, 3], "vehicle-accidents": [1.0, 2]}
    db.execute(
        insert(QuizAttempt),
        [
            closed_attempt(ids["Dan Critical"], version, now - 2 * DAY, 85, False, critical=True),
            closed_attempt(ids["Eve Expiring"], version, now - 1100 * DAY, 90, True),
            closed_attempt(ids["Fay Certified"], version, now - 50 * DAY, 100, True),
            closed_attempt(ids["Gus Expired"], version, now - 1200 * DAY, 80, True),
            closed_attempt(ids["Hal Revoked"], version, now - 30 * DAY, 70, False, True, hal_first),
            closed_attempt(ids["Hal Revoked"], version, now - 29 * DAY, 95, True),
            closed_attempt(ids["Ivy Stuckfail"], version, now - 30 * DAY, 50, False),
            closed_attempt(olga, version, now - 4 * DAY, 100, True),
        ],
    )
    fay_code = "FAYCODE"
    db.execute(
        insert(Certificate),
        [
            certificate(ids["Eve Expiring"], now - 1095 * DAY, now + 30 * DAY),
            certificate(
                ids["Fay Certified"],
                now - 50 * DAY,
                now + 1000 * DAY,
                code=fay_code,
                superseded_at=now - 49 * DAY,
            ),
            certificate(
                ids["Fay Certified"],
                now - 49 * DAY,
                now + 1000 * DAY,
                code=fay_code,
                revision=2,
            ),
            certificate(ids["Gus Expired"], now - 1200 * DAY, now - 100 * DAY),
            certificate(
                ids["Hal Revoked"],
                now - 29 * DAY + timedelta(hours=1),
                now + 1000 * DAY,
                revoked_at=now - 5 * DAY,
                code="HALCODE",
            ),
            certificate(olga, now - 4 * DAY, now + 30 * DAY),
        ],
    )
    refresh_progress(app, db)
    db.commit()
    return SimpleNamespace(
        cohort=cohort, ids=ids, url=f"/instructor/cohorts/{cohort}", fay_code=fay_code
    )


@pytest.fixture
def teacher(app, arranged) -> CSRFClient:
    return logged_in(app, "teach@example.com")


# --- The dashboard -----------------------------------------------------------------------


def test_summary_counts_the_cohort(teacher, arranged):
    html = teacher.get(arranged.url).text
    summary = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert summary == {
        "Enrolled": "11",
        "Started": "8",  # all but Ann, Kim and Lee
        "Read everything": "3",  # Dan, Eve, Fay
        "Passed": "4",  # Eve, Fay, Gus, Hal
        "Certified": "2",  # Eve, Fay (Gus expired, Hal revoked)
        "Expiring within 90 days": "1",  # Eve
    }


def test_each_learner_has_a_mark_per_section(teacher, arranged):
    html = teacher.get(arranged.url).text
    assert html.count('<th scope="col" class="mark"') == len(SECTIONS)
    bob = row_of(html, "Bob Reader")  # read the first three; a retired section does not count
    assert "<td>3/7</td>" in bob
    assert re.findall(r'aria-label="(read|not read)"', bob) == ["read"] * 3 + ["not read"] * 4
    hal = row_of(html, "Hal Revoked")
    assert "Passed" in hal and "Revoked" in hal and "95%" in hal
    assert "Missed a critical question" in row_of(html, "Dan Critical")
    assert "Expired" in row_of(html, "Gus Expired")
    assert "Olga" not in html


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("", NAMES),
        ("not_started", ["Ann Never", "Kim 100% Keen", "Lee_Under"]),
        ("stuck", ["Bob Reader", "Ivy Stuckfail"]),
        ("critical", ["Dan Critical"]),  # Hal missed one too, but then passed
        ("expiring", ["Eve Expiring"]),
        ("passed", ["Eve Expiring", "Fay Certified", "Gus Expired", "Hal Revoked"]),
    ],
)
def test_filters(teacher, arranged, state, expected):
    html = teacher.get(f"{arranged.url}?state={state}").text
    assert learner_names(html) == expected
    assert f"{len(expected)} learner" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("bob", ["Bob Reader"]),
        ("READER", ["Bob Reader"]),
        ("IVY@EXAMPLE", ["Ivy Stuckfail"]),
        ("%", ["Kim 100% Keen"]),  # literal, not a wildcard
        ("_", ["Lee_Under"]),
        ("0%", ["Kim 100% Keen"]),
        ("nobody", []),
    ],
)
def test_search_by_name_or_email(teacher, arranged, query, expected):
    html = teacher.get(arranged.url, query_string={"q": query}).text
    assert learner_names(html) == expected


def test_sort_by_best_score_descending_puts_no_score_last(teacher, arranged):
    html = teacher.get(f"{arranged.url}?sort=score&order=desc").text
    assert learner_names(html) == [
        "Fay Certified",  # 100
        "Hal Revoked",  # 95 (best of 70 and 95)
        "Eve Expiring",  # 90
        "Dan Critical",  # 85
        "Gus Expired",  # 80
        "Ivy Stuckfail",  # 50
        *["Ann Never", "Bob Reader", "Cat Fresh", "Kim 100% Keen", "Lee_Under"],
    ]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (1, NAMES[:4]),
        (2, NAMES[4:8]),
        (3, NAMES[8:]),
        (4, []),
    ],
)
def test_pagination(app, teacher, arranged, page, expected):
    app.config["DASHBOARD_PAGE_SIZE"] = 4
    html = teacher.get(f"{arranged.url}?page={page}").text
    assert learner_names(html) == expected
    assert f"11 learners, page {page} of 3." in html
    assert ('rel="next"' in html) == (page < 3)
    assert ('rel="prev"' in html) == (page > 1)


def test_pages_keep_the_filter(app, teacher, arranged):
    app.config["DASHBOARD_PAGE_SIZE"] = 1
    html = teacher.get(f"{arranged.url}?state=stuck&page=2").text
    assert learner_names(html) == ["Ivy Stuckfail"]
    assert "2 learners, page 2 of 2." in html
    assert re.search(r'rel="prev" href="[^"]*state=stuck', html)


@pytest.mark.parametrize("search", ["", "e"])
@pytest.mark.parametrize("descending", [False, True])
def test_walking_by_name_and_sorting_give_the_same_pages(app, db, arranged, search, descending):
    """learners_page reads a page by name either by sorting the matching learners or by
    walking every account in name order; which it takes depends on the counts, never the
    result."""
    content = app.extensions["learnapp.content"]
    scope = reports.cohort_scope(
        db.get(Cohort, arranged.cohort), content.lessons[LESSON], content.final_quiz(LESSON)
    )
    now = utcnow()
    counted = reports.overview(db, scope, now)
    walking, sorting = (dataclasses.replace(counted, accounts=n) for n in (0, 10**9))
    for state in reports.FILTERS:
        for page in (1, 2, 3):
            pages = [
                reports.learners_page(
                    db, scope, overview, now, state=state, search=search,
                    descending=descending, page=page, per_page=4,
                )
                for overview in (walking, sorting)
            ]  # fmt: skip
            assert pages[0] == pages[1], (state, page)
    assert reports.learners_page(db, scope, walking, now, per_page=20).rows


def test_charts_are_tables_with_a_bar_per_number(teacher, arranged):
    html = teacher.get(arranged.url).text
    figures = html.split("<figure")[1:]
    assert len(figures) == 2
    funnel, scores = [
        (
            re.findall(r'<th scope="row" class="chart-label">([^<]+)</th>', figure),
            re.findall(r'class="chart-value">(\d+)</span>', figure),
            [
                float(w)
                for w in re.findall(r'<rect class="chart-bar" [^>]*width="([\d.]+)"', figure)
            ],
        )
        for figure in figures
    ]
    # Readers of each section among the cohort (Olga's reads do not count), each bar a share
    # of the 11 enrolled.
    readers = ["6", "6", "5", "4", "4", "3", "3"]
    assert funnel[:2] == ([title for _s, title in SECTIONS], readers)
    assert funnel[2] == [round(100 * int(n) / 11, 1) for n in readers]
    # Best scores: Fay 100, Hal 95, Eve 90 -> 90-100%; Dan 85, Gus 80 -> 80-89%; Ivy 50.
    bands = ["0", "0", "0", "0", "0", "1", "0", "0", "2", "3"]
    assert scores[1] == bands
    assert scores[0][-1] == "90-100%" and scores[0][5] == "50-59%"
    assert scores[2][-1] == 100 and scores[2][0] == 0  # scaled to the largest band


# --- A learner's timeline ----------------------------------------------------------------


def timeline(html: str) -> list[str]:
    listing = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    items = re.findall(r"<li>(.*?)</li>", listing, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]


def test_learner_timeline_is_in_time_order(teacher, arranged):
    html = teacher.get(f"{arranged.url}/learners/{arranged.ids['Hal Revoked']}").text
    assert "<h1>Hal Revoked</h1>" in html
    events = [event.split(": ", 1)[1] for event in timeline(html)]
    assert events == [
        *[f"read “{title}”" for _slug, title in SECTIONS[:5]],
        "final quiz attempt: 70%, missed a safety-critical question. By cause: "
        "The spine and what a spasm is 2/3, Vehicle accidents 1/2",
        "final quiz attempt: 95%, passed. By cause:",
        "certificate issued: HALCODE Revoked",
    ]


def test_learner_timeline_shows_a_corrected_certificate(teacher, arranged):
    html = teacher.get(f"{arranged.url}/learners/{arranged.ids['Fay Certified']}").text
    events = timeline(html)
    assert len(events) == 7 + 1 + 2
    assert events[-2].endswith("certificate issued: FAYCODE")
    assert events[-1].endswith("certificate corrected (revision 2): FAYCODE")


def test_a_learner_with_no_activity(teacher, arranged):
    html = teacher.get(f"{arranged.url}/learners/{arranged.ids['Ann Never']}").text
    assert "No activity yet." in html


# --- CSV export --------------------------------------------------------------------------


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.data.startswith("\ufeff".encode())  # the BOM Excel needs for UTF-8
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_csv_has_a_row_per_learner_and_a_column_per_section(teacher, arranged):
    response = teacher.get(f"{arranged.url}/export.csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.mimetype == "text/csv"
    header, *rows = csv_rows(response)
    assert header == [
        "Cohort",
        "Session date",
        "Name",
        "E-mail",
        "Sections read",
        *[f"Read: {title}" for _slug, title in SECTIONS],
        "Last activity",
        "Attempts",
        "Best score (%)",
        "Passed",
        "Pass date",
        "Certificate code",
        "Certificate status",
        "Certificate issued",
        "Certificate expires",
        "Status",
    ]
    by_name = {row[2]: row for row in rows}
    assert list(by_name) == NAMES and len(rows) == len(NAMES)
    bob = by_name["Bob Reader"]
    assert bob[:12] + bob[13:] == [
        "Tuesday class", "2025-03-04", "Bob Reader", "bob@example.com", "3",
        *["yes"] * 3, *["no"] * 4, "0", "", "no", "", "", "none", "", "", "member",
    ]  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", bob[12])  # last activity
    fay = by_name["Fay Certified"]
    assert fay[13:19] == ["1", "100", "yes", fay[16], arranged.fay_code, "valid"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", fay[16])  # pass date
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", fay[19]) and fay[20] > fay[19]


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Zoé Ñúñez-Ørsted", "Zoé Ñúñez-Ørsted"),
    ],
)
def test_csv_defuses_formulas_and_keeps_accents(app, db, create_user, name, cell):
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id)
    enrol(db, cohort, add_users(db, [(name, "x@example.com")]))
    db.commit()
    response = logged_in(app, "teach@example.com").get(f"/instructor/cohorts/{cohort}/export.csv")
    _header, row = csv_rows(response)
    assert row[2] == cell


# --- Former members' completion records ----------------------------------------------------


def add_record(db: Any, cohort_id: int, name: str, kept_because: str, **values: Any) -> str:
    """A completion record the cohort keeps, as retention.keep_records writes one; its code."""
    now = utcnow()
    code = values.pop("code", None) or secrets.token_hex(8).upper()
    db.execute(
        insert(CompletionRecord),
        {
            "cohort_id": cohort_id,
            "code": code,
            "name": name,
            "lesson_title": "Spinal muscle spasm",
            "score_percent": 90.0,
            "joined_at": now - 60 * DAY,
            "issued_at": now - 50 * DAY,
            "valid_until": now + 1000 * DAY,
            "recorded_at": now - DAY,
            "kept_because": kept_because,
            **values,
        },
    )
    return code


@pytest.fixture
def former(app, db, arranged) -> SimpleNamespace:
    """The arranged cohort keeps four records: of an account deleted, of a learner who left
    (the certificate since revoked), of one who left with a certificate now expired, and of a
    certificate withdrawn before its holder left (as migration 0010 marks those it cannot
    tell apart); and one of Fay's, a member, withdrawn while in the cohort."""
    now = utcnow()
    (leo,) = add_users(db, [("Leo Left", "leo@example.com")])
    codes = {
        "Zed Deleted": add_record(db, arranged.cohort, "Zed Deleted", "deleted"),
        "Leo Left": add_record(db, arranged.cohort, "Leo Left", "left", user_id=leo),
        "Old Expired": add_record(
            db, arranged.cohort, "Old Expired", "left", valid_until=now - 10 * DAY
        ),
        "Wyn Withdrawn": add_record(db, arranged.cohort, "Wyn Withdrawn", "withdrawn"),
    }
    db.execute(
        insert(Certificate),
        [
            certificate(
                leo, now - 50 * DAY, now + 1000 * DAY, code=codes["Leo Left"], revoked_at=now - DAY
            )
        ],
    )
    fay = arranged.ids["Fay Certified"]
    add_record(
        db, arranged.cohort, "Fay Certified", "withdrawn", user_id=fay, code=arranged.fay_code
    )
    db.commit()
    return SimpleNamespace(codes=codes)


def test_the_dashboard_lists_former_members_below_the_members(teacher, arranged, former):
    html = teacher.get(arranged.url).text
    assert learner_names(html) == NAMES  # Fay once, as a member
    assert html.index('id="learners"') < html.index('id="former-members"')
    assert "4 former members completed" in html
    rows = former_members(html)
    assert [row[:2] for row in rows] == [
        ["Leo Left", "Left the cohort"],
        ["Old Expired", "Left the cohort"],
        ["Wyn Withdrawn", "Certificate withdrawn"],
        ["Zed Deleted", "Account deleted"],
    ]
    by_name = {row[0]: row for row in rows}
    assert by_name["Zed Deleted"][2:4] == ["90%", former.codes["Zed Deleted"]]
    assert by_name["Zed Deleted"][-1] == "Valid"
    assert by_name["Leo Left"][-1].startswith("Revoked")  # as the certificate is now
    assert by_name["Old Expired"][-1] == "Expired"
    summary = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert summary["Enrolled"] == "11" and summary["Certified"] == "2"


def test_the_csv_lists_former_members_after_the_members(teacher, arranged, former):
    header, *rows = csv_rows(teacher.get(f"{arranged.url}/export.csv"))
    assert [row[2] for row in rows] == [
        *NAMES,
        "Leo Left",
        "Old Expired",
        "Wyn Withdrawn",
        "Zed Deleted",
    ]
    statuses = {row[2]: row[-1] for row in rows}
    assert statuses["Fay Certified"] == "member" and statuses["Leo Left"] == "left"
    assert (statuses["Wyn Withdrawn"], statuses["Zed Deleted"]) == ("withdrawn", "deleted")
    zed = rows[-1]
    assert len(zed) == len(header)
    assert zed[:2] == ["Tuesday class", "2025-03-04"]
    assert zed[3:5] == ["", ""]
    # best score, passed, pass date (not kept), certificate code and status, issued, expires
    assert zed[-8:-1] == ["90", "yes", "", former.codes["Zed Deleted"], "valid", *zed[-3:-1]]
    certificate_status = {row[2]: row[-4] for row in rows}
    assert certificate_status["Leo Left"] == "revoked"
    assert certificate_status["Old Expired"] == "expired"
    assert certificate_status["Wyn Withdrawn"] == "withdrawn"


def test_a_cohort_without_former_members_says_so(teacher, arranged):
    html = teacher.get(arranged.url).text
    assert former_members(html) == [] and "former members completed" not in html
    assert "No former member" in html


@pytest.mark.parametrize(
    ("name", "cell"),
    [('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'), ("@SUM(A1)", "'@SUM(A1)")],
)
def test_csv_defuses_formulas_in_former_members_records(app, db, create_user, name, cell):
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id)
    add_record(db, cohort, name, "left", code="-1+2")
    db.commit()
    response = logged_in(app, "teach@example.com").get(f"/instructor/cohorts/{cohort}/export.csv")
    _header, row = csv_rows(response)
    assert (row[2], row[-5]) == (cell, "'-1+2")


def test_former_members_cost_one_statement_however_many(app, db, teacher, arranged):
    def statements() -> int:
        seen: list[str] = []
        with statements_listened(app, lambda _c, _k, statement, *_a: seen.append(statement)):
            assert teacher.get(arranged.url).status_code == 200
        return len(seen)

    statements()  # the overview is counted, then cached
    before = statements()
    for n in range(30):
        add_record(db, arranged.cohort, f"Former {n:02d}", "left")
    db.commit()
    assert statements() == before


# --- Reading never writes ----------------------------------------------------------------

READ_PAGES = [
    "{url}",
    "{url}?state=stuck&q=e&sort=activity&order=desc&page=1",
    "{url}/learners/{hal}",
    "{url}/items",
    f"/instructor/items/{LESSON}",
    "{url}/export.csv",
    "/instructor/",
]


@pytest.mark.parametrize("page", READ_PAGES)
def test_viewing_writes_nothing(app, db, teacher, arranged, page):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    before = table_counts(db)
    with statements_listened(app, record):
        url = page.format(url=arranged.url, hal=arranged.ids["Hal Revoked"])
        assert teacher.get(url).status_code == 200
    # Not even SQLite's write lock (BEGIN IMMEDIATE) is taken.
    writes = [
        s for s in statements if re.match(r"\s*(INSERT|UPDATE|DELETE|BEGIN IMMEDIATE)", s, re.I)
    ]
    assert writes == []
    assert table_counts(db) == before


# --- Times in the site's zone ------------------------------------------------------------


# 03:30 UTC on 1 July is 20:30 the day before in Vancouver (UTC-7 in summer); 02:00 UTC on
# 1 January 2030 is 18:00 on 31 December 2029 (UTC-8 in winter).
READ_AT = datetime(2024, 7, 1, 3, 30, tzinfo=UTC)
VALID_UNTIL = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def vancouver(app, db, create_user) -> SimpleNamespace:
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id)
    (learner,) = add_users(db, [("Val Vancouver", "val@example.com")])
    enrol(db, cohort, [learner])
    db.execute(insert(SectionRead), reads(learner, 1, READ_AT))
    db.execute(insert(Certificate), [certificate(learner, READ_AT, VALID_UNTIL, code="VALCODE")])
    refresh_progress(app, db)
    db.commit()
    url = f"/instructor/cohorts/{cohort}"
    return SimpleNamespace(client=logged_in(app, "teach@example.com"), url=url, learner=learner)


@pytest.mark.parametrize("app_config", [{"TIME_ZONE": "America/Vancouver"}], indirect=True)
def test_pages_show_times_in_the_configured_zone(vancouver):
    dashboard = row_of(vancouver.client.get(vancouver.url).text, "Val Vancouver")
    assert "30 June 2024, 20:30" in dashboard
    assert "until 31 December 2029" in dashboard
    page = vancouver.client.get(f"{vancouver.url}/learners/{vancouver.learner}").text
    assert timeline(page)[0].startswith("30 June 2024, 20:30: read")


@pytest.mark.parametrize("app_config", [{"TIME_ZONE": "America/Vancouver"}], indirect=True)
def test_csv_dates_are_in_the_configured_zone(vancouver):
    _header, row = csv_rows(vancouver.client.get(f"{vancouver.url}/export.csv"))
    assert row[-5:] == ["VALCODE", "valid", "2024-06-30", "2029-12-31", "member"]
    assert row[-10] == "2024-06-30 20:30"  # last activity
