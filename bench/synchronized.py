"""Fifty learners start the final quiz at the same moment, then submit it at the same moment,
against the running gunicorn; afterwards the database must hold every attempt exactly once,
closed, with all its answers."""

from __future__ import annotations

import http.client
import random
import threading
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import func, select

from bench.fixtures import LESSON, START_PATH, answer_fields
from bench.server import Server
from learnapp.attempts import SIGNED_ATTEMPT_FIELD, sign_attempt
from learnapp.models import Answer, QuizAttempt

LOCKED = "database is locked"


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


def run(app: Flask, server: Server, learners: list[dict[str, Any]]) -> dict[str, Any]:
    catalogue = app.extensions["learnapp.content"]
    quiz = catalogue.final_quiz(LESSON)
    count = len(learners)
    barrier = threading.Barrier(count)
    outcomes: list[dict[str, Any]] = [{} for _ in learners]
    log_before = len(server.log_text())

    def attempt_drawn(attempt_id: int) -> tuple[list[dict[str, Any]], str]:
        """Its drawn questions, and the signed attempt its page's form carries."""
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            attempt = session.get_one(QuizAttempt, attempt_id)
            return attempt.drawn, sign_attempt(app.secret_key, attempt, catalogue.version)
        finally:
            session.close()

    def learner(index: int) -> None:
        who = learners[index]["login"]
        outcome = outcomes[index]
        rng = random.Random(index)
        try:
            barrier.wait(timeout=120)
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
                drawn, signed = attempt_drawn(attempt_id)
                fields.append((SIGNED_ATTEMPT_FIELD, signed))
                for entry in drawn:
                    question = quiz.question(entry["id"])
                    fields += answer_fields(question, entry["order"], rng.random() < 0.2)
            barrier.wait(timeout=120)  # everyone submits at once, too
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
            barrier.abort()

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    log = server.log_text()[log_before:]
    user_ids = [entry["user_id"] for entry in learners]
    session = app.extensions["learnapp.sessionmaker"]()
    try:
        attempts = session.execute(
            select(QuizAttempt.id, QuizAttempt.user_id, QuizAttempt.state, QuizAttempt.drawn)
            .where(QuizAttempt.user_id.in_(user_ids))
            .order_by(QuizAttempt.id)
        ).all()
        answers = dict(
            session.execute(
                select(Answer.attempt_id, func.count())
                .where(Answer.attempt_id.in_([a.id for a in attempts]))
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
