"""A person's data export: everything stored about them, in words, for the JSON download
and the page to read and print.

Questions and the answers chosen are given as their texts, from the quiz as the learner saw
it (the version stored with the attempt); sections, lessons and cohorts by their titles and
names; certificates by code, with their status; times in ISO 8601 (UTC). Internal ids,
credentials (the password hash, the session token and version) and the look-alike skeleton
of the address stay on the server.

An open attempt lists only its questions, in the order shown: nothing that would tell a
right answer from a wrong one (which choice is where, the key) before it is submitted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from learnapp import certificates
from learnapp.content import Catalogue, Question, Quiz, parse_quiz
from learnapp.models import (
    Answer,
    Certificate,
    CertificationBlock,
    Cohort,
    CohortInstructor,
    CompletionRecord,
    DisclaimerAcknowledgement,
    Enrolment,
    QuizAttempt,
    QuizVersion,
    SectionRead,
    User,
)

ABOUT = (
    "Everything learnapp stores about you. Times are in UTC, written as ISO 8601. Your"
    " password is stored only as a hash, which is not included; nor are the certificate PDFs"
    " themselves (each is named by its SHA-256: download it from your certificate's page)."
)
OPEN_ATTEMPT_NOTE = (
    "This attempt is still open, so only its questions are listed, in the order shown. Your"
    " answers and their results are added here once you submit it."
)
QUESTION_TYPES = {
    "single": "one answer",
    "multiple": "several answers",
    "true_false": "true or false",
    "matching": "matching",
    "ordering": "ordering",
}
KEPT_BECAUSE = {
    "left": "You left the cohort",
    "removed": "An instructor removed you from the cohort",
    "deleted": "The account was deleted",
    "withdrawn": "The certificate was withdrawn at your request",
}


def export(
    session: Session, user_id: int, catalogue: Catalogue, now: datetime, kept_days: int
) -> dict[str, Any]:
    """The user's data, its times as datetimes (`to_json` writes them in ISO 8601).

    `kept_days` is COMPLETION_RECORDS_KEPT_DAYS, which says until when a cohort keeps a
    completion record."""
    user = session.get_one(User, user_id)
    return {
        "about": ABOUT,
        "exported_at": now,
        "account": {
            "name": user.name,
            "email": user.email,
            "email_confirmed_at": user.email_confirmed_at,
            "email_waiting_for_confirmation": user.pending_email,
            "role": user.role,
            "account_enabled": user.is_enabled,
            "registered_at": user.created_at,
            # The name an instructor or admin corrected a certificate to, offered for later ones.
            "name_for_certificates": user.certificate_name,
            # An instructor's profile (migration 0013): NULL for anyone who never gave one.
            "instructor_name_to_print": user.instructor_name,
            "instructor_number": user.instructor_number,
            "instructor_number_issued_by": user.instructor_issuing_body,
        },
        "sections_read": _sections_read(session, user_id, catalogue),
        "educational_use_notice_accepted": [
            {
                "lesson": _lesson_title(catalogue, lesson),
                "notice_version": version,
                "accepted_at": at,
            }
            for lesson, version, at in session.execute(
                select(
                    DisclaimerAcknowledgement.lesson,
                    DisclaimerAcknowledgement.version,
                    DisclaimerAcknowledgement.acknowledged_at,
                )
                .where(DisclaimerAcknowledgement.user_id == user_id)
                .order_by(DisclaimerAcknowledgement.acknowledged_at, DisclaimerAcknowledgement.id)
            )
        ],
        "quiz_attempts": _attempts(session, user_id, catalogue),
        "certificates": _certificates(session, user_id, now),
        "certification_blocks": _blocks(session, user_id, catalogue),
        "cohorts": _cohorts(session, user_id),
        "completion_records_kept_by_cohorts": _completion_records(session, user_id, kept_days),
    }


def to_json(data: dict[str, Any]) -> str:
    """The export as a JSON document, its times and dates in ISO 8601."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of an export")


