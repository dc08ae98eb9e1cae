"""Alembic migrations: they build the schema the models describe, and each one that moves
data (0003 fills learner_progress, 0005, 0006, 0008, 0010, 0011, 0013) keeps what a
deployment holds."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    column,
    create_engine,
    delete,
    func,
    insert,
    make_url,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from learnapp import create_app
from learnapp.cli import alembic_config
from learnapp.db import Base, UTCDateTime, dispose, get_engine, utcnow
from learnapp.emails import email_skeleton
from learnapp.models import Certificate, LearnerProgress, QuizAttempt, SectionRead
from tests.test_instructor import (
    DAY,
    add_quiz_version,
    certificate,
    closed_attempt,
    reads,
)
from tests.test_learner_progress import computed

# `users` as migrations 0001 to 0004 made it (the model has columns added since).
USERS_BEFORE_0005 = table(
    "users",
    column("id", Integer),
    column("email", String),
    column("name", String),
    column("password_hash", String),
    column("role", String),
    column("session_version", Integer),
    column("is_enabled", Boolean),
    column("created_at", UTCDateTime()),
)


def users_before_0005(db: Session, people: list[tuple[str, str]]) -> list[int]:
    """Learners as (name, e-mail), a second apart in that order; their ids."""
    start = utcnow() - timedelta(days=1)
    return [
        db.scalar(
            insert(USERS_BEFORE_0005).returning(USERS_BEFORE_0005.c.id),
            {
                "name": name,
                "email": email,
                "password_hash": "!",
                "role": "learner",
                "session_version": 1,
                "is_enabled": True,
                "created_at": start + timedelta(seconds=n),
            },
        )
        for n, (name, email) in enumerate(people)
    ]


POSTGRES_URL = os.environ.get("LEARNAPP_TEST_DATABASE_URL")


@pytest.fixture
def empty_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database with no tables, on the backend `database_url` is on."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    server = make_url(POSTGRES_URL)
    name = f"learnapp_migrations_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated(app_config, empty_url, tmp_path, monkeypatch) -> Iterator[Flask]:
    """An app on the empty database; migrate(app, revision) moves its schema."""
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**app_config, "DATABASE_URL": empty_url})
    yield app
    dispose(app)


def migrate(app: Flask, revision: str, down: bool = False) -> None:
    # In an app context, as `flask db upgrade` runs them: 0003 needs the content.
    with app.app_context():
        config = alembic_config(app.config["DATABASE_URL"])
        (command.downgrade if down else command.upgrade)(config, revision)


# SQLite's indexes on expressions cannot be reflected, so autogenerate skips them there.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrations_build_the_schema_the_models_describe(migrated):
    migrate(migrated, "head")
    with get_engine(migrated).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        if connection.dialect.name == "sqlite":
            names = connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            assert "ix_users_lower_name" in set(names)


def test_upgrading_fills_learner_progress_from_the_stored_activity(migrated):
    migrate(migrated, "0002")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        ann, bob, _cat = users_before_0005(
            db, [("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Cat", "c@ex.org")]
        )
        version = add_quiz_version(db)
        db.execute(insert(SectionRead), [*reads(ann, 7, now - 9 * DAY), *reads(bob, 2, now)])
        db.execute(
            insert(QuizAttempt),
            [
                closed_attempt(ann, version, now - 8 * DAY, 70, False, critical=True),
                closed_attempt(ann, version, now - 7 * DAY, 90, True),
            ],
        )
        db.execute(insert(Certificate), [certificate(ann, now - 7 * DAY, now + 900 * DAY)])
        db.commit()

    migrate(migrated, "head")
    with Session(get_engine(migrated)) as db:
        rows = {
            row.user_id: dict(row._mapping) for row in db.execute(select(LearnerProgress.__table__))
        }
        assert set(rows) == {ann, bob}  # Cat did nothing
        assert rows == computed(migrated, db, [ann, bob])
        assert (rows[ann]["read_mask"], rows[ann]["attempts"], rows[ann]["best"]) == (127, 2, 90)
        assert (rows[ann]["passed"], rows[ann]["critical"]) == (True, False)
        assert rows[ann]["last_activity"] == now - 7 * DAY
        assert rows[ann]["certificate_valid_until"] == now + 900 * DAY
        assert (rows[bob]["read_count"], rows[bob]["read_mask"]) == (2, 0b11)
        assert rows[bob]["last_activity"] == now + timedelta(minutes=1)

    migrate(migrated, "0002", down=True)
    migrate(migrated, "head")
    with Session(get_engine(migrated)) as db:
        assert len(db.execute(select(LearnerProgress.__table__)).all()) == 2


# --- 0005: ids never reused, session tokens, e-mail skeletons ---------------------------

NEVER_REUSED = ("users", "cohorts", "quiz_attempts", "certificates")


def row_counts(db: Session) -> dict[str, int]:
    tables = MetaData()
    tables.reflect(db.connection())
    return {
        name: db.scalar(select(func.count()).select_from(t))
        for name, t in tables.tables.items()
        if name != "alembic_version"
    }


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0005_rebuilds_the_tables_whose_ids_leave_the_site_keeping_every_row(migrated):
    migrate(migrated, "0004")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        ann, bob, cat = users_before_0005(
            db, [("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Cat", "c@ex.org")]
        )
        version = add_quiz_version(db)
        db.execute(insert(SectionRead.__table__), reads(ann, 3, now))
        tables = MetaData()
        tables.reflect(db.connection(), only=["quiz_attempts", "certificates", "cohorts"])
        db.execute(
            insert(tables.tables["quiz_attempts"]),
            [
                closed_attempt(ann, version, now, 90, True),
                closed_attempt(bob, version, now, 50, False),
            ],
        )
        db.execute(insert(tables.tables["certificates"]), [certificate(ann, now, now + 900 * DAY)])
        cohort = tables.tables["cohorts"]
        db.execute(
            insert(cohort),
            {
                "name": "Tuesday",
                "session_date": now.date(),
                "lesson": "spinal-muscle-spasm",
                "join_code": "CODE",
                "instructor_id": cat,
                "created_at": now,
                "progress_version": 0,
            },
        )
        db.commit()
        before = row_counts(db)

    migrate(migrated, "head")
    with Session(get_engine(migrated)) as db:
        # Nothing cascaded while the tables were rebuilt (foreign keys were off meanwhile);
        # tables made by later migrations are left out.
        assert {name: n for name, n in row_counts(db).items() if name in before} == before
        if db.bind.dialect.name == "sqlite":
            schema = dict(db.execute(text("SELECT name, sql FROM sqlite_master")).all())
            for name in NEVER_REUSED:
                assert "AUTOINCREMENT" in schema[name], name
            assert "ix_users_lower_name" in schema
            assert db.execute(text("PRAGMA foreign_key_check")).all() == []
        # A deleted account's id is not given again.
        db.execute(delete(USERS_BEFORE_0005).where(USERS_BEFORE_0005.c.id == cat))
        db.commit()
        (newcomer,) = users_before_0005_with_token(db, [("Dan", "dan@example.com")])
        assert newcomer > cat

    migrate(migrated, "0004", down=True)
    migrate(migrated, "head")


def users_before_0005_with_token(db: Session, people: list[tuple[str, str]]) -> list[int]:
    from learnapp.models import User

    ids = [
        db.scalar(
            insert(User).returning(User.id), {"name": name, "email": email, "password_hash": "!"}
        )
        for name, email in people
    ]
    db.commit()
    return ids


def test_0005_gives_tokens_normalises_addresses_and_keeps_lookalikes_apart(migrated, capsys):
    migrate(migrated, "0004")
    people = [
        ("Ada", "ada@example.com"),
        ("Fullwidth", "\uff41\uff44\uff41@example.com"),
        ("Cyrillic", "\u0430da@example.com"),
        ("José", "jose\u0301@example.com"),
        ("Bob", "bob@example.com"),
    ]
    with Session(get_engine(migrated)) as db:
        ada, fullwidth, cyrillic, jose, bob = users_before_0005(db, people)
        db.commit()
    migrate(migrated, "head")
    output = capsys.readouterr().out

    with Session(get_engine(migrated)) as db:
        from learnapp.models import User

        rows = {row.id: row for row in db.execute(select(User.__table__))}
    skeleton = email_skeleton("ada@example.com")
    assert rows[ada].email == "ada@example.com" and rows[ada].email_skeleton == skeleton
    # Its normalised form is Ada's: kept as it was, which no login can type, and reported.
    assert rows[fullwidth].email == "\uff41\uff44\uff41@example.com"
    assert rows[fullwidth].email_skeleton == f"{skeleton}#{fullwidth}"
    assert rows[cyrillic].email == "\u0430da@example.com"
    assert rows[cyrillic].email_skeleton == f"{skeleton}#{cyrillic}"
    assert rows[jose].email == "jos\u00e9@example.com"  # NFC now
    assert rows[bob].email_skeleton == email_skeleton("bob@example.com")
    tokens = [row.session_token for row in rows.values()]
    assert all(tokens) and len(set(tokens)) == len(tokens)
    for reported in (fullwidth, cyrillic):
        assert f"account {reported} " in output
    assert f"account {bob} " not in output and f"account {ada} " not in output


def test_0006_moves_revocation_text_into_the_private_note_and_keeps_one_valid_certificate(
    migrated, capsys
):
    """The free text the verify page showed becomes the private note, under a neutral public
    reason; of two valid certificates for one lesson the newest stays, and the rule holds."""
    from sqlalchemy.exc import IntegrityError

    from tests.test_instructor import add_users

    migrate(migrated, "0005")
    now = utcnow()
    cheated = "Caught copying answers from Bob"
    with Session(get_engine(migrated)) as db:
        ann, bob = add_users(db, [("Ann", "ann@example.com"), ("Bob", "bob@example.com")])
        revoked = certificate(ann, now - 9 * DAY, now + 900 * DAY, revoked_at=now - DAY)
        db.execute(
            insert(Certificate),
            [
                {**revoked, "code": "REVOKED", "revoke_reason": cheated},
                certificate(ann, now - 8 * DAY, now + 900 * DAY, code="OLDER"),
                certificate(ann, now - 7 * DAY, now + 900 * DAY, code="NEWER"),
                certificate(bob, now - 7 * DAY, now + 900 * DAY, code="BOBS"),
            ],
        )
        db.commit()
    migrate(migrated, "head")
    output = capsys.readouterr().out

    def certificates_by_code() -> dict[str, Any]:
        with Session(get_engine(migrated)) as db:
            return {row.code: row for row in db.execute(select(Certificate.__table__))}

    rows = certificates_by_code()
    assert (rows["REVOKED"].revoke_reason, rows["REVOKED"].revoke_note) == (
        "Revoked by the issuer",
        cheated,
    )
    assert rows["NEWER"].revoked_at is None and rows["BOBS"].revoked_at is None
    older = rows["OLDER"]
    assert older.revoked_at is not None and older.revoke_reason == "Issued in error"
    assert "NEWER stands" in older.revoke_note
    assert "certificate OLDER:" in output and "certificate NEWER:" not in output
    with Session(get_engine(migrated)) as db, pytest.raises(IntegrityError):
        db.execute(insert(Certificate), [certificate(bob, now, now + 900 * DAY, code="TWO")])

    migrate(migrated, "0005", down=True)
    with Session(get_engine(migrated)) as db:
        reasons = dict(db.execute(text("SELECT code, revoke_reason FROM certificates")).all())
    assert reasons["REVOKED"] == cheated
    migrate(migrated, "head")
    assert certificates_by_code()["REVOKED"].revoke_note == cheated


def test_0008_counts_existing_accounts_as_confirmed_and_new_ones_wait(migrated, capsys):
    """Accounts from before confirmed addresses keep getting all their mail (the choice its
    docstring explains), and say so; an account made afterwards waits for its link."""
    from learnapp.models import User
    from tests.test_instructor import add_users

    migrate(migrated, "0007")
    before = utcnow()
    with Session(get_engine(migrated)) as db:
        ann, bob = add_users(db, [("Ann", "ann@example.com"), ("Bob", "bob@example.com")])
        db.commit()
    migrate(migrated, "0008")
    assert "2 existing accounts are counted as having confirmed" in capsys.readouterr().out
    with Session(get_engine(migrated)) as db:
        rows = {
            row.id: row
            for row in db.execute(select(User.id, User.email_confirmed_at, User.pending_email))
        }
        (cy,) = add_users(db, [("Cy", "cy@example.com")])
        db.commit()
        # Only this column: a later migration's columns are not there yet at 0008.
        assert db.scalar(select(User.email_confirmed_at).where(User.id == cy)) is None
    for old in (ann, bob):
        assert rows[old].email_confirmed_at >= before and rows[old].pending_email is None

    migrate(migrated, "0007", down=True)
    with get_engine(migrated).connect() as connection:
        emails = connection.scalars(text("SELECT email FROM users ORDER BY id")).all()
        assert emails == ["ann@example.com", "bob@example.com", "cy@example.com"]
        if connection.dialect.name == "sqlite":
            names = connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            assert "ix_users_lower_name" in set(names)
    migrate(migrated, "head")


def test_0007_makes_the_outbox_whose_constraints_refuse_what_the_worker_cannot_run(migrated):
    from sqlalchemy import inspect
    from sqlalchemy.exc import IntegrityError

    from learnapp.models import OutboxMessage

    migrate(migrated, "0007")
    row = {"payload": {"to": "ann@example.com"}, "attempts": 0, "next_attempt_at": utcnow()}
    with Session(get_engine(migrated)) as db:
        db.execute(insert(OutboxMessage).values(kind="mail", created_at=utcnow(), **row))
        db.commit()
        for wrong in (
            {"kind": "fax"},  # no handler runs it
            {"kind": "mail", "attempts": -1},
            {"kind": "mail", "done_at": utcnow(), "failed_at": utcnow()},  # done and failed
        ):
            with pytest.raises(IntegrityError):
                db.execute(insert(OutboxMessage).values({**row, "created_at": utcnow(), **wrong}))
            db.rollback()
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    migrate(migrated, "0006", down=True)
    with get_engine(migrated).connect() as connection:
        assert not inspect(connection).has_table("outbox")
    migrate(migrated, "head")


# `completion_records` as migration 0006 made it (0010 adds kept_because and user_id).
COMPLETION_RECORDS_BEFORE_0010 = table(
    "completion_records",
    column("cohort_id", Integer),
    column("code", String),
    column("name", String),
    column("lesson_title", String),
    column("score_percent", Float),
    column("joined_at", UTCDateTime()),
    column("issued_at", UTCDateTime()),
    column("valid_until", UTCDateTime()),
    column("revoked_at", UTCDateTime()),
    column("recorded_at", UTCDateTime()),
)


def test_0010_tells_why_each_record_is_kept_and_whose_it_is(migrated):
    """Before 0010 a record was kept for a deleted account or a withdrawn certificate: its
    certificate, withdrawn or not, tells which, and names the holder if the account exists."""
    from sqlalchemy.exc import IntegrityError

    from learnapp.cohorts import new_join_code
    from learnapp.models import WITHDRAWN, Cohort, CompletionRecord, User
    from tests.test_instructor import LESSON, add_users

    migrate(migrated, "0009")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        teacher, ann = add_users(db, [("Tess", "tess@example.com"), ("Ann", "ann@example.com")])
        # The columns cohorts had at 0009: later ones (short codes, 0012) are not there yet.
        cohort = db.scalar(
            insert(Cohort).returning(Cohort.id),
            {
                "name": "Tuesday class",
                "session_date": now.date(),
                "lesson": LESSON,
                "join_code": new_join_code(),
                "instructor_id": teacher,
            },
        )
        withdrawn = {
            **certificate(ann, now - 9 * DAY, now + 900 * DAY, code="WITHDRAWN"),
            "name": "",
            "pdf": None,
            "withdrawn_at": now - DAY,
            "revoked_at": now - DAY,
            "revoke_reason": WITHDRAWN,
        }
        deleted = certificate(None, now - 9 * DAY, now + 900 * DAY, code="DELETED")
        db.execute(insert(Certificate), [withdrawn, deleted])
        record = {
            "cohort_id": cohort,
            "name": "Ann Example",
            "lesson_title": "Spinal muscle spasm",
            "score_percent": 90.0,
            "joined_at": now - 10 * DAY,
            "issued_at": now - 9 * DAY,
            "valid_until": now + 900 * DAY,
            "recorded_at": now - DAY,
        }
        db.execute(
            insert(COMPLETION_RECORDS_BEFORE_0010),
            [{**record, "code": "WITHDRAWN"}, {**record, "code": "DELETED"}],
        )
        db.commit()

    migrate(migrated, "0010")

    def kept() -> dict[str, tuple[str, int | None]]:
        with Session(get_engine(migrated)) as db:
            rows = db.execute(
                select(
                    CompletionRecord.code, CompletionRecord.kept_because, CompletionRecord.user_id
                )
            )
            return {code: (because, user_id) for code, because, user_id in rows}

    assert kept() == {"WITHDRAWN": ("withdrawn", ann), "DELETED": ("deleted", None)}
    with Session(get_engine(migrated)) as db:
        with pytest.raises(IntegrityError):
            db.execute(
                insert(CompletionRecord),
                {**record, "code": "OTHER", "kept_because": "moved"},
            )
        db.rollback()
        with pytest.raises(IntegrityError):  # a reason is always given
            db.execute(insert(CompletionRecord), {**record, "code": "OTHER", "kept_because": None})
        db.rollback()
        db.execute(delete(User).where(User.id == ann))
        db.commit()
    assert kept() == {"WITHDRAWN": ("withdrawn", None), "DELETED": ("deleted", None)}

    migrate(migrated, "0009", down=True)
    with Session(get_engine(migrated)) as db:
        assert db.scalar(select(func.count()).select_from(COMPLETION_RECORDS_BEFORE_0010)) == 2
    migrate(migrated, "head")
    assert kept() == {"WITHDRAWN": ("withdrawn", None), "DELETED": ("deleted", None)}


def test_0011_gives_reads_a_reading_time_and_keeps_every_read(migrated):
    """Reads from before 0011 have no reading time (NULL: not known); a new one can be
    stored; a downgrade keeps the reads (and, on SQLite, the index on an expression that a
    table rebuild would lose)."""
    from sqlalchemy import inspect

    from learnapp.models import User
    from tests.test_instructor import add_users

    migrate(migrated, "0010")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        (ann,) = add_users(db, [("Ann", "ann@example.com")])
        db.execute(insert(SectionRead), reads(ann, 3, now - DAY))
        db.commit()
    migrate(migrated, "0011")

    def seconds() -> dict[str, int | None]:
        with Session(get_engine(migrated)) as db:
            rows = db.execute(select(SectionRead.section, SectionRead.reading_seconds))
            return dict(rows.all())

    assert seconds() == {"spine-and-spasm": None, "vehicle-accidents": None, "sports-strains": None}
    with Session(get_engine(migrated)) as db:
        (read,) = reads(ann, 7, now)[6:]
        db.execute(insert(SectionRead), {**read, "reading_seconds": 95})
        db.commit()
    assert seconds()["summary"] == 95

    migrate(migrated, "0010", down=True)
    with get_engine(migrated).connect() as connection:
        sections = connection.scalars(text("SELECT section FROM section_reads ORDER BY id"))
        assert len(sections.all()) == 4
        columns = {c["name"] for c in inspect(connection).get_columns("section_reads")}
        assert "reading_seconds" not in columns
        if connection.dialect.name == "sqlite":
            names = connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            assert "ix_users_lower_name" in set(names)
    with Session(get_engine(migrated)) as db:
        assert db.scalar(select(User.name).where(User.id == ann)) == "Ann"
    migrate(migrated, "head")
    assert seconds()["summary"] is None  # dropped with its column: not known again


# `cohorts` as migrations 0002 to 0012 made it (0013 makes instructor_id the creator only).
COHORTS_BEFORE_0013 = table(
    "cohorts",
    column("id", Integer),
    column("name", String),
    column("session_date", Date),
    column("lesson", String),
    column("join_code", String),
    column("instructor_id", Integer),
    column("created_at", UTCDateTime()),
    column("progress_version", Integer),
)


def test_0013_makes_each_cohorts_instructor_its_first_and_keeps_cohorts_past_their_creator(
    migrated, capsys
):
    """Every cohort's instructor becomes its first row of cohort_instructors; afterwards a
    cohort outlives its creator's account while it has another instructor. A downgrade gives
    each cohort one instructor again, and deletes (and names) one with none left, as the
    cascade before 0013 would have."""
    from sqlalchemy import inspect

    from learnapp.cohorts import new_join_code
    from learnapp.models import CohortInstructor, Enrolment, User
    from tests.test_instructor import LESSON, add_users

    migrate(migrated, "0012")
    now = utcnow()
    with Session(get_engine(migrated)) as db:
        tess, otto, ann = add_users(
            db,
            [("Tess", "tess@example.com"), ("Otto", "otto@example.com"), ("Ann", "ann@ex.org")],
        )
        cohorts = {
            name: db.scalar(
                insert(COHORTS_BEFORE_0013).returning(COHORTS_BEFORE_0013.c.id),
                {
                    "name": name,
                    "session_date": now.date(),
                    "lesson": LESSON,
                    "join_code": new_join_code(),
                    "instructor_id": teacher,
                    "created_at": now - n * DAY,
                    "progress_version": 0,
                },
            )
            for n, (name, teacher) in enumerate(
                [("Tuesday", tess), ("Friday", tess), ("Otto's", otto)]
            )
        }
        db.execute(
            insert(Enrolment.__table__),
            [{"cohort_id": cohorts["Friday"], "user_id": ann, "joined_at": now}],
        )
        db.commit()

    migrate(migrated, "0013")

    def instructors() -> dict[int, list[int]]:
        with Session(get_engine(migrated)) as db:
            rows = db.execute(
                select(CohortInstructor.cohort_id, CohortInstructor.user_id).order_by(
                    CohortInstructor.added_at, CohortInstructor.id
                )
            )
            found: dict[int, list[int]] = {}
            for cohort_id, user_id in rows:
                found.setdefault(cohort_id, []).append(user_id)
            return found

    assert instructors() == {
        cohorts["Tuesday"]: [tess],
        cohorts["Friday"]: [tess],
        cohorts["Otto's"]: [otto],
    }
    with Session(get_engine(migrated)) as db:
        (row,) = db.execute(
            select(CohortInstructor.added_at, CohortInstructor.added_by_id).where(
                CohortInstructor.cohort_id == cohorts["Tuesday"]
            )
        ).all()
        assert tuple(row) == (now, tess)  # added by themselves, when they made the cohort
        # Otto co-teaches Tuesday's; Tess's account goes; so does an instructor's profile.
        db.execute(
            insert(CohortInstructor),
            {"cohort_id": cohorts["Tuesday"], "user_id": otto, "added_by_id": tess},
        )
        db.execute(
            User.__table__.update()
            .where(User.id == otto)
            .values(instructor_number="WSI-1", instructor_issuing_body="Red Cross")
        )
        db.execute(delete(User).where(User.id == tess))
        db.commit()
        creators = dict(
            db.execute(
                select(COHORTS_BEFORE_0013.c.name, COHORTS_BEFORE_0013.c.instructor_id)
            ).all()
        )
        assert creators == {"Tuesday": None, "Friday": None, "Otto's": otto}
    assert instructors() == {cohorts["Tuesday"]: [otto], cohorts["Otto's"]: [otto]}

    migrate(migrated, "0012", down=True)
    assert (
        f"cohort {cohorts['Friday']} ('Friday') has no instructor left" in capsys.readouterr().out
    )
    with get_engine(migrated).connect() as connection:
        rows = connection.execute(
            select(COHORTS_BEFORE_0013.c.name, COHORTS_BEFORE_0013.c.instructor_id)
        )
        assert dict(rows.all()) == {"Tuesday": otto, "Otto's": otto}
        assert connection.scalar(select(func.count()).select_from(Enrolment.__table__)) == 0
        tables = inspect(connection)
        assert not tables.has_table("cohort_instructors")
        assert "instructor_number" not in {c["name"] for c in tables.get_columns("users")}
        if connection.dialect.name == "sqlite":
            schema = dict(connection.execute(text("SELECT name, sql FROM sqlite_master")).all())
            assert "AUTOINCREMENT" in schema["cohorts"]
            assert "ix_users_lower_name" in schema
    migrate(migrated, "head")
    assert instructors() == {cohorts["Tuesday"]: [otto], cohorts["Otto's"]: [otto]}
