"""The answer key reaches neither the browser nor the data export before the attempt closes.

Two ways of looking for it. The same seeded attempt, its quiz authored once with the key
first and once with the key last, must give an attempt page and an export that are the same
apart from the option texts and the CSRF tokens. And a decoder that reads every hidden field
and the export as an attacker would (base64, zlib, JSON, itsdangerous) must find no option,
pair or item id in them; it is shown to find them in the signed attempt the page once sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import secrets
import shutil
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from markupsafe import escape
from sqlalchemy import create_engine, event, make_url, text

from learnapp import create_app, grading
from learnapp.config import DEFAULTS
from learnapp.content import Catalogue, Question, Quiz, load_content
from learnapp.db import Base, dispose
from tests.conftest import PASSWORD, SECTIONS, CSRFClient

LESSON = "spinal-muscle-spasm"
FINAL = f"/quizzes/{LESSON}/final"
EXPORT = "/account/data.json"
# A draw holding every question type that has parts, so that each kind of part id is at stake.
WITH_PARTS = frozenset({"single", "multiple", "matching", "ordering"})
CLOCK = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
# The app's draw, kept before the `draws` fixture seeds it.
DRAW = grading.draw_questions

Drawn = list[dict[str, Any]]


# --- The quiz and its draw ---------------------------------------------------------------


@lru_cache(maxsize=1)
def real_catalogue() -> Catalogue:
    return load_content(DEFAULTS["LESSONS_DIR"], DEFAULTS["QUIZZES_DIR"])


def final_quiz(catalogue: Catalogue) -> Quiz:
    quiz = catalogue.final_quiz(LESSON)
    assert quiz is not None
    return quiz


def parts_of(question: Question) -> list[Any]:
    return list(question.options or question.pairs or question.items)


def part_texts(question: Question) -> list[str]:
    if question.pairs:
        return [text for pair in question.pairs for text in (pair.left, pair.right)]
    return [part.text for part in parts_of(question)]


def part_ids(quiz: Quiz, drawn: Drawn) -> set[str]:
    """The option, pair and item ids of the drawn questions."""
    return {part.id for entry in drawn for part in parts_of(quiz.question(entry["id"]))}


@lru_cache(maxsize=1)
def seed() -> int:
    """The first seed whose draw has a question of every type with parts."""
    quiz = final_quiz(real_catalogue())

    def types(candidate: int) -> set[str]:
        drawn = DRAW(quiz, random.Random(candidate))
        return {quiz.question(entry["id"]).type for entry in drawn}

    return next(s for s in range(1000) if types(s) >= WITH_PARTS)


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[Drawn]:
    """Every attempt opened during the test is drawn with `seed()`; the draws, as made."""
    made: list[Drawn] = []

    def seeded(quiz: Quiz, rng: random.Random) -> Drawn:
        drawn = DRAW(quiz, random.Random(seed()))
        made.append(drawn)
        return drawn

    monkeypatch.setattr(grading, "draw_questions", seeded)
    return made


class _AnyDatetime(type):
    # The stopped clock's class stands for datetime, so a stored time is still one to
    # `isinstance` (the export writes times with `isoformat` only when it recognises them).
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, datetime)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, datetime)


class StoppedClock(datetime, metaclass=_AnyDatetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return CLOCK.astimezone(tz) if tz is not None else CLOCK.replace(tzinfo=None)


def stop_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's clock reads CLOCK from now on, so two runs store the same times. Call it
    once the app exists: it stops the clock of every learnapp module imported by then."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "learnapp" and getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", StoppedClock)


# --- Two authorings of the final quiz ----------------------------------------------------


def arranged(question: dict[str, Any], key: str) -> None:
    """List the question's key first or last (`key`), in place. The ids travel with their
    texts; an ordering question's items stay in order (that order is its key), so instead
    its ids run with the order (key first) or against it (key last)."""
    if question["type"] in ("single", "multiple"):
        answer = question["answer"]
        keys = set(answer if isinstance(answer, list) else [answer])
        options = question["options"]
        right = [o for o in options if o["id"] in keys]
        wrong = [o for o in options if o["id"] not in keys]
        question["options"] = right + wrong if key == "first" else wrong + right
    elif question["type"] == "matching" and key == "last":
        question["pairs"].reverse()
    elif question["type"] == "ordering" and key == "last":
        items = question["items"]
        for item, new_id in zip(items, reversed([i["id"] for i in items]), strict=True):
            item["id"] = new_id


def authored(folder: Path, key: str) -> Path:
    """A copy of quizzes/ in `folder`, the final quiz's keys listed `key` ("first", "last")."""
    quizzes = folder / "quizzes"
    shutil.copytree(DEFAULTS["QUIZZES_DIR"], quizzes)
    for path in quizzes.glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if document["lesson"] == LESSON and document["kind"] == "final":
            for question in document["questions"]:
                arranged(question, key)
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            path.write_text(text, encoding="utf-8")
            return quizzes
    raise AssertionError(f"no final quiz for {LESSON} in {quizzes}")


