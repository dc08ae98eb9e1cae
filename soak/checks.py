"""The checks made on the run's rows afterwards."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text

from soak.learner import Outcome


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def verify(url: str, outcomes: list[Outcome], draw: int) -> tuple[list[Check], dict[str, int]]:
    """Every check on the stored rows, and how many rows each kind had."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return _verify(connection, outcomes, draw)
    finally:
        engine.dispose()


def _verify(
    connection: Any, outcomes: list[Outcome], draw: int
) -> tuple[list[Check], dict[str, int]]:
    users = dict(connection.execute(text("SELECT email, id FROM users")).all())
    attempts = {
        row.id: row
        for row in connection.execute(
            text(
                "SELECT a.id, a.user_id, a.state, a.passed, json_array_length(a.drawn::json) AS drawn,"
                " (SELECT count(*) FROM answers n WHERE n.attempt_id = a.id) AS answers,"
                " (SELECT count(DISTINCT n.position) FROM answers n WHERE n.attempt_id = a.id) AS positions"
                " FROM quiz_attempts a"
            )
        )
    }
    certificates = list(
        connection.execute(
            text(
                "SELECT id, code, user_id, attempt_id, revision, revoked_at, superseded_at,"
                " valid_until > now() AS in_date, sha256, pdf FROM certificates"
            )
        )
    )
    answers = connection.execute(text("SELECT count(*) FROM answers")).scalar_one()
    rows = {
        "users": len(users),
        "attempts": len(attempts),
        "answers": answers,
        "certificates": len(certificates),
    }
    checks = [
        _submissions_stored_once(outcomes, users, attempts),
        _no_half_written_attempt(attempts, draw),
        _one_certificate_per_pass(outcomes, users, attempts, certificates),
    ]
    return checks, rows


def _submissions_stored_once(
    outcomes: list[Outcome], users: dict[str, int], attempts: dict[int, Any]
) -> Check:
    problems: list[str] = []
    checked = 0
    closed_by_user: dict[int, set[int]] = defaultdict(set)
    for attempt in attempts.values():
        if attempt.state == "closed":
            closed_by_user[attempt.user_id].add(attempt.id)
    for outcome in outcomes:
        user_id = users.get(outcome.email)
        answered = {s.attempt_id: s for s in outcome.submissions}
        if answered and user_id is None:
            problems.append(f"{outcome.email}: no account")
            continue
        for submission in outcome.submissions:
            checked += 1
            stored = attempts.get(submission.attempt_id)
            if stored is None or stored.user_id != user_id or stored.state != "closed":
                problems.append(f"attempt {submission.attempt_id}: not stored as closed")
            elif stored.passed != submission.meant_to_pass:
                problems.append(f"attempt {submission.attempt_id}: stored passed={stored.passed}")
        # No graded attempt that the learner did not get an answer for: a retried POST
        # graded nothing twice and opened nothing extra.
        if user_id is not None and outcome.finished and closed_by_user[user_id] != set(answered):
            problems.append(
                f"{outcome.email}: closed attempts {sorted(closed_by_user[user_id])}, answered {sorted(answered)}"
            )
    return Check(
        "every acknowledged submission is stored exactly once",
        not problems,
        f"{checked} submissions checked" + (f"; {problems[:5]}" if problems else ""),
    )


def _no_half_written_attempt(attempts: dict[int, Any], draw: int) -> Check:
    problems = []
    for attempt in attempts.values():
        if attempt.state == "closed":
            if not attempt.answers == attempt.positions == attempt.drawn == draw:
                problems.append(
                    f"attempt {attempt.id}: closed with {attempt.answers} answers of {attempt.drawn}"
                )
        elif attempt.answers:
            problems.append(f"attempt {attempt.id}: in progress with {attempt.answers} answers")
    open_ = sum(a.state != "closed" for a in attempts.values())
    return Check(
        "no half-written attempt",
        not problems,
        f"{len(attempts)} attempts ({open_} in progress), each closed one with {draw} answers"
        + (f"; {problems[:5]}" if problems else ""),
    )


def _one_certificate_per_pass(
    outcomes: list[Outcome],
    users: dict[str, int],
    attempts: dict[int, Any],
    certificates: list[Any],
) -> Check:
    problems = []
    by_user: dict[int, list[Any]] = defaultdict(list)
    for certificate in certificates:
        by_user[certificate.user_id].append(certificate)
        digest = hashlib.sha256(bytes(certificate.pdf or b"")).hexdigest()
        if not certificate.pdf or digest != certificate.sha256:
            problems.append(f"certificate {certificate.code}: PDF does not match its sha256")
    passed_users = {a.user_id for a in attempts.values() if a.passed}
    for user_id in passed_users:
        held = by_user.get(user_id, [])
        valid = [
            c
            for c in held
            if c.revoked_at is None and c.superseded_at is None and c.in_date and c.revision == 1
        ]
        if len(held) != 1 or len(valid) != 1:
            problems.append(f"user {user_id}: {len(held)} certificates, {len(valid)} valid")
        elif attempts.get(valid[0].attempt_id) is None or not attempts[valid[0].attempt_id].passed:
            problems.append(f"certificate {valid[0].code}: not for a passed attempt")
    for user_id in set(by_user) - passed_users:
        problems.append(f"user {user_id}: a certificate without a pass")
    for outcome in outcomes:
        if outcome.certificate is None:
            continue
        mine = by_user.get(users.get(outcome.email, -1), [])
        if [c.code for c in mine] != [outcome.certificate]:
            problems.append(
                f"{outcome.email}: was shown {outcome.certificate}, holds {[c.code for c in mine]}"
            )
        elif mine[0].sha256 != outcome.pdf_sha256:
            problems.append(f"{outcome.email}: downloaded PDF differs from the stored one")
    return Check(
        "every pass has exactly one valid certificate, its PDF matching its sha256",
        not problems,
        f"{len(certificates)} certificates for {len(passed_users)} learners who passed"
        + (f"; {problems[:5]}" if problems else ""),
    )
