"""The outbox and its worker, against real SMTP servers on loopback (tests/smtp.py): a mail is
a row written in its cause's transaction, sent by the worker with retries, failed after a day
or at a final refusal, shown to admins, who may retry it; the development mailbox and the
console show it readably."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from learnapp import create_app, outbox
from learnapp.db import dispose, utcnow, writing
from learnapp.models import OutboxMessage
from tests.conftest import deliver_outbox, production_config
from tests.security.world import login
from tests.smtp import Inbox, free_port, smtp_server, smtp_settings

LONG_LINK = "https://learn.example.org/auth/reset/" + "A1b2C3d4" * 16  # past 78 characters


def enqueue(app: Any, db: Any, to: str = "ada@example.com", text: str = "Hello") -> None:
    with app.app_context(), writing(db):
        outbox.enqueue_mail(db, to, f"A note for {to}", text)


def rows(db: Any) -> list[OutboxMessage]:
    db.rollback()  # see what the worker committed since
    db.expire_all()  # and not what this session loaded before (it keeps rows past a commit)
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def make_due(db: Any) -> None:
    """Bring every waiting row's next attempt to now, as the passing of time would."""
    db.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.commit()


# --- The row: written with its cause, or not at all --------------------------------------


def test_a_mail_is_written_in_the_callers_transaction_and_only_if_it_commits(app, db):
    with pytest.raises(RuntimeError), app.app_context(), writing(db):
        outbox.enqueue_mail(db, "ada@example.com", "Lost", "This change was rolled back.")
        raise RuntimeError("the change that caused the mail fails")
    assert rows(db) == []

    enqueue(app, db, text=f"Open {LONG_LINK}")
    (row,) = rows(db)
    assert row.kind == "mail" and row.attempts == 0
    assert row.done_at is None and row.failed_at is None and row.claimed_until is None
    assert row.payload["to"] == "ada@example.com"
    assert row.payload["text"] == f"Open {LONG_LINK}"
    # Fixed now, so that every delivery of this row is the same message.
    assert re.fullmatch(r"<[^@<>\s]+@localhost>", row.payload["message_id"])


@pytest.mark.parametrize(
    ("to", "subject"), [("ada@example.com\r\nBcc: eve@example.com", "Hi"), ("a@b.c", "Hi\nthere")]
)
def test_a_header_with_a_line_break_is_refused_when_the_mail_is_written(app, db, to, subject):
    with pytest.raises(ValueError, match="must be one non-empty line"), app.app_context():
        outbox.enqueue_mail(db, to, subject, "text")


# --- Sending: the four servers -------------------------------------------------------------


def test_the_worker_sends_each_mail_once_with_the_message_id_fixed_when_it_was_written(app, db):
    inbox = Inbox()
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port))
        enqueue(app, db, "ada@example.com", f"Hello Ada,\n\n{LONG_LINK}\n")
        enqueue(app, db, "grace@example.com", "Hello Grace")
        assert deliver_outbox(app) == 2
        assert deliver_outbox(app) == 0  # done rows are not sent again
    first, second = rows(db)
    assert [m["To"] for m in inbox.messages] == ["ada@example.com", "grace@example.com"]
    assert [m["Message-ID"] for m in inbox.messages] == [
        first.payload["message_id"],
        second.payload["message_id"],
    ]
    assert inbox.messages[0]["From"] == app.config["MAIL_FROM"]
    text = inbox.messages[0].get_content().replace("\r\n", "\n")  # as the wire has it
    assert text == f"Hello Ada,\n\n{LONG_LINK}\n"
    assert first.done_at is not None and first.attempts == 0 and first.last_error is None


def test_a_server_that_is_down_leaves_the_mail_waiting_for_a_later_try(app, db):
    app.config.update(smtp_settings(free_port()))  # nothing listens there
    enqueue(app, db)
    before = utcnow()
    assert deliver_outbox(app) == 1
    (row,) = rows(db)
    assert row.done_at is None and row.failed_at is None and row.claimed_until is None
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert before + timedelta(seconds=59) <= row.next_attempt_at <= utcnow() + timedelta(minutes=1)
    assert deliver_outbox(app) == 0  # not due yet

    # The server comes back; at the next attempt the mail goes.
    inbox = Inbox()
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port))
        make_due(db)
        assert deliver_outbox(app) == 1
    assert len(inbox.messages) == 1 and rows(db)[0].done_at is not None


