"""Database wiring: declarative base, engine with SQLite pragmas, and one session per request.

A GET request reads without a transaction: no BEGIN, COMMIT or ROLLBACK round trips, each
statement seeing the latest committed data (as PostgreSQL's READ COMMITTED gives anyway). Its
session refuses to write. Every other request has a transactional session, and its writes
start with `begin_write`.
"""

from __future__ import annotations

import copy
import fcntl
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, exc
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


def _configure_sqlite(engine: Engine, autocommit: bool) -> None:
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

    if autocommit:
        return  # no BEGIN, ever: each statement reads the latest committed data

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT
        # when another worker wrote meanwhile, whatever the timeout: writers take the lock
        # up front (BEGIN IMMEDIATE) and wait for it instead.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class ReadOnlyError(RuntimeError):
    """A write through a GET request's session: it has no transaction to make it atomic."""


class ReaderSession(Session):
    """A GET request's session: reads only, outside any transaction."""


class WriterSession(Session):
    """The session of every other request (and of commands): reads and writes in a
    transaction, which the view commits."""

    def commit(self) -> None:
        # Nothing begun, nothing to commit (adding an object begins): SQLAlchemy would begin
        # a transaction only to commit it, 40 µs of bookkeeping on the busiest write, the
        # PostgreSQL quiz submit, which runs on the autocommit connection instead.
        if self.in_transaction():
            super().commit()


@event.listens_for(ReaderSession, "do_orm_execute")
def _refuse_statements_that_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyError("A GET request does not write: use a POST and begin_write().")


@event.listens_for(ReaderSession, "before_flush")
def _refuse_flushes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("A GET request does not write: use a POST and begin_write().")


def make_engine(url: str, *, autocommit: bool = False, **options: Any) -> Engine:
    """An engine for the URL, with SQLite made safe for several workers.

    `autocommit`: the engine of statements outside any transaction (`autocommit()`: the
    busiest reads, a GET request's session, and the one-statement PostgreSQL submit). Its
    connections stay in autocommit for their whole life (PostgreSQL's AUTOCOMMIT, SQLite
    without BEGIN), so handing one out and taking it back costs no switching of modes and
    no rollback."""
    if autocommit:
        options = {"pool_reset_on_return": None, **options}
        if not url.startswith("sqlite"):
            options["isolation_level"] = "AUTOCOMMIT"
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        _configure_sqlite(engine, autocommit)
        return engine
    engine = create_engine(url, **options)
    _ping_after_idle(engine)
    return engine


# A connection unused for longer than this is pinged before it is handed out.
IDLE_BEFORE_PING = 10.0


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection only when it has sat idle: `pool_pre_ping` pings on every
    checkout, a round trip that cost a busy page more than its own query. A connection in
    steady use was alive a moment ago; after a database restart, a request that meets a
    dropped connection fails once, and that connection is replaced."""

    @event.listens_for(engine, "checkin")
    def remember_when(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not _alive_after_idle(engine, dbapi_connection, record.info.get("idle_since")):
            # The pool discards this connection and hands out a fresh one.
            raise exc.DisconnectionError("a pooled connection was dropped")


def _alive_after_idle(engine: Engine, dbapi_connection: Any, idle_since: float | None) -> bool:
    """False if the connection sat idle too long and then failed a ping."""
    if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
        return True
    try:
        engine.dialect.do_ping(dbapi_connection)
    except engine.dialect.loaded_dbapi.Error:
        return False
    return True


def begin_write(session: Session) -> None:
    """Open the session's transaction as a writer: on SQLite, take the write lock now.

    Called before the first read of a request that will write, so that what it reads
    cannot change under it. On PostgreSQL writes rely on constraints and atomic updates.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
    _wait_for_writers_turn(session, bind.url.database)
    try:
        session.connection(execution_options={"sqlite_immediate": True})
    except BaseException:
        _end_writers_turn(session)
        raise


WRITERS_TURN = "writers_turn"  # session.info key: the open lock file of a writer's turn


def writers_lock_path(database: str) -> str:
    return f"{database}-writers"


def _wait_for_writers_turn(session: Session, database: str | None) -> None:
    """On SQLite, queue for the write lock in the kernel before asking SQLite for it.

    SQLite's busy handler polls for a held lock, sleeping 1, 2, 5, 10... ms between tries, so
    a writer that arrives while another holds the lock for a fraction of a millisecond waits
    for milliseconds, and its worker idles meanwhile (quiz submits at the start of a class:
    p99 over 100 ms). Writers of this app first take an exclusive lock on a file beside the
    database (flock), which wakes the next in line the moment it is released: when the
    session's transaction ends, however it ends. Other writers (commands, tools) still meet
    SQLite's own lock and busy timeout.
    """
    if not database or database == ":memory:":
        return
    turn = os.open(writers_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)
    except BaseException:
        os.close(turn)
        raise
    session.info[WRITERS_TURN] = turn


