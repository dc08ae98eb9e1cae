"""A password reset answers the same way, in the same time, whether or not the address is
registered and whether or not the mail server works: the request only writes an outbox row
(for an unknown address, the same row in a savepoint that is rolled back), and never talks to
a mail server. Before the outbox, with SMTP down, a registered address answered 500 and an
unknown one 302 (176 ms against 13 ms).

The servers are real (aiosmtpd on loopback, tests/smtp.py): one that accepts, one that is
down, one that is slow. The statements each request runs are compared first, then the time,
as medians of many interleaved runs with a generous ratio (as test_enumeration.py does).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from learnapp.models import OutboxMessage
from tests.conftest import count_rows, deliver_outbox, statements_listened
from tests.security.test_enumeration import RATIO, UNLIMITED, timed
from tests.smtp import Inbox, free_port, smtp_server, smtp_settings
from tests.test_accounts import RESET_SENT, flashes

RUNS = 25
KNOWN, UNKNOWN = "ada@example.com", "nobody@example.com"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "PASSWORD_RESETS_PER_ADDRESS": UNLIMITED}


def reset(app: Any, address: str) -> Callable[[], Any]:
    def send() -> Any:
        return app.test_client().post("/auth/reset", data={"email": address})

    return send


def answer(app: Any, address: str) -> tuple[int, str | None, tuple[str, ...]]:
    """The status, the redirect and what the next page says: all a requester learns."""
    client = app.test_client()
    response = client.post("/auth/reset", data={"email": address})
    return response.status_code, response.location, tuple(flashes(client.get("/auth/login").text))


def statements_of(app: Any, address: str) -> list[str]:
    """The SQL a reset request runs, without its parameters; a savepoint's end (released
    for a registered address, rolled back for an unknown one) written as one word."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(re.sub(r"^(RELEASE|ROLLBACK TO) SAVEPOINT", "END SAVEPOINT", statement))

    with statements_listened(app, listen):
        assert reset(app, address)().status_code == 302
    return seen


def test_the_answer_is_the_same_whatever_the_address_and_the_mail_server(app, create_user, db):
    create_user(email=KNOWN, name="Ada")
    slow, accepting = Inbox(delay=5), Inbox()
    with smtp_server(slow) as slow_server, smtp_server(accepting) as up:
        answers = {}
        for server, port in (("down", free_port()), ("slow", slow_server.port), ("up", up.port)):
            app.config.update(smtp_settings(port, timeout=30))
            for address in (KNOWN, UNKNOWN):
                answers[server, address] = answer(app, address)
        assert set(answers.values()) == {(302, "/auth/login", (str(escape(RESET_SENT)),))}, answers
        # No request talked to a mail server: each only wrote its row.
        assert slow_server.sessions == 0 and up.sessions == 0
        rows = db.scalars(select(OutboxMessage)).all()
        assert [row.payload["to"] for row in rows] == [KNOWN] * 3

        # The worker sends them, to the server that works.
        assert deliver_outbox(app) == 3
        assert [m["To"] for m in accepting.messages] == [KNOWN] * 3


def test_an_unknown_address_runs_the_statements_a_registered_one_does(app, create_user, db):
    create_user(email=KNOWN, name="Ada")
    known, unknown = statements_of(app, KNOWN), statements_of(app, UNKNOWN)
    assert known == unknown
    assert any(s.startswith("INSERT INTO outbox") for s in known), known
    assert "END SAVEPOINT sa_savepoint_1" in known
    # ...and only the registered address's row was kept.
    assert count_rows(db, OutboxMessage) == 1


def test_a_reset_takes_as_long_whatever_the_address_and_the_mail_server(app, create_user):
    create_user(email=KNOWN, name="Ada")
    timings: dict[tuple[str, str], list[float]] = {}
    with smtp_server(Inbox(delay=5)) as slow_server:
        servers = {"down": free_port(), "slow": slow_server.port}
        for address in (KNOWN, UNKNOWN):  # warm-up: templates, statement caches
            reset(app, address)()
        for _ in range(RUNS):  # interleaved, so that a slow moment hits every case alike
            for server, port in servers.items():
                app.config.update(smtp_settings(port, timeout=30))
                for address in (KNOWN, UNKNOWN):
                    timings.setdefault((server, address), []).append(
                        timed(reset(app, address), 302)
                    )
        assert slow_server.sessions == 0
    baseline = statistics.median(timings["down", KNOWN])
    for case, measured in timings.items():
        ratio = statistics.median(measured) / baseline
        assert 1 / RATIO <= ratio <= RATIO, (
            f"{case}: median {statistics.median(measured) * 1000:.1f} ms against"
            f" {baseline * 1000:.1f} ms (ratio {ratio:.2f})"
        )
