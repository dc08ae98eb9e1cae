"""Learners who start the final quiz at the same moment, then submit it at the same moment,
against the running gunicorn (or several, sharing the database); afterwards the database must
hold every attempt exactly once, closed, with all its answers.

`run` is "fifty at once": one class, released together. `bench.classroom` releases many
classes, each at a moment of its own, with these same pieces: `take_quiz` (one learner's
start and submit, timed), `Release` (a class's barrier) and `check` (the database's account
of what they did)."""

from __future__ import annotations

import http.client
import random
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import func, select

from bench.fixtures import LESSON, START_PATH, Login, submit_fields
from bench.server import Server
from learnapp.content import Quiz
from learnapp.models import Answer, QuizAttempt

LOCKED = "database is locked"
BARRIER_TIMEOUT = 120


def _post(server: Server, path: str, body: str, cookie: str) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, response.getheader("Location") or "", text
    finally:
        connection.close()


def attempt_drawn(app: Flask, attempt_id: int) -> list[dict[str, Any]]:
    """The attempt's drawn questions, with their parts in display order: what its page
    shows, and so what a learner's answers (positions) refer to."""
    session = app.extensions["learnapp.sessionmaker"]()
    try:
        return session.get_one(QuizAttempt, attempt_id).drawn
    finally:
        session.close()


@dataclass
class Release:
    """What holds a class's learners back: `barrier` before the start and again before the
    submit (everyone submits at once, too), after sleeping until `at` (time.monotonic()) if
    given."""

    barrier: threading.Barrier
    at: float | None = None

    def before_start(self) -> None:
        if self.at is not None:
            time.sleep(max(0.0, self.at - time.monotonic()))
        self.barrier.wait(timeout=BARRIER_TIMEOUT)

    def before_submit(self) -> None:
        self.barrier.wait(timeout=BARRIER_TIMEOUT)


def take_quiz(
    app: Flask,
    server: Server,
    who: Login,
    quiz: Quiz,
    release: Release,
    rng: random.Random,
    outcome: dict[str, Any],
) -> None:
    """One learner: start the final quiz and submit it with answers (most right), held by
    `release`; statuses, latencies (ms) and failures go into `outcome`."""
    try:
        release.before_start()
        t0 = time.perf_counter()
        status, location, text = _post(
            server, START_PATH, urlencode({"csrf_token": who.csrf}), who.cookie
        )
        outcome["start_ms"] = (time.perf_counter() - t0) * 1000
        outcome["start_status"] = status
        outcome["locked"] = LOCKED in text
        attempt_id = None
        if status == 302 and "/quizzes/attempts/" in location:
            attempt_id = int(location.rsplit("/", 1)[1])
        outcome["attempt_id"] = attempt_id
        fields = [("csrf_token", who.csrf)]
        if attempt_id is not None:
            fields = submit_fields(quiz, attempt_drawn(app, attempt_id), who.csrf, rng)
        release.before_submit()
        if attempt_id is None:
            return
        t0 = time.perf_counter()
        status, location, text = _post(
            server, f"/quizzes/attempts/{attempt_id}", urlencode(fields), who.cookie
        )
        outcome["submit_ms"] = (time.perf_counter() - t0) * 1000
        outcome["submit_status"] = status
        outcome["submit_location"] = location
        outcome["locked"] = outcome["locked"] or LOCKED in text
    except threading.BrokenBarrierError:
        outcome["error"] = "barrier broken"
    except Exception as error:  # every failure is counted and reported
        outcome["error"] = repr(error)
        release.barrier.abort()


