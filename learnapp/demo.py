"""Demo data: a cohort of learners with realistic, deterministic progress, attempts and certificates."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from learnapp import accounts, certificate_pdf, certificates, cohorts, grading, learner_progress
from learnapp.attempts import quiz_version, result_columns
from learnapp.content import Catalogue, Lesson, Question, Quiz
from learnapp.db import utcnow, vacuum_analyze, writing
from learnapp.models import (
    Answer,
    Certificate,
    CertificateEvent,
    CertificationBlock,
    Cohort,
    DisclaimerAcknowledgement,
    Enrolment,
    LearnerProgress,
    QuizAttempt,
    SectionRead,
    User,
)

LESSON = "spinal-muscle-spasm"
INSTRUCTOR_EMAIL = "instructor@example.com"
# Learners per transaction: small enough that a running server is never blocked for long.
CHUNK = 500
WINDOW = timedelta(days=60)
STUCK_AFTER = timedelta(days=7)
REVOKED_PER_COHORT = 2
# (public reason, private note), as an instructor would revoke.
REVOCATIONS = (
    ("Issued in error", "The learner's identity could not be confirmed at the class session."),
    ("Requirements not met", "The assessment was taken on another learner's account."),
)

# (weight, male first names, female first names, surnames, how a full name is written).
# Surnames are ones that do not change with gender, so any pairing reads naturally.
NAME_GROUPS: tuple[tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        6,
        ("James", "Oliver", "Harry", "Thomas", "Daniel", "Samuel"),
        ("Olivia", "Amelia", "Grace", "Emily", "Sophie", "Hannah"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Walker", "Wright", "Thompson"),
        "{first} {last}",
    ),
    (
        1,
        ("Seán", "Ciarán", "Pádraig", "Eoin"),
        ("Aoife", "Siobhán", "Niamh", "Róisín"),
        ("Murphy", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Kavanagh"),
        "{first} {last}",
    ),
    (
        1,
        ("François", "Jérôme", "Théo", "Noël"),
        ("Chloé", "Élodie", "Hélène", "Zoé"),
        ("Dubois", "Lefèvre", "Moreau", "Girard", "Lemaître", "Mercier"),
        "{first} {last}",
    ),
    (
        1,
        ("José", "Andrés", "João", "Martín"),
        ("María", "Lucía", "Inês", "Sofía"),
        ("García", "Fernández", "Muñoz", "Gonçalves", "Peña", "Ibáñez"),
        "{first} {last}",
    ),
    (
        1,
        ("Jürgen", "Søren", "Björn", "Mathias"),
        ("Åsa", "Lena", "Greta", "Ingrid"),
        ("Müller", "Schröder", "Nørgaard", "Lindqvist", "Håkansson", "Weiß"),
        "{first} {last}",
    ),
    (
        1,
        ("Łukasz", "Wojciech", "Paweł"),
        ("Zofia", "Agnieszka", "Małgorzata"),
        ("Nowak", "Wójcik", "Kowalczyk", "Kaczmarek", "Mazur"),
        "{first} {last}",
    ),
    (
        1,
        ("Mehmet", "Emre", "Çağrı"),  # noqa: RUF001 - Turkish dotless i, on purpose
        ("Ayşe", "Elif", "Özge"),
        ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk"),  # noqa: RUF001
        "{first} {last}",
    ),
    (
        1,
        ("Chinedu", "Oluwaseun", "Tunde"),
        ("Ngozi", "Adaeze", "Folake"),
        ("Okafor", "Adeyemi", "Eze", "Okonkwo", "Balogun", "Nwosu"),
        "{first} {last}",
    ),
    (
        1,
        ("Arjun", "Rohan", "Vikram"),
        ("Priya", "Ananya", "Aditi"),
        ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"),
        "{first} {last}",
    ),
    (
        1,
        ("Quốc Bảo", "Đức Huy", "Minh Khôi"),
        ("Thu Hà", "Minh Anh", "Ngọc Lan"),
        ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng"),
        "{last} {first}",
    ),
    (
        1,
        ("Γιώργος", "Νίκος", "Δημήτρης"),
        ("Ελένη", "Μαρία", "Κατερίνα"),
        ("Οικονόμου", "Γεωργίου", "Νικολάου", "Αντωνίου", "Ιωάννου"),
        "{first} {last}",
    ),
    (
        1,
        ("Дмитро", "Андрій", "Олександр"),
        ("Олена", "Ірина", "Оксана"),
        ("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко"),
        "{first} {last}",
    ),
    (
        1,
        ("伟", "磊", "强"),
        ("芳", "娜", "静"),
        ("王", "李", "张", "刘", "陈"),
        "{last}{first}",
    ),
    (
        1,
        ("蓮", "大翔", "悠真"),
        ("陽菜", "結衣", "さくら"),
        ("佐藤", "鈴木", "高橋", "田中", "渡辺"),
        "{last} {first}",
    ),
    (
        1,
        ("محمد", "أحمد", "يوسف"),
        ("فاطمة", "ليلى", "مريم"),
        ("حداد", "منصور", "الخطيب", "العلي"),
        "{first} {last}",
    ),
)


DEMO_PASSWORD = "learnapp-demo"  # noqa: S105 - development accounts only; refused in production
DEMO_ACCOUNTS = (
    ("learner@example.com", "Demo Learner", "learner"),
    ("instructor@example.com", "Demo Instructor", "instructor"),
)


class DemoError(RuntimeError):
    """Demo data cannot be seeded here; the message says why."""


@dataclass
class _Attempt:
    started: float  # seconds after the learner's first activity, like every offset below
    drawn: list[dict[str, Any]]
    submitted: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Learner:
    number: int
    name: str
    profile: str
    reads: list[float] = field(default_factory=list)
    acknowledged: float | None = None
    attempts: list[_Attempt] = field(default_factory=list)
    certified: float | None = None
    origin: datetime | None = None
    joined_at: datetime | None = None
    certificate: Certificate | None = None

    def at(self, offset: float) -> datetime:
        return self.origin + timedelta(seconds=offset)

    @property
    def span(self) -> float:
        moments = [*self.reads, self.acknowledged or 0.0, self.certified or 0.0]
        for attempt in self.attempts:
            moments += [attempt.started, attempt.submitted or 0.0]
        return max(moments, default=0.0)


def seed_cohort(session: Session, learners: int, *, seed: int = 0) -> Cohort:
    """Add a cohort of `learners` demo learners, all with password DEMO_PASSWORD, and commit.

    Needs an app context and the demo instructor. Running it again adds another cohort with
    learners of its own.
    """
    if current_app.config["ENV"] == "production":
        raise DemoError("Demo data is for development only, not production.")
    catalogue: Catalogue | None = current_app.extensions.get("learnapp.content")
    if catalogue is None:
        raise DemoError("The content has problems: run `flask content check`.")
    lesson, quiz = catalogue.lessons.get(LESSON), catalogue.final_quiz(LESSON)
    if lesson is None or quiz is None:
        raise DemoError(f"The demo needs the lesson {LESSON!r} and its final quiz.")
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    now = utcnow()

    instructor = accounts.find_by_email(session, INSTRUCTOR_EMAIL)
    if instructor is None:
        raise DemoError(f"Create the demo instructor {INSTRUCTOR_EMAIL} first (`flask demo`).")
    with writing(session):
        cohort = cohorts.create(
            session,
            instructor,
            f"Demo cohort ({learners:,} learners)",
            (now - timedelta(days=14)).date(),
            lesson.slug,
            now,
            current_app.config["TIME_ZONE"],
        )
        version_id = quiz_version(session, quiz, catalogue.version)
        prefix = _email_prefix(session, cohort.id)

    # One hash for everyone: 10,000 Argon2id hashes at OWASP cost would take about 5 minutes.
    password_hash = accounts.hash_password(DEMO_PASSWORD)
    profiles = _profiles(learners, rng)
    revoked = 0
    with _progress(learners) as bar:
        for first in range(0, learners, CHUNK):
            chunk = [
                _simulate(number, profiles[number], lesson, quiz, rng, now)
                for number in range(first, min(first + CHUNK, learners))
            ]
            for learner in chunk:
                if learner.certified is not None:
                    revoke = revoked < REVOKED_PER_COHORT and learner.profile != "expiring"
                    revoked += revoke
                    # Rendered before the write transaction: no lock is held while PDFs are made.
                    learner.certificate = _certificate(
                        learner, lesson, catalogue, rng, now, instructor.id if revoke else None
                    )
            with writing(session):
                user_ids = _insert(
                    session, chunk, cohort, prefix, password_hash, lesson, quiz, version_id
                )
                learner_progress.refresh_learners(session, lesson, quiz, user_ids)
            bar.update(len(chunk))
    loaded = (
        User,
        Enrolment,
        SectionRead,
        DisclaimerAcknowledgement,
        QuizAttempt,
        Answer,
        Certificate,
        LearnerProgress,
    )
    vacuum_analyze(session.get_bind(), *(model.__tablename__ for model in loaded))
    return cohort


def _email_prefix(session: Session, cohort_id: int) -> str:
    """A prefix no account uses yet: SQLite can reuse the id of a deleted cohort."""
    prefix = f"demo-learner-c{cohort_id}"
    suffix = 1
    while session.scalar(select(User.id).where(User.email.like(f"{prefix}-%")).limit(1)):
        suffix += 1
        prefix = f"demo-learner-c{cohort_id}r{suffix}"
    return prefix


def _profiles(count: int, rng: random.Random) -> list[str]:
    """Each learner's path through the course, shuffled: fixed shares rather than coin flips,
    so that even a small cohort shows every case."""
    shares = {"not_started": 0.10, "stuck": 0.08, "reading": 0.10}
    profiles = [name for name, share in shares.items() for _ in range(round(count * share))]
    profiles.append("expiring")  # at least one certificate due for renewal
    profiles += ["expiring"] * (round(count * 0.01) - 1)
    profiles += ["finisher"] * (count - len(profiles))
    profiles = profiles[:count]
    rng.shuffle(profiles)
    return profiles


def _name(rng: random.Random) -> str:
    weights = [group[0] for group in NAME_GROUPS]
    _weight, men, women, surnames, pattern = rng.choices(NAME_GROUPS, weights)[0]
    first = rng.choice(men if rng.random() < 0.5 else women)
    return pattern.format(first=first, last=rng.choice(surnames))


def _gap(rng: random.Random) -> float:
    """Seconds between two sittings: mostly minutes, sometimes the next day, rarely a week."""
    roll = rng.random()
    if roll < 0.7:
        return rng.uniform(2 * 60, 15 * 60)
    if roll < 0.95:
        return rng.uniform(2 * 3600, 30 * 3600)
    return rng.uniform(2 * 86400, 6 * 86400)


def _simulate(
    number: int, profile: str, lesson: Lesson, quiz: Quiz, rng: random.Random, now: datetime
) -> _Learner:
    learner = _Learner(number=number, name=_name(rng), profile=profile)
    sections = len(lesson.sections)
    read = {
        "not_started": 0,
        "stuck": rng.randint(1, sections - 1),
        "reading": rng.randint(1, sections),
    }.get(profile, sections)
    moment = 0.0
    for _ in range(read):
        learner.reads.append(moment)
        moment += _gap(rng)
    if read == sections and (profile != "reading" or rng.random() < 0.5):
        learner.acknowledged = learner.reads[-1] + rng.uniform(60, 300)
    if profile in ("finisher", "expiring"):
        _take_quiz(learner, quiz, rng)
    _place(learner, rng, now)
    return learner


def _take_quiz(learner: _Learner, quiz: Quiz, rng: random.Random) -> None:
    ability = 0.5 + 0.48 * rng.betavariate(3, 1.6)
    tries = rng.choices((1, 2, 3), weights=(3, 3, 4))[0]
    moment = learner.acknowledged + rng.uniform(60, 1200)
    for attempt_number in range(1, tries + 1):
        if learner.profile == "expiring" and attempt_number == tries:
            ability = 1.0  # the learners whose certificates fall due must have passed
        attempt = _Attempt(started=moment, drawn=grading.draw_questions(quiz, rng))
        attempt.submitted = moment + rng.uniform(5 * 60, 30 * 60)
        _answer(attempt, quiz, ability, rng)
        learner.attempts.append(attempt)
        if attempt.result["passed"]:
            learner.certified = attempt.submitted + rng.uniform(30, 15 * 60)
            return
        moment = attempt.submitted + max(15 * 60, _gap(rng))
        ability = min(1.0, ability + rng.uniform(0.03, 0.1))
    if rng.random() < 0.1:
        # Opened once more and left unfinished: the dashboard's "in progress".
        learner.attempts.append(_Attempt(started=moment, drawn=grading.draw_questions(quiz, rng)))


def _answer(attempt: _Attempt, quiz: Quiz, ability: float, rng: random.Random) -> None:
    """Respond to each drawn question, then grade exactly as attempts.submit does."""
    questions = [quiz.question(entry["id"]) for entry in attempt.drawn]
    responses = []
    for question in questions:
        # Safety questions are stressed in the lesson, so they are missed less often.
        chance = ability + (1 - ability) * 0.5 if question.critical else ability
        if rng.random() < (1 - ability) * 0.15:
            responses.append(None)
        else:
            responses.append(_response(question, rng.random() < chance, rng))
    grades = [grading.grade(q, r) for q, r in zip(questions, responses, strict=True)]
    result = grading.result_of(questions, grades, quiz.pass_mark)
    attempt.result = result_columns(result)
    attempt.answers = [
        {
            "question_id": q.id,
            "section": q.section,
            "position": position,
            "response": r,
            "score": float(g.score),
            "points": g.points,
            "correct": g.correct,
        }
        for position, (q, r, g) in enumerate(zip(questions, responses, grades, strict=True), 1)
    ]


def _response(question: Question, right: bool, rng: random.Random) -> Any:
    """A response as parse_response returns it: the key, or a near miss a learner would make."""
    if question.type == "true_false":
        return question.answer if right else not question.answer
    if question.type == "single":
        wrong = [o.id for o in question.options if o.id != question.answer]
        return question.answer if right else rng.choice(wrong)
    if question.type == "multiple":
        ticked = set(question.answer)
        if not right:
            distractors = [o.id for o in question.options if o.id not in question.answer]
            roll = rng.random()
            if roll < 0.6 or not distractors:
                ticked.discard(rng.choice(sorted(question.answer)))
            if roll >= 0.4 and distractors:
                ticked.add(rng.choice(distractors))
        return sorted(ticked) or None
    if question.type == "matching":
        ids = [p.id for p in question.pairs]
        chosen = list(ids)
        if not right:
            for _ in range(1 if rng.random() < 0.7 else 2):
                i, j = rng.sample(range(len(ids)), 2)
                chosen[i], chosen[j] = chosen[j], chosen[i]
        return dict(zip(ids, chosen, strict=True))
    order = [i.id for i in question.items]
    if not right:
        # Neighbouring steps swapped: the usual slip in a sequence.
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    return order


def _place(learner: _Learner, rng: random.Random, now: datetime) -> None:
    """Set when the learner's activity happened, so that its last moment fits the profile."""
    day = 86400.0
    span = learner.span
    if learner.profile == "expiring":
        # Certified almost three years ago: due for renewal within the next 90 days.
        end = certificates.add_years(now, -3) + timedelta(days=rng.uniform(5, 85))
        learner.origin = end - timedelta(seconds=span)
    else:
        if learner.profile == "not_started":
            low, high = 0.1, 40.0
        elif learner.profile == "stuck":
            low, high = STUCK_AFTER.days + 1, 45.0
        elif learner.certified is None:
            low, high = 0.01, STUCK_AFTER.days - 0.5  # still at it
        else:
            low, high = 0.01, WINDOW.days - 2
        ago = rng.uniform(low, high)
        # Keep the first activity inside the window where the span allows.
        ago = min(ago, max(low, WINDOW.days - span / day))
        learner.origin = now - timedelta(days=ago, seconds=span)
    learner.joined_at = learner.origin - timedelta(seconds=rng.uniform(5 * 60, 2 * day))


