"""Database wiring: declarative base, engine with SQLite pragmas, and one session per request.

A GET request reads without a transaction: no BEGIN, COMMIT or ROLLBACK round trips, each
statement seeing the latest committed data (as PostgreSQL's READ COMMITTED gives anyway). Its
session refuses to write. Every other request has a transactional session, and its writes
start with `begin_write`.
"""

from __future__ import annotations

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


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling would defer BEGIN past our control; we emit it.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT
        # when another worker wrote meanwhile, whatever the timeout: writers take the lock
        # up front (BEGIN IMMEDIATE) and wait for it instead. Readers open no transaction.
        options = connection.get_execution_options()
        if options.get(READS_ONLY):
            return
        immediate = options.get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


READS_ONLY = "learnapp_reads_only"


def reader(engine: Engine) -> Engine:
    """The engine as a GET request's session uses it: statements run without a transaction.
    PostgreSQL has AUTOCOMMIT for this; on SQLite, `on_begin` leaves BEGIN out."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READS_ONLY: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class ReadOnlyError(RuntimeError):
    """A write through a GET request's session: it has no transaction to make it atomic."""


class ReaderSession(Session):
    """A GET request's session: reads only, outside any transaction."""


@event.listens_for(ReaderSession, "do_orm_execute")
def _refuse_statements_that_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyError("A GET request does not write: use a POST and begin_write().")


@event.listens_for(ReaderSession, "before_flush")
def _refuse_flushes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("A GET request does not write: use a POST and begin_write().")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for the URL, with SQLite made safe for several workers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def begin_write(session: Session) -> None:
    """Open the session's transaction as a writer: on SQLite, take the write lock now.

    Called before the first read of a request that will write, so that what it reads
    cannot change under it. On PostgreSQL writes rely on constraints and atomic updates.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_immediate": True})


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["learnapp.engine"] = engine
    app.extensions["learnapp.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["learnapp.reader_sessionmaker"] = sessionmaker(
        reader(engine), class_=ReaderSession, expire_on_commit=False
    )

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        # Anything not committed by the view is rolled back here.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def get_session() -> Session:
    """The request's session, opened on first use: a reader for GET and HEAD requests."""
    if "db_session" not in g:
        reads_only = has_request_context() and request.method in ("GET", "HEAD")
        maker = "learnapp.reader_sessionmaker" if reads_only else "learnapp.sessionmaker"
        g.db_session = current_app.extensions[maker]()
    return g.db_session


def get_engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["learnapp.engine"]


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
