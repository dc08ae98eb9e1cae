"""Flask commands: content check, db upgrade, progress rebuild, retention purge, users create,
demo, worker, backup."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from learnapp.config import ROOT
from learnapp.content import ContentError, load_content
from learnapp.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, DemoError, seed_cohort
from learnapp.plurals import counted


@click.group("content", cls=AppGroup)
def content_group() -> None:
    """Lesson and quiz content."""


@content_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def content_check(as_json: bool) -> None:
    """Validate lessons/ and quizzes/; print each problem with its file and line."""
    try:
        catalogue = load_content(
            current_app.config["LESSONS_DIR"], current_app.config["QUIZZES_DIR"]
        )
    except ContentError as error:
        if as_json:
            click.echo(
                json.dumps({"ok": False, "problems": [vars(p) for p in error.problems]}, indent=2)
            )
        else:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{counted(len(error.problems), 'problem')} found.", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"ok": True, **catalogue.summary()}, indent=2))
        return
    lessons, quizzes = catalogue.lessons.values(), catalogue.quizzes.values()
    sections = counted(sum(len(lesson.sections) for lesson in lessons), "section")
    questions = counted(sum(len(q.questions) for q in quizzes), "question")
    click.echo(
        f"content {catalogue.version}: {sections} in {counted(len(lessons), 'lesson')},"
        f" {questions} in {counted(len(quizzes), 'quiz', 'quizzes')}: OK"
    )


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """The database schema."""


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration not yet applied."""
    from alembic import command

    command.upgrade(alembic_config(current_app.config["DATABASE_URL"]), "head")
    click.echo("database schema is up to date")


@click.group("progress", cls=AppGroup)
def progress_group() -> None:
    """The learner progress the instructor dashboard reads."""


@progress_group.command("rebuild")
def progress_rebuild() -> None:
    """Recompute learner progress from the stored reads, attempts and certificates: run it
    after renaming, removing or reordering a lesson's sections."""
    from learnapp import learner_progress
    from learnapp.db import vacuum_analyze, writing
    from learnapp.models import LearnerProgress

    catalogue = current_app.extensions["learnapp.content"]
    if catalogue is None:
        raise click.ClickException("the content has problems: run `flask content check`")
    with writing() as session:
        written = learner_progress.rebuild(session, catalogue)
    vacuum_analyze(session.get_bind(), LearnerProgress.__tablename__)
    for slug, rows in written.items():
        click.echo(f"{slug}: progress of {counted(rows, 'learner')} recomputed")


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """What is kept after an account or a certificate is deleted."""


@retention_group.command("purge")
def retention_purge() -> None:
    """Delete the cohorts' completion records past their retention period
    (COMPLETION_RECORDS_KEPT_DAYS after the certificate's validity ends). Run it daily."""
    from learnapp import retention
    from learnapp.db import utcnow, writing

    with writing() as session:
        deleted = retention.purge(
            session, utcnow(), current_app.config["COMPLETION_RECORDS_KEPT_DAYS"]
        )
    click.echo(f"{counted(deleted, 'completion record')} past their retention period deleted")


@click.command("worker")
@click.option(
    "--once", is_flag=True, help="Run what is due until nothing is, then exit (cron, tests)."
)
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds to wait when nothing is due.",
)
@with_appcontext
def worker(once: bool, poll: float) -> None:
    """Send the outbox (mail) with retries, and run the periodic jobs; stop with SIGTERM or
    Ctrl-C, after the row being sent."""
    import signal
    import threading

    from learnapp import outbox

    # The app itself, not the proxy: the loop pushes an app context of its own per round
    # (Flask's documented way, "Notes On Proxies").
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        click.echo(f"worker: {signal.Signals(signum).name} received, stopping", err=True)
        stop.set()

    # The row being sent is finished first; a second signal changes nothing, and a kill -9
    # leaves a lease that runs out (OUTBOX_LEASE_SECONDS), after which the row is sent again.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if not once:
        click.echo(f"worker: running the outbox every {poll:g} s when idle", err=True)
    try:
        ran = outbox.work(app, stop, once=once, poll_seconds=poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"worker: {counted(ran, 'outbox row')} run", err=True)


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Accounts."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(["learner", "instructor", "admin"]),
    default="learner",
    show_default=True,
)
@click.password_option(help="Prompted for when not given.")
def users_create(email: str, name: str, role: str, password: str) -> None:
    """Create an account."""
    from learnapp import accounts
    from learnapp.db import writing

    try:
        with writing() as session:
            user = accounts.create_user(
                session, email=email, name=name, password=password, role=role
            )
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created {user.role} {user.email}")


@click.command("demo")
@with_appcontext
@click.option(
    "--learners",
    type=click.IntRange(0, 100_000),
    default=0,
    show_default=True,
    help="Also seed a cohort of this many demo learners.",
)
def demo(learners: int) -> None:
    """Create the development demo accounts when missing, and print them."""
    from learnapp import accounts
    from learnapp.db import get_session, writing

    if current_app.config["ENV"] == "production":
        raise click.ClickException("demo accounts are for development only, not production")
    session = get_session()
    with writing(session):
        for email, name, role in DEMO_ACCOUNTS:
            if accounts.find_by_email(session, email) is None:
                accounts.create_user(
                    session, email=email, name=name, password=DEMO_PASSWORD, role=role
                )
    if learners:
        try:
            seed_cohort(session, learners)
        except DemoError as error:
            raise click.ClickException(str(error)) from None
    click.echo("Demo accounts (development only):")
    for email, _name, role in DEMO_ACCOUNTS:
        click.echo(f"  {role:<10} {email:<26} password: {DEMO_PASSWORD}")


def _sqlite_path(url: str) -> Path:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise click.ClickException(
            "backup and restore work on a SQLite file; for PostgreSQL use pg_dump (docs/deployment.md)"
        )
    return Path(parsed.database)


def _copy_sqlite(source: Path, target: Path) -> dict[str, int]:
    """Copy with SQLite's online backup (consistent while others write), then check the copy."""
    import sqlite3

    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise click.ClickException(f"integrity check failed: {verdict}")
        tables = [
            name
            for (name,) in dst.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        # Table names come from sqlite_master, not from anyone's input.
        count = 'SELECT count(*) FROM "{}"'
        return {table: dst.execute(count.format(table)).fetchone()[0] for table in tables}


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path: Path) -> None:
    """Take a consistent copy of the live SQLite database into PATH."""
    if path.exists():
        raise click.ClickException(f"{path} exists: choose a new file")
    counts = _copy_sqlite(_sqlite_path(current_app.config["DATABASE_URL"]), path)
    click.echo(
        f"backup written to {path}: integrity ok, "
        + ", ".join(f"{t} {n}" for t, n in counts.items())
    )


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.confirmation_option(prompt="Replace the current database with this backup?")
@with_appcontext
def restore(path: Path) -> None:
    """Replace the SQLite database with the backup at PATH (stop the server first)."""
    counts = _copy_sqlite(path, _sqlite_path(current_app.config["DATABASE_URL"]))
    click.echo(
        f"restored from {path}: integrity ok, " + ", ".join(f"{t} {n}" for t, n in counts.items())
    )


def init_app(app: Flask) -> None:
    for command in (
        content_group,
        db_group,
        progress_group,
        retention_group,
        users_group,
        demo,
        worker,
        backup,
        restore,
    ):
        app.cli.add_command(command)
