"""Issue 21, parts 3 and 5: instructors land on Teach, the dashboard names its section columns,
its charts and join link fit a phone, and the CSV says which cohort it is, in its rows and its
file name, with last activity, pass date and certificate status, formulas kept inert."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert
from werkzeug.http import parse_options_header

from learnapp.models import Certificate, QuizAttempt, SectionRead
from tests.conftest import PASSWORD
from tests.test_instructor import (
    DAY,
    SECTIONS,
    add_cohort,
    add_quiz_version,
    add_record,
    add_users,
    cells,
    certificate,
    closed_attempt,
    csv_rows,
    enrol,
    logged_in,
    reads,
    refresh_progress,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SHORT_TITLES = ["The spine", "Vehicles", "Sports", "Posture", "Joints", "Muscles", "Summary"]

# --- Where a login lands -------------------------------------------------------------------


def log_in(client: Any, email: str, **request: Any) -> Any:
    return client.post("/auth/login", data={"email": email, "password": PASSWORD}, **request)


@pytest.mark.parametrize(
    ("role", "landing"),
    [("instructor", "/instructor/"), ("admin", "/instructor/"), ("learner", "/lessons/")],
)
def test_a_login_lands_instructors_and_admins_on_teach_and_learners_on_lessons(
    client, create_user, role, landing
):
    create_user(email="someone@example.com", role=role)
    response = log_in(client, "someone@example.com")
    assert response.status_code == 302 and response.location == landing
    # Signed in already, the login page sends them on to the same place.
    assert client.get("/auth/login").location == landing


@pytest.mark.parametrize("role", ["instructor", "admin", "learner"])
@pytest.mark.parametrize("target", ["/lessons/spinal-muscle-spasm/progress", "/certificates/"])
def test_a_safe_next_wins_over_the_landing(client, create_user, role, target):
    create_user(email="someone@example.com", role=role)
    response = log_in(client, "someone@example.com", query_string={"next": target})
    assert response.location == target


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_an_unsafe_next_leaves_an_instructor_on_teach(client, create_user, target):
    create_user(email="teach@example.com", role="instructor")
    response = log_in(client, "teach@example.com", query_string={"next": target})
    assert response.location == "/instructor/"


# --- The dashboard -------------------------------------------------------------------------


@pytest.fixture
def class_of_one(app, db, create_user) -> SimpleNamespace:
    """An instructor's cohort with one learner who read two sections."""
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    cohort = add_cohort(db, teacher.id, "Tuesday evening class")
    (learner,) = add_users(db, [("Ann Reader", "ann@example.com")])
    enrol(db, cohort, [learner])
    db.execute(insert(SectionRead), reads(learner, 2, datetime.now(UTC) - DAY))
    refresh_progress(app, db)
    db.commit()
    return SimpleNamespace(
        client=logged_in(app, "teach@example.com"), url=f"/instructor/cohorts/{cohort}"
    )


def learners_table(html: str) -> str:
    return html.split('<table class="learners">')[1].split("</table>")[0]


def test_section_columns_are_named_by_their_short_titles(app, class_of_one):
    html = class_of_one.client.get(class_of_one.url).text
    head = learners_table(html).split("</thead>")[0]
    columns = cells(head)
    assert columns == [
        "Learner",
        "Read",
        *SHORT_TITLES,
        "Last activity",
        "Attempts",
        "Best",
        "Result",
        "Certificate",
    ]
    # The short titles are the content's, each column keeping its full title at hand.
    lesson = app.extensions["learnapp.content"].lessons["spinal-muscle-spasm"]
    assert [s.short_title for s in lesson.sections] == SHORT_TITLES
    titles = re.findall(r'<th scope="col" class="mark" title="([^"]+)">', head)
    assert titles == [title.replace("'", "&#39;") for _slug, title in SECTIONS]
    assert "<abbr" not in head


def test_the_learners_table_scrolls_in_a_labelled_region_the_keyboard_reaches(class_of_one):
    html = class_of_one.client.get(class_of_one.url).text
    region = re.search(r'<div class="table-scroll"([^>]*)>\s*<table class="learners">', html)
    assert region is not None
    attributes = dict(re.findall(r'(\S+)="([^"]*)"', region.group(1)))
    assert attributes == {"role": "region", "aria-labelledby": "learners", "tabindex": "0"}
    assert '<h2 id="learners">Learners</h2>' in html