def _certificate(
    learner: _Learner,
    lesson: Lesson,
    catalogue: Catalogue,
    rng: random.Random,
    now: datetime,
    revoked_by: int | None,
) -> Certificate:
    """Built as certificates.draft builds one, from the passing attempt, and rendered."""
    config = current_app.config
    passed = learner.attempts[-1]
    issued_at = learner.at(learner.certified)
    certificate = Certificate(
        code=certificates.new_code(),
        revision=1,
        lesson=lesson.slug,
        lesson_title=lesson.title,
        name=certificates.clean_name(learner.name),
        score_percent=passed.result["percent"],
        content_version=catalogue.version,
        organisation=config["ORGANISATION"],
        issued_at=issued_at,
        valid_until=certificates.add_years(issued_at, config["CERTIFICATE_VALIDITY_YEARS"]),
        course_minutes=lesson.minutes,
    )
    if revoked_by is not None:
        certificate.revoked_at = min(now, issued_at + timedelta(hours=rng.uniform(1, 120)))
        certificate.revoked_by_id = revoked_by
        certificate.revoke_reason, certificate.revoke_note = rng.choice(REVOCATIONS)
    certificate_pdf.attach(certificate)
    return certificate


def _insert(
    session: Session,
    chunk: list[_Learner],
    cohort: Cohort,
    prefix: str,
    password_hash: str,
    lesson: Lesson,
    quiz: Quiz,
    version_id: int,
) -> Sequence[int]:
    """Bulk-insert a chunk's rows; the learners' ids, in the chunk's order."""
    user_ids = session.scalars(
        insert(User).returning(User.id, sort_by_parameter_order=True),
        [
            {
                "email": f"{prefix}-{learner.number + 1:05d}@example.com",
                "name": learner.name,
                "password_hash": password_hash,
                "role": "learner",
                "session_version": 1,
                "is_enabled": True,
                "created_at": learner.joined_at - timedelta(seconds=40),
            }
            for learner in chunk
        ],
    ).all()
    session.execute(
        insert(Enrolment),
        [
            {"cohort_id": cohort.id, "user_id": user_id, "joined_at": learner.joined_at}
            for learner, user_id in zip(chunk, user_ids, strict=True)
        ],
    )
    reads = [
        {
            "user_id": user_id,
            "lesson": lesson.slug,
            "section": section.slug,
            "read_at": learner.at(offset),
        }
        for learner, user_id in zip(chunk, user_ids, strict=True)
        for section, offset in zip(lesson.sections, learner.reads, strict=False)
    ]
    if reads:
        session.execute(insert(SectionRead), reads)
    acknowledgements = [
        {
            "user_id": user_id,
            "lesson": lesson.slug,
            "version": lesson.disclaimer_version,
            "acknowledged_at": learner.at(learner.acknowledged),
        }
        for learner, user_id in zip(chunk, user_ids, strict=True)
        if learner.acknowledged is not None
    ]
    if acknowledgements:
        session.execute(insert(DisclaimerAcknowledgement), acknowledgements)
    taken = [
        (learner, user_id, attempt)
        for learner, user_id in zip(chunk, user_ids, strict=True)
        for attempt in learner.attempts
    ]
    if not taken:
        return user_ids
    attempt_ids = session.scalars(
        insert(QuizAttempt).returning(QuizAttempt.id, sort_by_parameter_order=True),
        [
            {
                "user_id": user_id,
                "quiz_id": quiz.id,
                "quiz_version_id": version_id,
                "state": "in_progress" if attempt.submitted is None else "closed",
                "drawn": attempt.drawn,
                "started_at": learner.at(attempt.started),
                "submitted_at": None
                if attempt.submitted is None
                else learner.at(attempt.submitted),
                "score": None,
                "points": None,
                "percent": None,
                "passed": None,
                "critical_missed": None,
                "by_section": None,
                **attempt.result,
            }
            for learner, user_id, attempt in taken
        ],
    ).all()
    answers = [
        {"attempt_id": attempt_id, **answer}
        for (_learner, _user, attempt), attempt_id in zip(taken, attempt_ids, strict=True)
        for answer in attempt.answers
    ]
    if answers:
        session.execute(insert(Answer), answers)
    issued = [
        {
            **{
                column: getattr(learner.certificate, column)
                for column in (
                    "code",
                    "revision",
                    "lesson",
                    "lesson_title",
                    "name",
                    "score_percent",
                    "content_version",
                    "organisation",
                    "issued_at",
                    "valid_until",
                    "revoked_at",
                    "revoked_by_id",
                    "revoke_reason",
                    "revoke_note",
                    "pdf",
                    "sha256",
                    "course_minutes",
                )
            },
            "user_id": user_id,
            # The passing attempt is the learner's last one.
            "attempt_id": attempt_id,
        }
        for (learner, user_id, attempt), attempt_id in zip(taken, attempt_ids, strict=True)
        if learner.certificate is not None and attempt is learner.attempts[-1]
    ]
    if issued:
        session.execute(insert(Certificate), issued)
    revoked = [row for row in issued if row["revoked_at"] is not None]
    if revoked:
        # As certificates.revoke leaves them: a block on the learner, and the log's lines.
        session.execute(
            insert(CertificationBlock),
            [
                {
                    "user_id": row["user_id"],
                    "lesson": row["lesson"],
                    "code": row["code"],
                    "blocked_at": row["revoked_at"],
                    "blocked_by_id": row["revoked_by_id"],
                }
                for row in revoked
            ],
        )
        actor = session.scalar(select(User.name).where(User.id == revoked[0]["revoked_by_id"]))
        session.execute(
            insert(CertificateEvent),
            [
                {
                    "code": row["code"],
                    "action": action,
                    "at": row["revoked_at"],
                    "actor_id": row["revoked_by_id"],
                    "actor_name": actor,
                    "reason": row["revoke_reason"],
                    "note": row["revoke_note"] if action == "revoke" else None,
                }
                for row in revoked
                for action in ("revoke", "block")
            ],
        )
    return user_ids


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on the terminal when run as a command; silent otherwise."""
    if click.get_current_context(silent=True) is None:
        yield _Silent()
        return
    with click.progressbar(length=total, label="Seeding demo learners", file=sys.stderr) as bar:
        yield bar


class _Silent:
    def update(self, _steps: int) -> None:
        pass
