"""Typed SQLAlchemy models; the rules that must always hold are constraints here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from learnapp.db import Base, utcnow

ROLES = ("learner", "instructor", "admin")
NAME_MAX = 120
EMAIL_MAX = 254


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="learner")
    # Bumped at logout and password change: sessions carry it, and a stale one is refused.
    session_version: Mapped[int] = mapped_column(default=1)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def is_instructor(self) -> bool:
        return self.role in ("instructor", "admin")


class SectionRead(Base):
    """A section a learner has read, once, keyed by slugs so edits to the text keep it."""

    __tablename__ = "section_reads"
    __table_args__ = (UniqueConstraint("user_id", "lesson", "section"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson: Mapped[str] = mapped_column(String(100))
    section: Mapped[str] = mapped_column(String(100))
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisclaimerAcknowledgement(Base):
    __tablename__ = "disclaimer_acknowledgements"
    __table_args__ = (UniqueConstraint("user_id", "lesson", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuizVersion(Base):
    """A quiz as it stood in one content version: attempts are graded against it."""

    __tablename__ = "quiz_versions"
    __table_args__ = (UniqueConstraint("quiz_id", "content_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[str] = mapped_column(String(100))
    content_version: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


ATTEMPT_STATES = ("in_progress", "closed")


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        CheckConstraint(f"state IN {ATTEMPT_STATES}", name="state"),
        CheckConstraint(
            "(state = 'closed') = (submitted_at IS NOT NULL AND score IS NOT NULL AND passed IS NOT NULL)",
            name="closed_has_result",
        ),
        Index("ix_quiz_attempts_user_quiz", "user_id", "quiz_id"),
        # One open attempt per learner and quiz: a double "start" resumes instead of forking.
        Index(
            "uq_quiz_attempts_open",
            "user_id",
            "quiz_id",
            unique=True,
            sqlite_where=text("state = 'in_progress'"),
            postgresql_where=text("state = 'in_progress'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quiz_id: Mapped[str] = mapped_column(String(100))
    quiz_version_id: Mapped[int] = mapped_column(ForeignKey("quiz_versions.id"))
    state: Mapped[str] = mapped_column(String(20), default="in_progress")
    # [{"id": question id, "order": [option/pair/item ids as shown]}], in display order.
    drawn: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    score: Mapped[float | None]
    points: Mapped[int | None]
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    critical_missed: Mapped[bool | None]
    # {section slug: [score, points]}
    by_section: Mapped[dict[str, list[float]] | None] = mapped_column(JSON)

    quiz_version: Mapped[QuizVersion] = relationship(lazy="raise")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="attempt", order_by="Answer.position", lazy="raise", passive_deletes=True
    )


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "question_id"),
        CheckConstraint("score >= 0 AND score <= points", name="score_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(100))
    section: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    response: Mapped[Any | None] = mapped_column(JSON)
    score: Mapped[float]
    points: Mapped[int]
    correct: Mapped[bool]

    attempt: Mapped[QuizAttempt] = relationship(back_populates="answers", lazy="raise")