def test_retries_wait_longer_each_time_and_stop_a_day_after_the_mail_was_written(app, db):
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4, 7, 8, 50)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 60, 60, 60)
    ]
    app.config.update(smtp_settings(free_port()))
    enqueue(app, db)
    for attempt, minutes in ((1, 1), (2, 2), (3, 4), (4, 8)):
        now = utcnow()
        assert deliver_outbox(app) == 1
        (row,) = rows(db)
        assert row.attempts == attempt
        waited = row.next_attempt_at - now
        assert timedelta(minutes=minutes) <= waited <= timedelta(minutes=minutes, seconds=5)
        make_due(db)
    # A day after it was written, the next failure is the last.
    db.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(hours=24, seconds=1)))
    db.commit()
    assert deliver_outbox(app) == 1
    (row,) = rows(db)
    assert row.failed_at is not None and row.done_at is None and row.attempts == 5
    make_due(db)
    assert deliver_outbox(app) == 0  # a failed row waits for an admin


def test_a_slow_server_costs_the_worker_its_timeout_and_the_mail_a_retry(app, db):
    inbox = Inbox(delay=3)
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port, timeout=0.5))
        enqueue(app, db)
        started = time.monotonic()
        assert deliver_outbox(app) == 1
        assert time.monotonic() - started < 2.5  # the worker gave up after its timeout
        (row,) = rows(db)
        assert row.done_at is None and row.attempts == 1
        assert "timed out" in row.last_error
        # Slow, but within the timeout: delivered.
        app.config.update(smtp_settings(server.port, timeout=10))
        inbox.delay = 0.5
        make_due(db)
        assert deliver_outbox(app) == 1
    assert rows(db)[0].done_at is not None


def test_a_recipient_the_server_refuses_fails_at_once_and_the_others_still_go(app, db):
    inbox = Inbox(refuse=("nobody@example.com",))
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port))
        enqueue(app, db, "nobody@example.com")
        enqueue(app, db, "ada@example.com")
        assert deliver_outbox(app) == 2
    refused, sent = rows(db)
    assert refused.failed_at is not None and refused.attempts == 1
    assert "550" in refused.last_error and "No such user here" in refused.last_error
    assert sent.done_at is not None
    assert [m["To"] for m in inbox.messages] == ["ada@example.com"]


# --- Claims: two workers, and a worker that died -------------------------------------------


def test_a_row_is_claimed_by_one_worker_only(app, db):
    enqueue(app, db)
    (row,) = rows(db)
    other = app.extensions["learnapp.sessionmaker"]()
    try:
        with app.app_context():
            now = utcnow()
            first = outbox.claim(db, row.id, now)
            second = outbox.claim(other, row.id, now)
    finally:
        other.close()
    assert first is not None and second is None
    assert rows(db)[0].claimed_until == first.lease


def test_two_workers_at_once_send_every_mail_exactly_once(app, db):
    inbox = Inbox()
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port))
        for number in range(30):
            enqueue(app, db, f"learner{number}@example.com")
        counts: list[int] = []
        workers = [
            threading.Thread(target=lambda: counts.append(deliver_outbox(app))) for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    assert sum(counts) == 30
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert all(row.done_at is not None for row in rows(db))


def test_a_lease_that_ran_out_is_claimed_again_and_its_old_holder_records_nothing(app, db):
    enqueue(app, db)
    (row,) = rows(db)
    lease = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])
    with app.app_context():
        stalled = outbox.claim(db, row.id, utcnow())
        assert outbox.claim(db, row.id, utcnow()) is None  # held
        later = utcnow() + lease + timedelta(seconds=1)
        assert row.id in outbox.due_ids(db, later)
        current = outbox.claim(db, row.id, later)
        assert current is not None
        # The stalled worker wakes up and fails: the row is the new holder's, untouched.
        outbox.HANDLERS["broken"] = lambda payload: 1 / 0
        try:
            from dataclasses import replace

            outbox.run_claimed(db, replace(stalled, kind="broken"))
        finally:
            del outbox.HANDLERS["broken"]
    (row,) = rows(db)
    assert row.attempts == 0 and row.last_error is None and row.claimed_until == current.lease


