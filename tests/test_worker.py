"""`flask worker`: its loop, its periodic jobs, a clean stop on SIGTERM, a worker killed in the
middle of a delivery (nothing lost; only the message cut off goes twice, with the same
Message-ID), and `make run`, which starts it beside the server and stops it with it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from sqlalchemy import select

from learnapp import create_app, outbox
from learnapp.config import ROOT
from learnapp.db import dispose, utcnow, writing
from learnapp.models import OutboxMessage
from tests.smtp import Inbox, free_port, smtp_server, smtp_settings, wait_for


def enqueue(app: Any, db: Any, *addresses: str) -> None:
    with app.app_context(), writing(db):
        for address in addresses:
            outbox.enqueue_mail(db, address, f"For {address}", "Hello")


def rows(db: Any) -> list[OutboxMessage]:
    db.rollback()
    db.expire_all()  # the session keeps what it loaded past a commit: read afresh
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_the_loop_runs_due_rows_and_periodic_jobs_until_told_to_stop(app, db, monkeypatch):
    app.config["MAIL_BACKEND"] = "folder"
    runs: list[str] = []
    monkeypatch.setattr(outbox, "PERIODIC", [(timedelta(days=1), lambda a: runs.append("daily"))])
    stop = threading.Event()
    ran: list[int] = []
    loop = threading.Thread(target=lambda: ran.append(outbox.work(app, stop, poll_seconds=0.05)))
    loop.start()
    try:
        wait_for(lambda: runs == ["daily"], what="the periodic job's first run")
        enqueue(app, db, "ada@example.com")  # while the loop waits
        wait_for(lambda: all(row.done_at for row in rows(db)) and rows(db), what="the mail")
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive() and ran == [1]
    assert runs == ["daily"]  # once a day, not once a poll


def test_a_failing_periodic_job_does_not_stop_the_worker(app, db, monkeypatch, caplog):
    app.config["MAIL_BACKEND"] = "folder"

    def broken(_app: Any) -> None:
        raise RuntimeError("the purge broke")

    monkeypatch.setattr(outbox, "PERIODIC", [(timedelta(days=1), broken)])
    enqueue(app, db, "ada@example.com")
    stop = threading.Event()
    loop = threading.Thread(target=outbox.work, args=(app, stop), kwargs={"poll_seconds": 0.05})
    loop.start()
    try:
        wait_for(lambda: rows(db)[0].done_at, what="the mail, after the broken job")
    finally:
        stop.set()
        loop.join(timeout=10)
    assert "periodic job broken failed" in caplog.text


def test_the_daily_jobs_delete_mail_sent_long_ago_and_keep_the_rest(app, db):
    """The worker's own periodic jobs: done rows past OUTBOX_KEPT_DAYS go (a mail's text holds
    names and links), waiting and failed ones stay; the retention purge runs beside it."""
    app.config["MAIL_BACKEND"] = "folder"
    enqueue(app, db, "old@example.com", "recent@example.com", "failed@example.com")
    assert outbox.run_due(app) == 3
    kept = timedelta(days=app.config["OUTBOX_KEPT_DAYS"])
    old, _recent, failed = rows(db)
    for row, when in ((old, kept + timedelta(hours=1)), (failed, kept * 2)):
        row.done_at = utcnow() - when
    failed.failed_at, failed.done_at = failed.done_at, None
    db.commit()
    stop = threading.Event()
    loop = threading.Thread(target=outbox.work, args=(app, stop), kwargs={"poll_seconds": 0.05})
    loop.start()
    try:
        wait_for(lambda: len(rows(db)) == 2, what="the old mail's deletion")
    finally:
        stop.set()
        loop.join(timeout=10)
    assert [row.payload["to"] for row in rows(db)] == ["recent@example.com", "failed@example.com"]


def test_worker_once_drains_what_is_due_and_exits(app, db, runner):
    app.config["MAIL_BACKEND"] = "folder"
    enqueue(app, db, "ada@example.com", "grace@example.com")
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "worker: 2 outbox rows run" in result.output
    assert all(row.done_at for row in rows(db))
    assert "0 outbox rows run" in runner.invoke(args=["worker", "--once"]).output


# --- The worker as its own process ------------------------------------------------------------


def worker_environment(database_url: str, tmp_path: Path, **settings: Any) -> dict[str, str]:
    """What `flask worker` in a subprocess reads: LEARNAPP_* variables (JSON-decoded)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNAPP_")}
    values = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        **settings,
    }
    for key, value in values.items():
        env[f"LEARNAPP_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env


@contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "flask", "--app", "learnapp", "worker", "--poll", "0.1"]
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and CLI)
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_a_worker_killed_mid_delivery_loses_nothing_and_resends_only_that_message(
    app, db, database_url, tmp_path
):
    hold = threading.Event()
    # The third message's DATA is taken and never answered: the worker waits for the "250".
    inbox = Inbox(hold=hold, hold_after=2)
    addresses = [f"learner{n}@example.com" for n in range(1, 6)]
    enqueue(app, db, *addresses)
    with smtp_server(inbox) as server:
        env = worker_environment(
            database_url,
            tmp_path,
            OUTBOX_LEASE_SECONDS=2,  # a dead worker's claim runs out soon
            **smtp_settings(server.port, timeout=60),
        )
        with worker_process(env) as first:
            wait_for(lambda: inbox.held, what="the third delivery to stop mid-DATA")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert [m["To"] for m in inbox.messages] == addresses[:2]
        state = [(row.done_at is not None, row.claimed_until is not None) for row in rows(db)]
        assert state == [
            (True, False),
            (True, False),
            (False, True),
            (False, False),
            (False, False),
        ]

        hold.set()  # the server answers again; the cut-off session is gone
        with worker_process(env) as second:
            wait_for(lambda: all(row.done_at for row in rows(db)), what="every mail sent")
            second.send_signal(signal.SIGTERM)
            _out, err = second.communicate(timeout=20)
            assert second.returncode == 0, err
            assert "SIGTERM received, stopping" in err

    sent = rows(db)
    assert all(row.failed_at is None and row.attempts == 0 for row in sent)
    ids = [row.payload["message_id"] for row in sent]
    delivered = [m["Message-ID"] for m in inbox.messages]
    assert sorted(delivered) == sorted(ids)  # each message accepted exactly once
    # The one cut off reached the server twice, with the same Message-ID; no other did.
    assert [m["Message-ID"] for m in inbox.held] == [ids[2]]
    assert [m["To"] for m in inbox.held] == [addresses[2]]


