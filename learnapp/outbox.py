"""The outbox: outgoing work (mail now; grades sent to an LMS, reminders later) as rows of the
`outbox` table, written in the transaction of the change that causes it, and the worker that
runs them (`flask worker`).

A request only inserts a row: nothing is sent for a change that was rolled back, nothing is
lost while a receiver is down, and no request waits on another server. The worker claims a
due row with a conditional UPDATE that takes a lease (`claimed_until`), so two workers never
run one row at once and a row whose worker died is claimed again once its lease runs out. It
runs the row's handler outside any transaction (no lock is held while SMTP answers), then
marks it done, or counts the failure and tries again later (1 minute, doubling, at most an
hour apart) until a day has passed since the row was written; then the row is failed, and
admins see it (views/admin.py) and may retry it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from learnapp.db import utcnow, writing
from learnapp.models import OUTBOX_ERROR_MAX, OutboxMessage
from learnapp.plurals import counted

RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)


class PermanentFailure(Exception):
    """A handler's error that no retry can mend (a recipient the server refuses for good):
    the row is failed at once instead of being retried for a day."""


Handler = Callable[[dict[str, Any]], None]


def _mail(payload: dict[str, Any]) -> None:
    from learnapp import mail

    mail.deliver(payload)


# What runs a row of each kind (models.OUTBOX_KINDS, a CHECK constraint): a handler gets
# the payload, in an app context, and raises on failure.
HANDLERS: dict[str, Handler] = {"mail": _mail}


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """Add a row of outgoing work in the caller's transaction (flushed, not committed)."""
    if kind not in HANDLERS:
        raise ValueError(f"no outbox handler for kind {kind!r}")
    row = OutboxMessage(kind=kind, payload=payload, next_attempt_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _message_id_domain() -> str:
    sender = current_app.config["MAIL_FROM"] if has_app_context() else ""
    return parseaddr(sender)[1].rpartition("@")[2] or "learnapp.invalid"


def enqueue_mail(session: Session, to: str, subject: str, text: str) -> None:
    """A plain-text mail to `to`, sent by the worker once the caller's transaction commits.

    The Message-ID and Date are fixed here, so that a message sent twice (a delivery cut off
    before the server's answer reached the worker) is the same message, which mail systems
    and readers can recognise as one."""
    for name, value in (("address", to), ("subject", subject)):
        if not value.strip() or "\r" in value or "\n" in value:
            raise ValueError(f"a mail's {name} must be one non-empty line, not {value!r}")
    enqueue(
        session,
        "mail",
        {
            "to": to,
            "subject": subject,
            "text": text,
            "message_id": make_msgid(domain=_message_id_domain()),
            "date": format_datetime(utcnow()),
        },
    )


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a row is tried again."""
    return min(RETRY_FIRST * 2 ** min(attempts - 1, 30), RETRY_LONGEST)


def _lease() -> timedelta:
    # Longer than a handler can take (the SMTP timeout, MAIL_SMTP_TIMEOUT, is per
    # operation): a lease that runs out while its worker still runs would let a second
    # worker send the same row.
    return timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


def _waiting() -> tuple[Any, ...]:
    return (OutboxMessage.done_at.is_(None), OutboxMessage.failed_at.is_(None))


def due_ids(session: Session, now: datetime, limit: int | None = None) -> list[int]:
    """Ids of the rows waiting whose next attempt has come and that no lease holds."""
    lease_free = OutboxMessage.claimed_until.is_(None) | (OutboxMessage.claimed_until < now)
    statement = (
        select(OutboxMessage.id)
        .where(*_waiting(), OutboxMessage.next_attempt_at <= now, lease_free)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


@dataclass(frozen=True)
class Claim:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    lease: datetime  # the claimed_until this worker wrote: its proof that the row is its own


def claim(session: Session, row_id: int, now: datetime) -> Claim | None:
    """Take the row for `_lease()` if it is still waiting and unleased; None if another
    worker has it or it is finished. One conditional UPDATE, committed at once, so that the
    lease is what every other worker sees."""
    lease = now + _lease()
    with writing(session):
        row = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.claimed_until.is_(None) | (OutboxMessage.claimed_until < now),
                *_waiting(),
            )
            .values(claimed_until=lease)
            .returning(
                OutboxMessage.kind,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.created_at,
            )
        ).first()
    return None if row is None else Claim(row_id, *row, lease=lease)


def _finish(session: Session, claimed: Claim, **values: Any) -> None:
    # Only while the lease is still this worker's: one that outran its lease must not
    # overwrite what the row's next holder did.
    with writing(session):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.id, OutboxMessage.claimed_until == claimed.lease)
            .values(claimed_until=None, **values)
        )


def run_claimed(session: Session, claimed: Claim) -> bool:
    """Run a claimed row's handler and record the outcome; True if it succeeded."""
    try:
        HANDLERS[claimed.kind](claimed.payload)
    except Exception as error:  # any failure of the receiver is the row's, not the worker's
        now = utcnow()
        attempts = claimed.attempts + 1
        message = f"{type(error).__name__}: {error}"[:OUTBOX_ERROR_MAX]
        give_up = isinstance(error, PermanentFailure) or now - claimed.created_at >= GIVE_UP_AFTER
        current_app.logger.warning(
            "outbox row %s (%s) failed, attempt %s%s: %s",
            claimed.id,
            claimed.kind,
            attempts,
            ", giving up" if give_up else "",
            message,
        )
        _finish(
            session,
            claimed,
            attempts=attempts,
            last_error=message,
            **({"failed_at": now} if give_up else {"next_attempt_at": now + retry_delay(attempts)}),
        )
        return False
    _finish(session, claimed, done_at=utcnow())
    return True


def run_due(app: Flask, *, limit: int | None = None, stop: threading.Event | None = None) -> int:
    """Claim each row due now (at most `limit`) and run it once; how many were run."""
    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            ran = 0
            for row_id in due_ids(session, utcnow(), limit):
                if stop is not None and stop.is_set():
                    break
                claimed = claim(session, row_id, utcnow())
                if claimed is not None:
                    run_claimed(session, claimed)
                    ran += 1
            return ran
        finally:
            session.close()


def retry(session: Session, row_id: int) -> bool:
    """Make a failed row due now, its failures forgotten (an admin's retry); False if it is
    not failed. The day of retries still counts from the row's creation, so a row retried
    after that day is tried once more, and failed again if that try fails too."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.failed_at.is_not(None))
        .values(
            failed_at=None,
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_until=None,
        )
        .returning(OutboxMessage.id)
    )
    return result.first() is not None


def purge_done(session: Session, now: datetime, kept_days: int) -> int:
    """Delete the rows done more than `kept_days` ago (a mail's text holds names and links,
    which need not be kept); how many."""
    result = session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.done_at.is_not(None),
            OutboxMessage.done_at < now - timedelta(days=kept_days),
        )
        .returning(OutboxMessage.id)
    )
    return len(result.all())


# Periodic jobs: (how often, what) run by the worker's loop, first when it starts. Each gets
# the app, inside an app context; later work adds its own here.
def _purge_retention(app: Flask) -> None:
    from learnapp import retention

    with app.extensions["learnapp.sessionmaker"]() as session, writing(session):
        deleted = retention.purge(session, utcnow(), app.config["COMPLETION_RECORDS_KEPT_DAYS"])
    app.logger.info("retention purge: %s deleted", counted(deleted, "completion record"))


def _purge_outbox(app: Flask) -> None:
    with app.extensions["learnapp.sessionmaker"]() as session, writing(session):
        deleted = purge_done(session, utcnow(), app.config["OUTBOX_KEPT_DAYS"])
    app.logger.info("outbox purge: %s deleted", counted(deleted, "done row"))


PERIODIC: list[tuple[timedelta, Callable[[Flask], None]]] = [
    (timedelta(days=1), _purge_retention),
    (timedelta(days=1), _purge_outbox),
]


def work(
    app: Flask,
    stop: threading.Event,
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    batch: int = 50,
) -> int:
    """The worker: run due rows until `stop` is set, waiting `poll_seconds` when none is due,
    and the periodic jobs when their time comes; with `once`, run what is due until nothing
    is (no periodic jobs) and return. How many rows were run."""
    ran = 0
    last_run: dict[int, datetime] = {}
    while not stop.is_set():
        try:
            if not once:
                _run_periodic(app, last_run)
            count = run_due(app, limit=batch, stop=stop)
        except Exception:
            if once:
                raise
            # The database restarting must not end the worker: it tries again shortly.
            app.logger.exception("worker: the outbox could not be read; trying again")
            count = 0
        ran += count
        if count == 0:
            if once:
                break
            stop.wait(poll_seconds)
    return ran


def _run_periodic(app: Flask, last_run: dict[int, datetime]) -> None:
    now = utcnow()
    for index, (interval, job) in enumerate(PERIODIC):
        if index in last_run and now - last_run[index] < interval:
            continue
        last_run[index] = now  # a failing job waits for its next turn, not a tight loop
        with app.app_context():
            try:
                job(app)
            except Exception:
                app.logger.exception("worker: periodic job %s failed", job.__name__)