def _lesson_title(catalogue: Catalogue, slug: str) -> str:
    lesson = catalogue.lessons.get(slug)
    return lesson.title if lesson is not None else slug


def _section_title(catalogue: Catalogue, lesson_slug: str | None, slug: str) -> str:
    lesson = catalogue.lessons.get(lesson_slug or "")
    section = lesson.section(slug) if lesson is not None else None
    return section.title if section is not None else slug


def _number(value: float | None) -> float | int | None:
    """1.0 as 1, 0.5 as 0.5: scores as a person writes them."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _sections_read(session: Session, user_id: int, catalogue: Catalogue) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            SectionRead.lesson,
            SectionRead.section,
            SectionRead.read_at,
            SectionRead.reading_seconds,
        )
        .where(SectionRead.user_id == user_id)
        .order_by(SectionRead.read_at, SectionRead.id)
    )
    return [
        {
            "lesson": _lesson_title(catalogue, lesson),
            "section": _section_title(catalogue, lesson, section),
            "read_at": read_at,
            # From the page being served to "Mark as read"; null when not known.
            "page_open_seconds": seconds,
        }
        for lesson, section, read_at, seconds in rows
    ]


# --- Quiz attempts -------------------------------------------------------------------------


def _attempts(session: Session, user_id: int, catalogue: Catalogue) -> list[dict[str, Any]]:
    rows = session.execute(
        select(QuizAttempt, QuizVersion.content_version)
        .join(QuizVersion, QuizVersion.id == QuizAttempt.quiz_version_id)
        .where(QuizAttempt.user_id == user_id)
        .order_by(QuizAttempt.started_at, QuizAttempt.id)
    ).all()
    quizzes = _quizzes_seen(session, [(a, drawn_from) for a, drawn_from in rows], catalogue)
    closed = [a.id for a, _ in rows if a.state == "closed"]
    answers: dict[int, list[Answer]] = defaultdict(list)
    if closed:
        for answer in session.scalars(
            select(Answer)
            .where(Answer.attempt_id.in_(closed))
            .order_by(Answer.attempt_id, Answer.position)
        ):
            answers[answer.attempt_id].append(answer)
    return [
        _attempt(attempt, quizzes.get(attempt.quiz_version_id), catalogue, answers[attempt.id])
        for attempt, _ in rows
    ]


def _quizzes_seen(
    session: Session, attempts: list[tuple[QuizAttempt, str]], catalogue: Catalogue
) -> dict[int, Quiz]:
    """The quiz each attempt was drawn from, by quiz version id: the current one when the
    content has not changed since, else the stored document, parsed once per version. A
    stored quiz that no longer parses is answered by the current quiz of that id."""
    found: dict[int, Quiz] = {}
    older = set()
    for attempt, drawn_from in attempts:
        current = catalogue.quizzes.get(attempt.quiz_id)
        if current is not None and drawn_from == catalogue.version:
            found[attempt.quiz_version_id] = current
        else:
            older.add(attempt.quiz_version_id)
    if older:
        for version in session.scalars(select(QuizVersion).where(QuizVersion.id.in_(older))):
            label = f"stored quiz {version.quiz_id}@{version.content_version}"
            parsed, _problems = parse_quiz(version.document, label, catalogue.lessons)
            fallback = catalogue.quizzes.get(version.quiz_id)
            if parsed is not None or fallback is not None:
                found[version.id] = parsed or fallback  # type: ignore[assignment]
    return found


def _attempt(
    attempt: QuizAttempt, quiz: Quiz | None, catalogue: Catalogue, answers: list[Answer]
) -> dict[str, Any]:
    lesson = quiz.lesson if quiz is not None else None
    shown = {
        "quiz": quiz.title if quiz is not None else attempt.quiz_id,
        "lesson": _lesson_title(catalogue, lesson) if lesson else None,
        "state": "submitted" if attempt.state == "closed" else "open",
        "started_at": attempt.started_at,
    }
    if attempt.state != "closed":
        questions = [
            {
                "number": number,
                "section": _section_title(catalogue, lesson, asked.section) if asked else None,
                "question": asked.prompt if asked else None,
            }
            for number, asked in enumerate(
                (_question(quiz, entry["id"]) for entry in attempt.drawn), start=1
            )
        ]
        return {**shown, "note": OPEN_ATTEMPT_NOTE, "questions": questions}
    return {
        **shown,
        "submitted_at": attempt.submitted_at,
        "score": _number(attempt.score),
        "points": attempt.points,
        "percent": _number(attempt.percent),
        "passed": attempt.passed,
        "missed_a_safety_critical_question": attempt.critical_missed,
        "by_section": [
            {
                "section": _section_title(catalogue, lesson, slug),
                "score": _number(score),
                "points": _number(points),
            }
            for slug, (score, points) in _in_section_order(
                catalogue, lesson, attempt.by_section or {}
            )
        ],
        "questions": [_answered(answer, quiz, catalogue, lesson) for answer in answers],
    }


def _question(quiz: Quiz | None, question_id: str) -> Question | None:
    return quiz.question(question_id) if quiz is not None else None


def _in_section_order(
    catalogue: Catalogue, lesson_slug: str | None, by_section: dict[str, Any]
) -> list[tuple[str, Any]]:
    lesson = catalogue.lessons.get(lesson_slug or "")
    order = {s.slug: n for n, s in enumerate(lesson.sections)} if lesson is not None else {}
    return sorted(by_section.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def _answered(
    answer: Answer, quiz: Quiz | None, catalogue: Catalogue, lesson: str | None
) -> dict[str, Any]:
    asked = _question(quiz, answer.question_id)
    return {
        "number": answer.position,
        "section": _section_title(catalogue, lesson, answer.section),
        "question": asked.prompt if asked is not None else None,
        "type": QUESTION_TYPES.get(asked.type) if asked is not None else None,
        "safety_critical": asked.critical if asked is not None else None,
        "your_answer": answer_text(asked, answer.response),
        "correct": answer.correct,
        "score": _number(answer.score),
        "points": answer.points,
    }


def answer_text(question: Question | None, response: Any) -> Any:
    """A stored response in the words the learner saw: an option's text (several, in the
    order the quiz lists them), "True" or "False", each item with the match chosen, or the
    items in the order given; None for a question left blank. A response to a question no
    longer in the content is given as stored."""
    if response is None or question is None:
        return response
    if question.type == "single":
        option = question.option(response)
        return option.text if option is not None else response
    if question.type == "multiple":
        chosen = set(response)
        return [o.text for o in question.options if o.id in chosen]
    if question.type == "true_false":
        return "True" if response else "False"
    if question.type == "matching":
        rights = {pair.id: pair.right for pair in question.pairs}
        return [
            {"item": pair.left, "your_match": rights.get(response.get(pair.id) or "")}
            for pair in question.pairs
        ]
    texts = {item.id: item.text for item in question.items}
    return [texts.get(item_id or "") for item_id in response]


# --- Certificates and cohorts --------------------------------------------------------------


def _certificates(session: Session, user_id: int, now: datetime) -> list[dict[str, Any]]:
    renewed = aliased(Certificate)
    rows = session.execute(
        select(Certificate, renewed.code)
        .outerjoin(renewed, renewed.id == Certificate.renews_id)
        .where(Certificate.user_id == user_id)
        .order_by(Certificate.issued_at, Certificate.code, Certificate.revision)
    ).all()
    codes = {certificate.code for certificate, _ in rows}
    # Which of these codes a later certificate renews (and is not revoked): one statement.
    renewals = aliased(Certificate)
    renewed_by: dict[str, str] = {}
    if codes:
        renewed_by = dict(
            session.execute(
                select(renewed.code, renewals.code)
                .select_from(renewals)
                .join(renewed, renewed.id == renewals.renews_id)
                .where(renewed.code.in_(codes), renewals.revoked_at.is_(None))
            ).all()
        )
    return [
        {
            "code": certificate.code,
            "revision": certificate.revision,
            "status": certificates.status_of(
                certificate, now, renewed_by.get(certificate.code)
            ).label,
            "name_on_it": certificate.name,
            "lesson": certificate.lesson_title,
            "score_percent": _number(certificate.score_percent),
            "issued_at": certificate.issued_at,
            "valid_until": certificate.valid_until,
            "content_version": certificate.content_version,
            "issuer": certificate.organisation,
            "course_minutes": certificate.course_minutes,
            "pdf_sha256": certificate.sha256,
            "revision_made_at": certificate.created_at,
            "replaced_by_a_corrected_revision_at": certificate.superseded_at,
            "renews": renews,
            "renewed_by": renewed_by.get(certificate.code),
            "revoked_at": certificate.revoked_at,
            "revoke_reason": certificate.revoke_reason,
            # Private: the certificate's instructors, admins and you see it, never the public.
            "revoke_note": certificate.revoke_note,
            "withdrawn_at": certificate.withdrawn_at,
        }
        for certificate, renews in rows
    ]


def _blocks(session: Session, user_id: int, catalogue: Catalogue) -> list[dict[str, Any]]:
    blocks = session.scalars(
        select(CertificationBlock)
        .where(CertificationBlock.user_id == user_id)
        .order_by(CertificationBlock.blocked_at, CertificationBlock.id)
    )
    return [
        {
            "lesson": _lesson_title(catalogue, block.lesson),
            "after_the_revocation_of": block.code,
            "blocked_at": block.blocked_at,
            "lifted_at": block.lifted_at,
            "lift_reason": block.lift_reason,
        }
        for block in blocks
    ]


def _cohorts(session: Session, user_id: int) -> list[dict[str, Any]]:
    """The learner's cohorts, each with its instructors' names: a row per instructor."""
    rows = session.execute(
        select(Cohort.id, Cohort.name, Cohort.session_date, Enrolment.joined_at, User.name)
        .join(Enrolment, Enrolment.cohort_id == Cohort.id)
        .outerjoin(CohortInstructor, CohortInstructor.cohort_id == Cohort.id)
        .outerjoin(User, User.id == CohortInstructor.user_id)
        .where(Enrolment.user_id == user_id)
        .order_by(Enrolment.joined_at, Enrolment.id, CohortInstructor.added_at, CohortInstructor.id)
    )
    cohorts: dict[int, dict[str, Any]] = {}
    for cohort_id, name, day, joined, instructor in rows:
        entry = cohorts.setdefault(
            cohort_id,
            {"cohort": name, "session_date": day, "instructors": [], "joined_at": joined},
        )
        if instructor is not None:
            entry["instructors"].append(instructor)
    return list(cohorts.values())


def _completion_records(session: Session, user_id: int, kept_days: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CompletionRecord, Cohort.name)
        .join(Cohort, Cohort.id == CompletionRecord.cohort_id)
        .where(CompletionRecord.user_id == user_id)
        .order_by(CompletionRecord.recorded_at, CompletionRecord.id)
    )
    return [
        {
            "cohort": cohort,
            "kept_because": KEPT_BECAUSE.get(record.kept_because, record.kept_because),
            "certificate": record.code,
            "name_as_certified": record.name,
            "lesson": record.lesson_title,
            "score_percent": _number(record.score_percent),
            "joined_at": record.joined_at,
            "issued_at": record.issued_at,
            "valid_until": record.valid_until,
            "revoked_at": record.revoked_at,
            "recorded_at": record.recorded_at,
            "kept_until": record.valid_until + timedelta(days=kept_days),
        }
        for record, cohort in rows
    ]