def test_the_join_link_may_break_anywhere(client, class_of_one):
    html = class_of_one.client.get(class_of_one.url).text
    assert re.search(r'<span class="code join-link">http://[^<]+/cohorts/join/[\w-]+</span>', html)
    css = client.get("/static/css/app.css").text
    assert re.search(r"\.join-link \{[^}]*overflow-wrap: anywhere", css)


def test_chart_labels_are_whole_text_that_wraps(client, class_of_one):
    html = class_of_one.client.get(class_of_one.url).text
    funnel = html.split('<figure class="chart"')[1].split("</figure>")[0]
    labels = re.findall(r'<th scope="row" class="chart-label">([^<]+)</th>', funnel)
    assert labels == [title.replace("'", "&#39;") for _slug, title in SECTIONS]
    assert "…" not in funnel  # nothing cut short
    assert "<text" not in funnel  # no SVG text, which cannot wrap
    assert re.findall(r'class="chart-value">(\d+)</span>', funnel) == ["1", "1"] + ["0"] * 5
    css = client.get("/static/css/app.css").text
    assert re.search(r"\.chart-label \{[^}]*overflow-wrap: break-word", css)


# --- The CSV -------------------------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


def at_noon(days_ago: int) -> datetime:
    """Noon (UTC) some days ago: the same calendar day in the default zone."""
    return (NOW - days_ago * DAY).replace(hour=12, minute=0, second=0)


@pytest.fixture
def exported_class(app, db, create_user) -> SimpleNamespace:
    """A cohort of four: one who passed, renewed and holds a valid certificate; one whose
    certificate expired; one whose certificate is revoked; one who only read. And a former
    member's record."""
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id, "Tuesday evening class", session_date=date(2031, 3, 4))
    people = [
        ("Val Valid", "val@example.com"),
        ("Exa Expired", "exa@example.com"),
        ("Rev Revoked", "rev@example.com"),
        ("Rea Reader", "rea@example.com"),
    ]
    val, exa, rev, rea = add_users(db, people)
    enrol(db, cohort, [val, exa, rev, rea])
    version = add_quiz_version(db)
    db.execute(insert(SectionRead), [*reads(val, 7, at_noon(800)), *reads(rea, 3, at_noon(2))])
    db.execute(
        insert(QuizAttempt),
        [
            closed_attempt(val, version, at_noon(790), 90, True),
            closed_attempt(val, version, at_noon(20), 95, True),  # renewed: the pass date
            closed_attempt(exa, version, at_noon(1200), 80, True),
            closed_attempt(rev, version, at_noon(30), 70, False),
            closed_attempt(rev, version, at_noon(29), 95, True),
        ],
    )
    db.execute(
        insert(Certificate),
        [
            certificate(val, at_noon(20), at_noon(20) + 1095 * DAY, code="VALCODE"),
            certificate(exa, at_noon(1200), at_noon(100), code="EXACODE"),
            certificate(rev, at_noon(29), at_noon(29) + 1095 * DAY, NOW - DAY, code="REVCODE"),
        ],
    )
    add_record(db, cohort, "Leo Left", "left", code="LEOCODE")
    refresh_progress(app, db)
    db.commit()
    client = logged_in(app, "teach@example.com")
    response = client.get(f"/instructor/cohorts/{cohort}/export.csv")
    return SimpleNamespace(cohort=cohort, response=response)


def dict_rows(response: Any) -> list[dict[str, str]]:
    csv_rows(response)  # the status and the byte-order mark
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


def day(days_ago: int) -> str:
    return at_noon(days_ago).date().isoformat()


def test_csv_rows_carry_the_cohort_last_activity_pass_date_and_certificate(exported_class):
    rows = dict_rows(exported_class.response)
    by_name = {row["Name"]: row for row in rows}
    assert list(by_name) == ["Exa Expired", "Rea Reader", "Rev Revoked", "Val Valid", "Leo Left"]
    assert {(row["Cohort"], row["Session date"]) for row in rows} == {
        ("Tuesday evening class", "2031-03-04")
    }
    columns = [
        "Last activity",
        "Passed",
        "Pass date",
        "Certificate code",
        "Certificate status",
        "Status",
    ]
    assert {name: [row[c] for c in columns] for name, row in by_name.items()} == {
        "Val Valid": [f"{day(20)} 12:00", "yes", day(20), "VALCODE", "valid", "member"],
        "Exa Expired": [f"{day(1200)} 12:00", "yes", day(1200), "EXACODE", "expired", "member"],
        "Rev Revoked": [f"{day(29)} 12:00", "yes", day(29), "REVCODE", "revoked", "member"],
        # the last of three sections read a minute apart
        "Rea Reader": [f"{day(2)} 12:02", "no", "", "", "none", "member"],
        # a former member's record keeps the result, not the activity
        "Leo Left": ["", "yes", "", "LEOCODE", "valid", "left"],
    }