# --- make run -------------------------------------------------------------------------------


def test_make_run_starts_the_worker_beside_the_server_and_stops_it_with_it(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed (sudo apt-get install make)")
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'run.sqlite3'}"  # empty: `make run` migrates it
    env = worker_environment(database_url, tmp_path)
    del env["LEARNAPP_SECRET_KEY"]  # as a newcomer runs it: made up in the instance folder
    # -o: the virtualenv counts as installed (the test runs in it), so nothing is reinstalled.
    command = ["make", "-s", "-o", ".venv/.installed", "run", "HOST=127.0.0.1", f"PORT={port}"]
    process = subprocess.Popen(  # noqa: S603 (make and our own Makefile)
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, which Ctrl-C would signal
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    group = os.getpgid(process.pid)
    try:
        mailbox = f"http://127.0.0.1:{port}/dev/mail"

        def banner() -> bool:
            assert process.poll() is None, "make run ended:\n" + "".join(output)
            return any(mailbox in line for line in output)

        wait_for(banner, 120, "the banner")
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the server")
        app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x"})
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            enqueue(app, session, "ada@example.com")
            wait_for(lambda: rows(session)[0].done_at, 30, "the worker to send the mail")
        finally:
            session.close()
            dispose(app)
        assert "For ada@example.com" in _text(mailbox)  # the development mailbox lists it
        os.killpg(group, signal.SIGINT)  # Ctrl-C in the terminal
        process.wait(timeout=30)
        wait_for(lambda: not _group_alive(group), 30, "the server and the worker to stop")
    finally:
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
    text = "".join(output)
    assert "worker: running the outbox" in text, text
    assert "e-mail (console backend)" in text and "To: ada@example.com" in text


def _answers(url: str) -> bool:
    try:
        with urlopen(url, timeout=2) as response:  # noqa: S310 (http on loopback)
            return response.status == 200
    except OSError:
        return False


def _text(url: str) -> str:
    with urlopen(url, timeout=5) as response:  # noqa: S310 (http on loopback)
        return response.read().decode()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
