"""Database wiring: declarative base, engines with SQLite pragmas, one session per request,
and `writing()`, the one place a change is committed.

A GET request reads on an engine in AUTOCOMMIT: no BEGIN, COMMIT or ROLLBACK round trips,
each statement seeing the latest committed data (as PostgreSQL's READ COMMITTED gives
anyway). Its session refuses to write. Every other request has a transactional session, and
its writes happen inside `with writing() as db:`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, and comparisons must agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date of a stored UTC time where the site's readers are."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def long_date(day: date) -> str:
    """A day as pages, messages and certificates write it: 1 December 2026."""
    return f"{day.day} {day:%B %Y}"


SQLITE_IMMEDIATE = "learnapp_sqlite_immediate"  # an execution option of our own


def _configure_sqlite(engine: Engine, autocommit: bool) -> None:
    # pysqlite's own transaction handling would defer BEGIN past our control; we emit it,
    # as SQLAlchemy's pysqlite documentation shows ("Serializable isolation").
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    if autocommit:
        return  # no BEGIN, ever: each statement reads the latest committed data

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT
        # when another worker wrote meanwhile, whatever the timeout: `writing()` takes the
        # lock up front (BEGIN IMMEDIATE) and waits for it instead.
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class ReadOnlyError(RuntimeError):
    """A write through a GET request's session: it has no transaction to make it atomic."""


class ReaderSession(Session):
    """A GET request's session: reads only, outside any transaction."""


@event.listens_for(ReaderSession, "do_orm_execute")
def _refuse_statements_that_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyError("A GET request does not write: use a POST and writing().")


@event.listens_for(ReaderSession, "before_flush")
def _refuse_flushes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("A GET request does not write: use a POST and writing().")


def make_engine(
    url: str, *, autocommit: bool = False, prepared_statements: bool = True, **options: Any
) -> Engine:
    """An engine for the URL, with SQLite made safe for several workers.

    `autocommit`: the engine of GET requests, whose statements run outside any transaction
    (PostgreSQL's AUTOCOMMIT, SQLite without BEGIN); a connection handed back has no
    transaction to reset, so the pool does not roll it back.
    `prepared_statements=False` turns psycopg's automatic prepares off, as a pooler in
    transaction mode needs (PgBouncer before 1.21, or one that runs DEALLOCATE ALL).
    """
    if autocommit:
        options = {"pool_reset_on_return": None, **options}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        _configure_sqlite(engine, autocommit)
        return engine
    if autocommit:
        options["isolation_level"] = "AUTOCOMMIT"
    if not prepared_statements:
        options["connect_args"] = {"prepare_threshold": None, **options.get("connect_args", {})}
    # A connection dropped by a database restart or a pooler is found at checkout and
    # replaced, so that the next request does not fail on it.
    return create_engine(url, pool_pre_ping=True, **options)


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    prepared = app.config["DATABASE_PREPARED_STATEMENTS"]
    engine = make_engine(url, prepared_statements=prepared)
    reader_engine = make_engine(url, autocommit=True, prepared_statements=prepared)
    app.extensions["learnapp.engine"] = engine
    app.extensions["learnapp.reader_engine"] = reader_engine
    app.extensions["learnapp.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["learnapp.reader_sessionmaker"] = sessionmaker(
        reader_engine, class_=ReaderSession, expire_on_commit=False
    )

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        # Anything not committed by `writing()` is rolled back here.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def get_session() -> Session:
    """The request's session, opened on first use: a reader for GET and HEAD requests."""
    if "db_session" not in g:
        reads_only = has_request_context() and request.method in ("GET", "HEAD")
        name = "learnapp.reader_sessionmaker" if reads_only else "learnapp.sessionmaker"
        g.db_session = current_app.extensions[name]()
    return g.db_session


@contextmanager
def writing(session: Session | None = None) -> Iterator[Session]:
    """The request's (or a command's `session`'s) one write transaction: begun here,
    committed when the block ends, rolled back if it raises.

    On SQLite whatever the request read before (loading, authorising) ends first, and the
    write lock is taken now (BEGIN IMMEDIATE), so that nothing read inside the block can
    change before it commits. On PostgreSQL the reads' transaction, if any, simply goes on
    (READ COMMITTED: each statement sees what is committed; the writes that race are
    conditional or constrained), sparing a COMMIT and a BEGIN round trip. Slow work
    (grading, rendering a PDF) belongs before the block: no lock is held meanwhile.
    """
    session = session or get_session()
    if isinstance(session, ReaderSession):
        raise ReadOnlyError("A GET request does not write: use a POST.")
    if session.in_transaction():
        if session.get_bind().dialect.name != "sqlite":
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            session.commit()
            return
        session.commit()  # only reads so far: nothing to undo, and no snapshot to keep
    with session.begin():
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        yield session


def get_engine(app: Flask | None = None) -> Engine:
    """The engine of writes and transactions (migrations, commands, tests)."""
    return (app or current_app).extensions["learnapp.engine"]


def engines(app: Flask) -> tuple[Engine, Engine]:
    """Both of the app's engines, transactions and GET reads: for statement listeners."""
    return app.extensions["learnapp.engine"], app.extensions["learnapp.reader_engine"]


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines (a test's end, a forked worker)."""
    for engine in engines(app):
        engine.dispose()


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT on the session's dialect, which offers ON CONFLICT (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignoring_duplicates(session: Session, model: type[Base], **values: Any) -> bool:
    """INSERT a row unless a unique constraint already holds one like it; True if inserted."""
    insert = dialect_insert(session, model)
    # RETURNING, not rowcount: psycopg reports -1 for a skipped insert.
    statement = insert.values(**values).on_conflict_do_nothing().returning(model.id)
    return session.execute(statement).first() is not None


def vacuum_analyze(engine: Engine, *tables: str) -> None:
    """After a bulk load on PostgreSQL: fresh planner statistics, and visibility maps that let
    index-only scans skip the table, rather than waiting for autovacuum. Outside any
    transaction, as VACUUM must be. SQLite plans without statistics."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Names from our own metadata, never from input.
        connection.exec_driver_sql(" ".join(["VACUUM ANALYZE", ", ".join(tables)]))