def test_csv_has_one_header_row_with_the_cohort_first(exported_class):
    header, *rows = csv_rows(exported_class.response)
    assert header[:3] == ["Cohort", "Session date", "Name"]
    assert len(rows) == 5 and all(len(row) == len(header) for row in rows)
    assert not any(row[:2] == header[:2] for row in rows)


def disposition(response: Any) -> tuple[str, dict[str, str]]:
    """Content-Disposition's parts as sent: the type, and each parameter's value as written
    (unquoted)."""
    kind, *parameters = response.headers["Content-Disposition"].split("; ")
    return kind, {k: v.strip('"') for k, v in (p.split("=", 1) for p in parameters)}


def test_csv_file_name_is_the_cohorts_slug_and_session_date(exported_class):
    kind, parameters = disposition(exported_class.response)
    assert kind == "attachment"
    assert parameters == {"filename": "cohort-tuesday-evening-class-2031-03-04.csv"}
    assert exported_class.response.headers["Cache-Control"] == "no-store"


def export_of(app, db, create_user, cohort_name: str, learner_name: str) -> tuple[Any, int]:
    """The CSV of a new cohort of one learner, and the cohort's id."""
    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id, cohort_name)
    enrol(db, cohort, add_users(db, [(learner_name, "l@example.com")]))
    db.commit()
    client = logged_in(app, "teach@example.com")
    return client.get(f"/instructor/cohorts/{cohort}/export.csv"), cohort


def test_csv_file_name_beyond_ascii_is_sent_both_ways(app, db, create_user):
    response, _cohort = export_of(app, db, create_user, "Zoë's 火曜日 class / B", "Ann")
    _kind, parameters = disposition(response)
    # An ASCII name for old clients, and the whole name by RFC 5987 for the others.
    assert parameters["filename"] == "cohort-zoe-s--class-b-2025-03-04.csv"
    assert parameters["filename*"].startswith("UTF-8''cohort-zo%C3%AB-s-%E7%81%AB")
    _kind, decoded = parse_options_header(response.headers["Content-Disposition"])
    assert decoded["filename"] == "cohort-zoë-s-火曜日-class-b-2025-03-04.csv"
    assert dict_rows(response)[0]["Cohort"] == "Zoë's 火曜日 class / B"


@pytest.mark.parametrize(
    ("cohort_name", "slug"),
    [('=HYPERLINK("http://evil.example","x")', "hyperlink-http-evil-example-x"), ("+-@", None)],
)
def test_csv_keeps_hostile_cohort_and_learner_names_inert(app, db, create_user, cohort_name, slug):
    learner_name = "@SUM(1+1)*cmd|' /C calc'!A0"
    response, cohort = export_of(app, db, create_user, cohort_name, learner_name)
    header, row = csv_rows(response)
    exported = dict(zip(header, row, strict=True))
    assert exported["Cohort"] == "'" + cohort_name
    assert exported["Name"] == "'" + learner_name
    assert not [cell for cell in header + row if cell.startswith(FORMULA_STARTS)]
    # the file name keeps the words alone (a name with none: the cohort's id)
    _kind, parameters = disposition(response)
    assert parameters == {"filename": f"cohort-{slug or cohort}-2025-03-04.csv"}


def test_csv_export_costs_the_same_statements_for_one_learner_or_many(app, db, create_user):
    from tests.conftest import statements_listened

    teacher = create_user(email="teach@example.com", role="instructor")
    cohort = add_cohort(db, teacher.id)
    enrol(db, cohort, add_users(db, [("One", "one@example.com")]))
    db.commit()
    client = logged_in(app, "teach@example.com")

    def statements() -> int:
        seen: list[str] = []
        with statements_listened(app, lambda _c, _k, statement, *_a: seen.append(statement)):
            assert client.get(f"/instructor/cohorts/{cohort}/export.csv").status_code == 200
        return len(seen)

    one = statements()
    many = add_users(db, [(f"Many {n:02d}", f"many{n}@example.com") for n in range(30)])
    enrol(db, cohort, many)
    version = add_quiz_version(db)
    db.execute(
        insert(QuizAttempt),
        [closed_attempt(u, version, NOW - timedelta(hours=1), 100, True) for u in many],
    )
    refresh_progress(app, db)
    db.commit()
    assert statements() == one
