"""Instructor pages cost the same number of SQL statements for 10 learners as for 1,000:
totals are computed in SQL, one page of rows is loaded, and nothing loads lazily."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert
from sqlalchemy.orm import raiseload

from learnapp.db import utcnow
from learnapp.models import Answer, Certificate, QuizAttempt, SectionRead
from tests.conftest import statements_listened
from tests.test_instructor import (
    DAY,
    LESSON,
    add_cohort,
    add_quiz_version,
    add_users,
    certificate,
    closed_attempt,
    enrol,
    learner_names,
    logged_in,
    reads,
    refresh_progress,
)

SIZES = (10, 1000)
PAGES = {
    "dashboard": "{cohort}",
    "filtered dashboard": "{cohort}?state=stuck&q=learner&sort=activity&order=desc",
    "sorted dashboard": "{cohort}?sort=score&order=desc",
    "learner": "{cohort}/learners/{learner}",
    "item analysis": "{cohort}/items",
    "item analysis, every attempt": "{cohort}/items?attempts=all",
    "item analysis across cohorts": f"/instructor/items/{LESSON}",
    "CSV export": "{cohort}/export.csv",
}


# Learner i of a cohort: every tenth has done nothing; the others read seven sections (even
# i) or two (odd i), some of them long ago; every fourth has a closed attempt with answers,
# passed when i is a multiple of 8, and then holds a certificate, expiring soon when i is a
# multiple of 16.
def started(i: int) -> bool:
    return i % 10 != 0


def read_all(i: int) -> bool:
    return started(i) and i % 2 == 0


def attempted(i: int) -> bool:
    return started(i) and i % 4 == 0


def passed(i: int) -> bool:
    return attempted(i) and i % 8 == 0


def expiring(i: int) -> bool:
    return passed(i) and i % 16 == 0


def arrange(
    app: Flask, db: Any, questions: Any, version: int, instructor_id: int, size: int
) -> SimpleNamespace:
    now = utcnow()
    cohort = add_cohort(db, instructor_id, f"Cohort of {size}")
    people = [(f"Learner {size}-{i:04d}", f"c{size}-{i}@example.com") for i in range(size)]
    ids = add_users(db, people)
    enrol(db, cohort, ids)
    db.execute(
        insert(SectionRead),
        [
            row
            for i, user_id in enumerate(ids)
            if started(i)
            for row in reads(user_id, 7 if read_all(i) else 2, now - (i % 20) * DAY)
        ],
    )
    takers = [(i, user_id) for i, user_id in enumerate(ids) if attempted(i)]
    attempt_ids = db.scalars(
        insert(QuizAttempt).returning(QuizAttempt.id, sort_by_parameter_order=True),
        [
            closed_attempt(u, version, now - DAY, 90 if passed(i) else 60, passed(i))
            for i, u in takers
        ],
    ).all()
    db.execute(
        insert(Answer),
        [
            {
                "attempt_id": attempt_id,
                "question_id": q.id,
                "section": q.section,
                "position": position,
                "response": "b" if q.type == "single" else None,
                "score": 0 if q.type == "single" else q.points,
                "points": q.points,
                "correct": q.type != "single",
            }
            for attempt_id in attempt_ids
            for position, q in enumerate(questions, start=1)
        ],
    )
    db.execute(
        insert(Certificate),
        [
            certificate(u, now - DAY, now + (30 if expiring(i) else 1000) * DAY)
            for i, u in takers
            if passed(i)
        ],
    )
    refresh_progress(app, db)
    db.commit()
    return SimpleNamespace(cohort=f"/instructor/cohorts/{cohort}", learner=ids[8])


@pytest.fixture
def cohorts(app, db, create_user) -> dict[int, SimpleNamespace]:
    """A cohort of 10 and one of 1,000, each its own instructor's, who is logged in."""
    questions = app.extensions["learnapp.content"].final_quiz(LESSON).questions[:12]
    teachers = {n: create_user(email=f"teach{n}@example.com", role="instructor") for n in SIZES}
    version = add_quiz_version(db)
    arranged = {n: arrange(app, db, questions, version, teachers[n].id, n) for n in SIZES}
    for size, cohort in arranged.items():
        cohort.client = logged_in(app, f"teach{size}@example.com")
    return arranged