@event.listens_for(Session, "after_transaction_end")
def _writers_turn_ends_with_the_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        _end_writers_turn(session)


def _end_writers_turn(session: Session) -> None:
    turn = session.info.pop(WRITERS_TURN, None)
    if turn is not None:
        os.close(turn)  # releases the lock


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["learnapp.engine"] = engine
    autocommit_engine = make_engine(app.config["DATABASE_URL"], autocommit=True)
    app.extensions["learnapp.autocommit"] = autocommit_engine
    app.extensions["learnapp.kept_connections"] = KeptConnections(autocommit_engine)
    app.extensions["learnapp.sessionmaker"] = sessionmaker(
        engine, class_=WriterSession, expire_on_commit=False
    )
    app.extensions["learnapp.reader_sessionmaker"] = sessionmaker(
        class_=ReaderSession, expire_on_commit=False
    )

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        # Anything not committed by the view is rolled back here.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
        connection = g.pop("db_autocommit", None)
        if connection is not None:
            app.extensions["learnapp.kept_connections"].give_back(connection)


def autocommit() -> Connection:
    """The request's connection outside any transaction, taken on first use (one kept from an
    earlier request: `KeptConnections`): each statement on it is a transaction of its own.

    For reads that need no transaction: the busiest (the signed-in user with a lesson's
    reads, a stored PDF or the attempt being submitted) run here as `DirectQuery`s, since an
    ORM session costs more than they do, and a GET request's session reads through this same
    connection. In a request that writes, these reads are outside its transaction, as if made
    just before it. And for a write that is a single statement, atomic by itself: the quiz
    submit on PostgreSQL, spared the BEGIN and COMMIT round trips."""
    if "db_autocommit" not in g:
        g.db_autocommit = current_app.extensions["learnapp.kept_connections"].take()
    return g.db_autocommit