def emptied(database_url: str, folder: Path) -> str:
    """A database with the schema and no rows, ids starting at 1: on SQLite a new file in
    `folder`, on PostgreSQL the test's database, truncated."""
    if make_url(database_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{folder / 'test.sqlite3'}"
        engine = create_engine(url)
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
        Base.metadata.create_all(engine)
    else:
        url = database_url
        engine = create_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@contextmanager
def app_with_key(
    key: str,
    app_config: dict[str, Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flask]:
    """The app, on an empty database, with the final quiz's keys listed `key`."""
    folder = tmp_path / f"key-{key}"
    folder.mkdir()
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(folder / "instance"))
    app = create_app(
        {
            **app_config,
            "DATABASE_URL": emptied(database_url, folder),
            "QUIZZES_DIR": str(authored(folder, key)),
        }
    )
    app.test_client_class = CSRFClient
    stop_clock(monkeypatch)
    try:
        quiz = final_quiz(app.extensions["learnapp.content"])
        single = next(q for q in quiz.questions if q.type == "single")
        assert single.options[0 if key == "first" else -1].id == single.answer, "not re-authored"
        yield app
    finally:
        dispose(app)


def open_attempt(client: CSRFClient) -> str:
    """Start the final quiz (the lesson read, the disclaimer acknowledged): the attempt's URL."""
    for slug in SECTIONS:
        assert client.post(f"/lessons/{LESSON}/sections/{slug}/read").status_code == 302
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    response = client.post(f"{FINAL}/attempts")
    assert response.status_code == 302, response.text
    assert re.fullmatch(r"/quizzes/attempts/\d+", response.location), response.location
    return response.location


def seen_while_open(app: Flask) -> tuple[str, str]:
    """A new learner opens an attempt: its page, and their data export."""
    client: CSRFClient = app.test_client()  # type: ignore[assignment]
    registration = {
        "name": "Ada Learner",
        "email": "learner@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    assert client.post("/auth/register", data=registration).status_code == 302
    page = client.get(open_attempt(client))
    export = client.get(EXPORT)
    assert (page.status_code, export.status_code) == (200, 200)
    return page.text, export.text


# --- Comparing pages ---------------------------------------------------------------------


TOKEN_INPUT = re.compile(r'<input\b[^>]*\bname="csrf_token"[^>]*>')
ELEMENT_TEXT = re.compile(r">([^<]*)<")


def without_tokens(page: str) -> str:
    """The page with each CSRF token's value replaced by «token»; nothing else changed."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r'\bvalue="[^"]*"', 'value="«token»"', match.group(0))

    return TOKEN_INPUT.sub(blank, page)


def without_choices(page: str, quiz: Quiz) -> tuple[str, list[str]]:
    """The page with the text of each element whose whole text is an option, pair side or
    item of the quiz replaced by «choice»; and those texts, in page order."""
    texts = {str(escape(t)) for question in quiz.questions for t in part_texts(question)}
    replaced: list[str] = []

    def blank(match: re.Match[str]) -> str:
        if match.group(1).strip() not in texts:
            return match.group(0)
        replaced.append(match.group(1).strip())
        return ">«choice»<"

    return ELEMENT_TEXT.sub(blank, page), replaced


def test_the_key_first_or_last_gives_the_same_page_and_export(
    app_config: dict[str, Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    draws: list[Drawn],
) -> None:
    seen = {}
    for key in ("first", "last"):
        with app_with_key(key, app_config, database_url, tmp_path, monkeypatch) as app:
            page, export = seen_while_open(app)
            page, choices = without_choices(without_tokens(page), final_quiz(real_catalogue()))
            seen[key] = page, choices, export

    # The same questions were drawn and shuffled alike, so the choices landed elsewhere...
    first, last = draws
    assert [e["id"] for e in first] == [e["id"] for e in last]
    assert seen["first"][1] != seen["last"][1]
    assert sorted(seen["first"][1]) == sorted(seen["last"][1])
    # ...and nothing else tells the two apart.
    assert seen["first"][0].splitlines() == seen["last"][0].splitlines()
    assert seen["first"][2].splitlines() == seen["last"][2].splitlines()


# --- Decoding what is sent ---------------------------------------------------------------


MAX_DEPTH = 8


def unbase64(piece: str) -> Iterator[bytes]:
    """`piece` read as base64, standard or URL-safe, with or without its padding."""
    bare = piece.rstrip("=")
    if not bare or len(bare) % 4 == 1:
        return
    padded = bare + "=" * (-len(bare) % 4)
    for altchars in (None, b"-_"):
        with suppress(binascii.Error, ValueError):
            yield base64.b64decode(padded, altchars=altchars, validate=True)


def inflated(data: bytes) -> Iterator[bytes]:
    """`data` decompressed as zlib, raw deflate or gzip, where it is one of them."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        with suppress(zlib.error):
            yield zlib.decompress(data, wbits)


def strings_in(document: Any) -> Iterator[str]:
    """Every string in a JSON document: values, list items and keys."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, list):
        for item in document:
            yield from strings_in(item)
    elif isinstance(document, dict):
        for name, value in document.items():
            yield name
            yield from strings_in(value)


def readings(value: str, seen: set[str], depth: int = 0) -> Iterator[Any]:
    """The JSON documents `value` holds: itself as JSON, or under any nesting of base64,
    zlib and itsdangerous's '.'-joined segments (a leading '.' marks a zlib-compressed
    payload; a timestamp and a signature follow it), and the same again inside each string
    of a document found."""
    if depth > MAX_DEPTH or value in seen:
        return
    seen.add(value)
    try:
        document = json.loads(value)
    except ValueError:
        pass
    else:
        yield document
        for string in strings_in(document):
            yield from readings(string, seen, depth + 1)
    for piece in {value, *value.split(".")} - {""}:
        for data in unbase64(piece):
            for plain in (data, *inflated(data)):
                try:
                    decoded = plain.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                yield from readings(decoded, seen, depth + 1)


def found(value: str, ids: set[str]) -> set[str]:
    """The ids among `value` itself and the strings of every JSON document it holds. Short
    ids such as 'a' count only as whole strings, never as parts of one."""
    seen: set[str] = set()
    strings = {value, *(s for document in readings(value, seen) for s in strings_in(document))}
    return ids & strings


class FormValues(HTMLParser):
    """What the page's forms would send: (field, value) for every input and option, and
    the hidden inputs among them."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self.hidden: list[tuple[str, str]] = []
        self.select = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag == "select":
            self.select = named.get("name", "")
        elif tag == "input" and "value" in named:
            field = (f"input {named.get('name', '')}", named["value"])
            self.values.append(field)
            if named.get("type", "").lower() == "hidden":
                self.hidden.append(field)
        elif tag == "option" and "value" in named:
            self.values.append((f"option of {self.select}", named["value"]))


def form_values(page: str) -> FormValues:
    parser = FormValues()
    parser.feed(page)
    parser.close()
    return parser


def leaks_on_page(page: str, ids: set[str]) -> dict[str, list[str]]:
    """The fields of the page's forms whose values hold any of `ids`, with those ids."""
    leaks: dict[str, set[str]] = {}
    for field, value in form_values(page).values:
        if hits := found(value, ids):
            leaks.setdefault(field, set()).update(hits)
    return {field: sorted(hits) for field, hits in leaks.items()}


def test_no_part_id_is_in_any_field_or_the_export_of_an_open_attempt(
    app: Flask, client: CSRFClient, learner: Any, draws: list[Drawn]
) -> None:
    page = client.get(open_attempt(client)).text
    export = client.get(EXPORT).text
    (drawn,) = draws
    quiz = final_quiz(app.extensions["learnapp.content"])
    ids = part_ids(quiz, drawn)
    assert {"a", "b", "p1", "s1"} <= ids

    assert leaks_on_page(page, ids) == {}
    assert found(export, ids) == set()
    # Nothing hidden but the CSRF token: a field the decoder cannot read would need a look.
    assert {field for field, _ in form_values(page).hidden} == {"input csrf_token"}
    # The export still says what was drawn, in the order shown, by the questions' texts only.
    (attempt,) = json.loads(export)["quiz_attempts"]
    assert attempt["state"] == "open" and "note" in attempt
    assert [q["question"] for q in attempt["questions"]] == [
        quiz.question(e["id"]).prompt for e in drawn
    ]
    assert all(set(q) == {"number", "section", "question"} for q in attempt["questions"])


def test_a_closed_attempt_is_exported_with_its_answers(
    app: Flask, client: CSRFClient, learner: Any, draws: list[Drawn]
) -> None:
    url = open_attempt(client)
    # Submitted with nothing answered, every blank confirmed.
    blanks = " ".join(str(number) for number in range(1, len(draws[0]) + 1))
    assert client.post(url, data={"confirmed": blanks}).status_code == 302
    (attempt,) = json.loads(client.get(EXPORT).text)["quiz_attempts"]
    assert attempt["state"] == "submitted"
    quiz = final_quiz(app.extensions["learnapp.content"])
    assert [(q["question"], q["your_answer"]) for q in attempt["questions"]] == [
        (quiz.question(e["id"]).prompt, None) for e in draws[0]
    ]
    assert "note" not in attempt


# --- The decoder finds what it looks for -------------------------------------------------


OLD_SALT = "learnapp.attempt-to-submit"  # the salt the attempt page signed its field with


def drawn_with_parts() -> tuple[Drawn, set[str]]:
    quiz = final_quiz(real_catalogue())
    drawn = DRAW(quiz, random.Random(seed()))
    return drawn, part_ids(quiz, drawn)


def old_signed_attempt(drawn: Drawn) -> str:
    """The attempt page's signed field as b7252b1 made it: id, owner, quiz, version, draw
    and content version, signed with the app's key."""
    signer = URLSafeSerializer("test-secret", salt=OLD_SALT)
    return signer.dumps([17, 3, f"{LESSON}-final", 1, drawn, "c0ffee"])


def test_the_decoder_finds_the_key_in_the_signed_attempt_the_page_once_sent() -> None:
    drawn, ids = drawn_with_parts()
    signed = old_signed_attempt(drawn)
    assert signed.startswith(".")  # zlib-compressed, as the draw always was
    assert found(signed, ids) == ids

    page = (
        '<form method="post"><input id="csrf_token" name="csrf_token" type="hidden" value="'
        f'{URLSafeTimedSerializer("test-secret", salt="wtf-csrf-token").dumps("0" * 40)}">'
        f'<input type="hidden" name="attempt" value="{escape(signed)}"></form>'
    )
    assert leaks_on_page(page, ids) == {"input attempt": sorted(ids)}
    export = {"quiz_attempts": [{"state": "in_progress", "drawn": drawn}]}
    assert found(json.dumps(export, indent=2), ids) == ids


Encoding = Callable[[bytes], str]
ENCODINGS: dict[str, Encoding] = {
    "json": bytes.decode,
    "base64": lambda b: base64.b64encode(b).decode(),
    "urlsafe base64 unpadded": lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    "zlib in base64": lambda b: base64.b64encode(zlib.compress(b)).decode(),
    "uncompressed itsdangerous": lambda b: URLSafeSerializer("k").dumps(json.loads(b)),
    "timed itsdangerous": lambda b: URLSafeTimedSerializer("k").dumps(json.loads(b)),
    "base64 within JSON": lambda b: json.dumps({"v": base64.b64encode(b).decode()}),
}


@pytest.mark.parametrize("encoding", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_the_decoder_reads_each_encoding(encoding: Encoding) -> None:
    drawn, _ = drawn_with_parts()
    # One four-option question: short enough that itsdangerous does not compress it.
    entry = next(e for e in drawn if set(e["order"]) == {"a", "b", "c", "d"})
    payload = encoding(json.dumps([entry]).encode())
    assert not payload.startswith(".")
    assert found(payload, {"a", "b", "c", "d", "e", "s1"}) == {"a", "b", "c", "d"}


def test_the_decoder_finds_nothing_in_a_csrf_token() -> None:
    _, ids = drawn_with_parts()
    for _ in range(20):
        token = URLSafeTimedSerializer("test-secret", salt="wtf-csrf-token").dumps(
            secrets.token_hex(20)
        )
        assert found(token, ids) == set()