@contextmanager
def recorded(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run meanwhile; relationships loaded lazily raise instead."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def no_lazy_loads(state):
        if state.is_select:
            state.statement = state.statement.options(raiseload("*"))

    makers = [
        app.extensions["learnapp.sessionmaker"],
        app.extensions["learnapp.reader_sessionmaker"],
    ]
    for maker in makers:
        event.listen(maker, "do_orm_execute", no_lazy_loads)
    try:
        with statements_listened(app, record):
            yield statements
    finally:
        for maker in makers:
            event.remove(maker, "do_orm_execute", no_lazy_loads)


def statements_for(app: Flask, arranged: SimpleNamespace, page: str) -> list[str]:
    url = page.format(cohort=arranged.cohort, learner=arranged.learner)
    with recorded(app) as statements:
        response = arranged.client.get(url)
    assert response.status_code == 200, url
    return statements


def test_statements_per_page_do_not_grow_with_the_cohort(app, cohorts):
    counts = {
        name: {size: len(statements_for(app, cohorts[size], page)) for size in SIZES}
        for name, page in PAGES.items()
    }
    assert {name: by_size[10] for name, by_size in counts.items()} == {
        name: by_size[1000] for name, by_size in counts.items()
    }
    # "A handful": the user, the cohort, the reports, the transaction around them.
    assert max(by_size[1000] for by_size in counts.values()) <= 10, counts


def expected_summary(size: int) -> dict[str, int]:
    def total(rule: Any) -> int:
        return sum(1 for i in range(size) if rule(i))

    return {
        "Enrolled": size,
        "Started": total(started),
        "Read everything": total(read_all),
        "Passed": total(passed),
        "Certified": total(passed),
        "Expiring within 90 days": total(expiring),
    }


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_totals_come_from_sql_and_one_page_of_rows(app, cohorts, size):
    html = cohorts[size].client.get(cohorts[size].cohort).text
    summary = {k: int(v) for k, v in re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html)}
    assert summary == expected_summary(size)
    per_page = app.config["DASHBOARD_PAGE_SIZE"]
    assert len(learner_names(html)) == min(size, per_page)
    pages = -(-size // per_page)
    assert f"{size} learners, page 1 of {pages}." in html


def test_the_last_page_holds_the_remainder(app, cohorts):
    app.config["DASHBOARD_PAGE_SIZE"] = 30
    html = cohorts[1000].client.get(f"{cohorts[1000].cohort}?page=34").text
    assert learner_names(html) == [f"Learner 1000-{i:04d}" for i in range(990, 1000)]
    assert "1000 learners, page 34 of 34." in html


def test_stuck_learners_are_counted_in_sql(app, cohorts):
    # Stuck: last active more than 7 days ago and not passed. Readers were last active
    # i % 20 days ago (and a few minutes); takers a day ago.
    expected = sum(1 for i in range(1000) if started(i) and i % 20 > 7 and not attempted(i))
    html = cohorts[1000].client.get(f"{cohorts[1000].cohort}?state=stuck").text
    assert f"{expected} learners, page 1 of" in html


def test_certificates_read_for_the_pages_leave_their_pdf_unloaded(app, cohorts):
    with recorded(app) as statements:
        cohorts[1000].client.get(f"{cohorts[1000].cohort}/learners/{cohorts[1000].learner}")
        cohorts[1000].client.get(f"{cohorts[1000].cohort}/export.csv")
    assert not [s for s in statements if re.search(r"certificates\.pdf\b", s)]