# --- Admins ---------------------------------------------------------------------------------


def test_admins_see_failed_mail_with_its_error_and_retry_it(app, db, create_user):
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    create_user(email="learner@example.com")
    inbox = Inbox(refuse=("typo@example.con",))
    with smtp_server(inbox) as server:
        app.config.update(smtp_settings(server.port))
        enqueue(app, db, "typo@example.con")
        enqueue(app, db, "waiting@example.com")
        assert outbox.run_due(app, limit=1) == 1  # the first fails; the second still waits
        (failed, _waiting) = rows(db)

        assert login(app, "learner@example.com").get("/admin/outbox").status_code == 403
        admin = login(app, "admin@example.com")
        page = admin.get("/admin/outbox")
        assert page.status_code == 200
        assert "1 waiting to be sent" in page.text and "1 failed" in page.text
        assert "A note for typo@example.con" in page.text
        assert "550 5.1.1 No such user here" in page.text

        retry = f"/admin/outbox/{failed.id}/retry"
        assert admin.post(retry, csrf=False).status_code == 400
        assert rows(db)[0].failed_at is not None
        response = admin.post(retry)
        assert response.status_code == 302 and response.location == "/admin/outbox"
        assert "will be sent again" in admin.get("/admin/outbox").text
        retried = rows(db)[0]
        assert retried.failed_at is None and retried.attempts == 0
        assert retried.next_attempt_at <= utcnow()
        assert admin.post(retry).status_code == 302  # twice: the second says it is not failed
        assert "is not failed" in admin.get("/admin/outbox").text

        inbox.refuse.clear()  # the address was fixed on the server's side
        assert deliver_outbox(app) == 2
    assert all(row.done_at is not None for row in rows(db))
    assert sorted(m["To"] for m in inbox.messages) == ["typo@example.con", "waiting@example.com"]


# --- Development: the mailbox page and the console -------------------------------------------


def test_the_development_mailbox_lists_mail_newest_first_with_its_links_clickable(app, db, client):
    enqueue(app, db, "ada@example.com", f"Hello <b>Ada</b>,\n\n{LONG_LINK}\n")
    enqueue(app, db, "grace@example.com", "Second, javascript:alert(1) is no link")
    page = client.get("/dev/mail")
    assert page.status_code == 200
    assert page.text.index("A note for grace@example.com") < page.text.index(
        "A note for ada@example.com"
    )
    assert f'<a href="{LONG_LINK}">{LONG_LINK}</a>' in page.text
    assert "Hello &lt;b&gt;Ada&lt;/b&gt;" in page.text  # the text is shown, not rendered
    assert 'href="javascript' not in page.text
    assert "waiting for the worker" in page.text
    deliver_outbox(app)
    assert "waiting for the worker" not in client.get("/dev/mail").text


def test_production_has_no_mailbox_page(app_config, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(production_config(app_config))
    try:
        site = app.config["PUBLIC_URL"]
        assert app.test_client().get("/dev/mail", base_url=site).status_code == 404
        assert app.test_client().get("/healthz", base_url=site).status_code == 200
    finally:
        dispose(app)


def test_the_console_shows_the_decoded_text_with_links_whole(app, db, caplog):
    app.config["MAIL_BACKEND"] = "console"
    enqueue(app, db, "ada@example.com", f"Hello Ada,\n\n{LONG_LINK}\n")
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        assert deliver_outbox(app) == 1
    (record,) = [r for r in caplog.records if "console backend" in r.getMessage()]
    shown = record.getMessage()
    assert f"\n{LONG_LINK}\n" in shown
    assert "To: ada@example.com" in shown and "Message-ID: <" in shown
    assert "=\n" not in shown and "=3D" not in shown  # no quoted-printable