class KeptConnections:
    """Autocommit connections kept open from one request to the next.

    Checking a connection out of SQLAlchemy's pool and back in costs a busy page 30 to 50 µs
    of CPU (the code it runs is mostly out of the processor's caches by then): under load, a
    certificate download on PostgreSQL spent 731 µs per request in gunicorn that way and 683
    µs with its connection kept, about the cost of its query. An autocommit connection has no
    transaction to reset, so a request takes one kept here (checking out a new one when none
    is), and at its end gives it back. As many are kept as the pool keeps; one that sat idle
    is pinged first, as the pool's checkout would ping it.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        size = getattr(engine.pool, "size", None)
        self._keep = size() if callable(size) else 1
        self._ping = engine.dialect.name != "sqlite"
        # (connection, idle since): list.pop and list.append need no lock between threads.
        self._idle: list[tuple[Connection, float]] = []

    def take(self) -> Connection:
        while True:
            try:
                connection, idle_since = self._idle.pop()
            except IndexError:  # none kept (or another thread took the last one)
                return self._engine.connect()
            if not self._ping or _alive_after_idle(
                self._engine, connection.connection.dbapi_connection, idle_since
            ):
                return connection
            connection.invalidate()
            connection.close()

    def give_back(self, connection: Connection) -> None:
        if connection.closed or connection.invalidated or len(self._idle) >= self._keep:
            connection.close()
            return
        if connection.in_transaction():
            # Begun by SQLAlchemy only (Connection.execute autobegins): the database holds
            # no transaction, and psycopg's rollback sends nothing.
            connection.rollback()
        self._idle.append((connection, time.monotonic()))

    def close_all(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()


class DirectQuery:
    """A statement that runs on most requests (the signed-in user, a lesson's reads, a stored
    PDF, the attempt being submitted; the submit's writes), compiled once per dialect and
    executed on the driver itself, without SQLAlchemy's execution path.

    SQLAlchemy's work around each execution (result metadata from the cursor, parameter
    processing, connection events) costs more than these indexed lookups and writes: about
    25 µs a statement on SQLite and 80 µs on PostgreSQL, where a whole page may spend a few
    hundred (and for the submit's statement, with its many parameters, several hundred).
    On SQLite the statement runs on a cursor kept per connection; on PostgreSQL it is
    prepared once per connection and run by libpq itself (`_PreparedStatements`).
    Parameters and results are converted as their types convert them (dates, JSON); rows are
    plain tuples. Statement listeners (`before_cursor_execute`: the tests' and the
    benchmark's counters) still see each statement.

    `all`/`first` return rows; `run` returns the rows an UPDATE or INSERT changed; `run_many`
    runs an INSERT once per row (executemany). `column_keys` names the columns an INSERT
    without `.values()` takes, as each row's keys.
    """

    def __init__(self, statement: Any, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._column_keys = column_keys
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Any) -> _Compiled:
        prepared = dialect.driver == "psycopg"
        if prepared:
            # Numbered parameters ($1, $2, ...), as PostgreSQL prepares a statement: the
            # same dialect otherwise, so the same SQL.
            dialect = copy.copy(dialect)
            dialect.paramstyle, dialect.positional = "numeric_dollar", True
        compiled = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        processors = {
            name: process
            for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        return _Compiled(
            sql=compiled.string,
            order=tuple(compiled.positiontup) if dialect.positional else None,
            # Values written into the statement (`column == 3`); bindparam(name)s come per call.
            fixed={name: value for name, value in compiled.params.items() if value is not None},
            processors=processors,
            converters=None,
            prepared=prepared,
        )

    def _compiled_for(self, dialect: Any) -> _Compiled:
        try:
            return self._compiled[dialect.name]
        except KeyError:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
            return compiled

    @staticmethod
    def _values(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        """The parameters as the driver takes them: converted, in order where positional."""
        if compiled.fixed:
            params = {**compiled.fixed, **params}
        if compiled.processors:
            # As the parameters' types prepare them for the driver (JSON, for one).
            params = {
                name: value
                if (process := compiled.processors.get(name)) is None
                else process(value)
                for name, value in params.items()
            }
        return params if compiled.order is None else tuple(params[n] for n in compiled.order)

    def _converters(self, dialect: Any, type_codes: Sequence[Any]) -> tuple[Any, ...]:
        """Each column's conversion of a driver value, given the types the driver reported."""
        return tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, type_code)
            for column, type_code in zip(self.statement.selected_columns, type_codes, strict=True)
        )

    def all(self, connection: Connection, **params: Any) -> list[tuple[Any, ...]]:
        compiled = self._compiled_for(connection.dialect)
        # The columns' types only the first time: the driver builds them anew at each ask.
        unknown = compiled.converters is None
        rows, type_codes = _execute(
            connection, compiled, self._values(compiled, params), describe=unknown
        )
        if unknown:
            compiled = self._compiled[connection.dialect.name] = compiled._replace(
                converters=self._converters(connection.dialect, type_codes)
            )
        if not any(compiled.converters):
            return rows
        converters = compiled.converters
        return [
            tuple(v if c is None else c(v) for v, c in zip(row, converters, strict=True))
            for row in rows
        ]

    def first(self, connection: Connection, **params: Any) -> tuple[Any, ...] | None:
        rows = self.all(connection, **params)
        return rows[0] if rows else None

    def run(self, connection: Connection, **params: Any) -> int:
        compiled = self._compiled_for(connection.dialect)
        return _execute(connection, compiled, self._values(compiled, params), fetch=False)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        compiled = self._compiled_for(connection.dialect)
        _execute(connection, compiled, [self._values(compiled, row) for row in rows], many=True)


def _execute(
    connection: Connection,
    compiled: _Compiled,
    values: Any,
    fetch: bool = True,
    many: bool = False,
    describe: bool = False,
) -> Any:
    """Run a DirectQuery's statement on the connection: (rows, the columns' type codes if
    `describe` else None) when fetching, else the number of rows changed."""
    dialect = connection.dialect
    pooled = connection.connection
    driver = _kept_driver(pooled, dialect)
    try:
        connection.dispatch.before_cursor_execute(
            connection, driver.cursor, compiled.sql, values, None, many
        )
        if many:
            driver.cursor.executemany(compiled.sql, values)
            return driver.cursor.rowcount
        if compiled.prepared and driver.connection.autocommit:
            # Outside transactions only: in one, psycopg's cursor begins it first.
            return driver.run(compiled.sql, values, fetch, describe)
        cursor = driver.cursor
        cursor.execute(compiled.sql, values)
        if not fetch:
            return cursor.rowcount
        return cursor.fetchall(), [d[1] for d in cursor.description] if describe else None
    except dialect.loaded_dbapi.Error as error:
        # A dropped connection must not go back to the pool to fail the next request.
        dropped = dialect.is_disconnect(error, pooled.dbapi_connection, driver.cursor)
        driver.cursor.close()
        if dropped:
            pooled.info.pop(_DRIVER, None)
            connection.invalidate(error)
        else:
            driver.cursor = driver.new_cursor()  # one that has seen no error
        # As SQLAlchemy reports driver errors everywhere else (OperationalError, ...).
        raise exc.DBAPIError.instance(
            compiled.sql,
            values,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dropped,
        ) from error


_DRIVER = "learnapp.direct_query_driver"