def check(
    app: Flask, learners: list[dict[str, Any]], outcomes: list[dict[str, Any]], log: str
) -> dict[str, Any]:
    """What the learners' requests answered, and what the database holds afterwards: every
    learner exactly one attempt, closed, with all its answers. `log` is the servers' log
    written meanwhile."""
    count = len(learners)
    user_ids = [entry["user_id"] for entry in learners]
    session = app.extensions["learnapp.sessionmaker"]()
    try:
        attempts = []
        for first in range(0, len(user_ids), 900):
            attempts += session.execute(
                select(QuizAttempt.id, QuizAttempt.user_id, QuizAttempt.state, QuizAttempt.drawn)
                .where(QuizAttempt.user_id.in_(user_ids[first : first + 900]))
                .order_by(QuizAttempt.id)
            ).all()
        answers: dict[int, int] = {}
        attempt_ids = [a.id for a in attempts]
        for first in range(0, len(attempt_ids), 900):
            answers |= dict(
                session.execute(
                    select(Answer.attempt_id, func.count())
                    .where(Answer.attempt_id.in_(attempt_ids[first : first + 900]))
                    .group_by(Answer.attempt_id)
                ).all()
            )
    finally:
        session.close()
    per_user: dict[int, int] = {}
    for row in attempts:
        per_user[row.user_id] = per_user.get(row.user_id, 0) + 1
    complete = [
        row for row in attempts if row.state == "closed" and answers.get(row.id) == len(row.drawn)
    ]
    good_start = sum(o.get("start_status") == 302 and bool(o.get("attempt_id")) for o in outcomes)
    good_submit = sum(
        o.get("submit_status") == 302
        and o.get("submit_location", "").endswith(f"/quizzes/attempts/{o.get('attempt_id')}")
        for o in outcomes
    )
    errors = [o for o in outcomes if "error" in o]
    non_2xx_3xx = sum(
        1
        for o in outcomes
        for key in ("start_status", "submit_status")
        if key in o and not 200 <= o[key] < 400
    )
    starts = sorted(o["start_ms"] for o in outcomes if "start_ms" in o)
    submits = sorted(o["submit_ms"] for o in outcomes if "submit_ms" in o)
    result = {
        "learners": count,
        "starts_ok": good_start,
        "submits_ok": good_submit,
        "non_2xx_3xx": non_2xx_3xx,
        "client_errors": len(errors),
        "locked_in_responses": sum(bool(o.get("locked")) for o in outcomes),
        "locked_in_log": log.count(LOCKED),
        "tracebacks_in_log": log.count("Traceback"),
        "attempts_recorded": len(attempts),
        "learners_with_exactly_one_attempt": sum(1 for n in per_user.values() if n == 1),
        "attempts_closed_with_all_answers": len(complete),
        "start_max_ms": round(starts[-1], 1) if starts else None,
        "submit_max_ms": round(submits[-1], 1) if submits else None,
        "start_median_ms": round(starts[len(starts) // 2], 1) if starts else None,
        "submit_median_ms": round(submits[len(submits) // 2], 1) if submits else None,
    }
    # Requests that did not answer as they should (a start's or submit's redirect to the
    # attempt), or raised in the client: at most one per request sent.
    result["request_errors"] = sum(
        ("error" in o)
        + ("start_status" in o and not (o["start_status"] == 302 and o.get("attempt_id")))
        + (
            "submit_status" in o
            and not (
                o["submit_status"] == 302
                and o.get("submit_location", "").endswith(f"/quizzes/attempts/{o['attempt_id']}")
            )
        )
        for o in outcomes
    )
    result["ok"] = (
        good_start == count
        and good_submit == count
        and non_2xx_3xx == 0
        and not errors
        and result["locked_in_responses"] == 0
        and result["locked_in_log"] == 0
        and len(attempts) == count
        and result["learners_with_exactly_one_attempt"] == count
        and len(complete) == count
    )
    if errors:
        result["first_errors"] = [o["error"] for o in errors[:3]]
    return result


def run(app: Flask, server: Server, learners: list[dict[str, Any]]) -> dict[str, Any]:
    """Fifty at once: all of `learners` (one class) released together at one barrier."""
    quiz = app.extensions["learnapp.content"].final_quiz(LESSON)
    release = Release(threading.Barrier(len(learners)))
    outcomes: list[dict[str, Any]] = [{} for _ in learners]
    log_before = len(server.log_text())
    threads = [
        threading.Thread(
            target=take_quiz,
            args=(app, server, entry["login"], quiz, release, random.Random(i), outcomes[i]),
        )
        for i, entry in enumerate(learners)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return check(app, learners, outcomes, server.log_text()[log_before:])