class _Cursor:
    """SQLite: DirectQuery runs on a cursor kept as long as its connection (until an error)."""

    def __init__(self, dbapi_connection: Any) -> None:
        self.connection = dbapi_connection
        self.cursor = self.new_cursor()

    def new_cursor(self) -> Any:
        return self.connection.cursor()


class _PreparedStatements(_Cursor):
    """PostgreSQL: each DirectQuery statement prepared once per connection, then run by
    libpq's own call and its rows read by psycopg's compiled loaders, in binary.

    psycopg's cursor runs a query through Python generators waiting on the socket, then
    builds its results' description; for these one-row statements that was as costly as
    the database's own work: a certificate download on PostgreSQL spent 230 µs of CPU on its
    statement that way, and 180 µs this way. Only on connections outside transactions (the
    request's `autocommit()`), where these statements run: psycopg's cursor, which begins a
    transaction before its first statement, runs them in one, and runs `run_many`'s
    executemany (a `RawCursor`, which takes the same numbered parameters).
    """

    def __init__(self, dbapi_connection: Any) -> None:
        import psycopg  # not before PostgreSQL is used

        self._psycopg = psycopg
        super().__init__(dbapi_connection)
        # Prepared statements outlive errors, and this connection's are named here.
        self._names: dict[str, bytes] = {}
        # Parameters go as text, which the statement's casts ($1::INTEGER) type.
        self._adapt = psycopg.adapt.Transformer(dbapi_connection)
        self._text = psycopg.adapt.PyFormat.TEXT
        self._binary = psycopg.pq.Format.BINARY
        self._ok = (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.COMMAND_OK)
        self._error_from = psycopg.errors.error_from_result
        self._dropped = psycopg.OperationalError

    def new_cursor(self) -> Any:
        return self._psycopg.RawCursor(self.connection)

    def run(self, sql: str, values: Sequence[Any], fetch: bool, describe: bool) -> Any:
        pgconn = self.connection.pgconn
        name = self._names.get(sql)
        if name is None:
            name = f"learnapp_{len(self._names)}".encode()
            self._check(pgconn.prepare(name, sql.encode()))
            self._names[sql] = name
        params = self._adapt.dump_sequence(values, [self._text] * len(values))
        result = self._check(pgconn.exec_prepared(name, params, result_format=self._binary))
        if not fetch:
            return result.command_tuples
        self._adapt.set_pgresult(result)
        rows = self._adapt.load_rows(0, result.ntuples, tuple)
        return rows, [result.ftype(i) for i in range(result.nfields)] if describe else None

    def _check(self, result: Any) -> Any:
        if result.status in self._ok:
            return result
        if self.connection.closed:
            # Dropped (libpq's message says how), as psycopg's cursor would report it.
            raise self._dropped(result.get_error_message(self.connection.info.encoding))
        raise self._error_from(result, encoding=self.connection.info.encoding)


def _kept_driver(pooled: Any, dialect: Any) -> _Cursor | _PreparedStatements:
    """What runs DirectQuery statements on this DBAPI connection, kept as long as it: a new
    psycopg cursor or loader starts with empty caches of how to send each parameter's type
    and read each column's, and filling them again was a fifth of a query's cost in the
    client."""
    driver = pooled.info.get(_DRIVER)
    if driver is None or driver.connection is not pooled.dbapi_connection:
        kind = _PreparedStatements if dialect.driver == "psycopg" else _Cursor
        driver = pooled.info[_DRIVER] = kind(pooled.dbapi_connection)
    return driver


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # parameter names in order, for positional drivers
    fixed: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]  # bind parameters' conversions, by name
    converters: tuple[Callable[[Any], Any] | None, ...] | None  # known after a first run
    prepared: bool  # PostgreSQL: run by `_PreparedStatements`


def get_session() -> Session:
    """The request's session, opened on first use: a reader for GET and HEAD requests."""
    if "db_session" not in g:
        if has_request_context() and request.method in ("GET", "HEAD"):
            g.db_session = current_app.extensions["learnapp.reader_sessionmaker"](bind=autocommit())
        else:
            g.db_session = current_app.extensions["learnapp.sessionmaker"]()
    return g.db_session


def get_engine(app: Flask | None = None) -> Engine:
    """The engine of writes and transactions (migrations, commands, tests)."""
    return (app or current_app).extensions["learnapp.engine"]


def engines(app: Flask) -> tuple[Engine, Engine]:
    """Both of the app's engines, transactions and autocommit: for statement listeners."""
    return app.extensions["learnapp.engine"], app.extensions["learnapp.autocommit"]


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines (a test's end, a forked worker)."""
    app.extensions["learnapp.kept_connections"].close_all()
    app.extensions["learnapp.engine"].dispose()
    app.extensions["learnapp.autocommit"].dispose()


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
