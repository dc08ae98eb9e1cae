"""Pure grading: turn submitted form values into a response and score it against a question.

Partial credit, documented in docs/authoring.md:
- single, true_false: all or nothing.
- multiple: each ticked key earns points/keys, each ticked distractor costs points/distractors,
  never below zero, so ticking everything scores 0.
- matching: points x (pairs matched correctly / pairs).
- ordering: points x (items in their correct position / items).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from learnapp.content import Question, Quiz


class InvalidResponse(ValueError):
    """The submitted values name something that is not part of the question."""


# Scores are exact: an int where no partial credit arises (most questions), a Fraction where
# it does. Ints also cost far less than Fractions, and the submit grades on every request.
Score = Fraction | int


@dataclass(frozen=True)
class Grade:
    score: Score
    points: int

    @property
    def correct(self) -> bool:
        return self.score == self.points


# A response is JSON-ready: a str (single), a sorted list of str (multiple), a bool
# (true_false), a {left pair id: right pair id} dict (matching), a list of item ids by
# position (ordering); None when the learner left the question blank.
Response = Any


def _choice(question: Question, values: Sequence[str]) -> Response:
    if not values or values == [""]:
        return None
    ids = {o.id for o in question.options}
    if len(values) != 1 or values[0] not in ids:
        raise InvalidResponse(f"question {question.id}: choose one of its options")
    return values[0]


def _choices(question: Question, values: Sequence[str]) -> Response:
    ids = {o.id for o in question.options}
    chosen = {v for v in values if v}
    if chosen - ids or len(chosen) != len([v for v in values if v]):
        raise InvalidResponse(f"question {question.id}: tick only its own options, once each")
    return sorted(chosen) or None


def _truth(question: Question, values: Sequence[str]) -> Response:
    if not values or values == [""]:
        return None
    if len(values) != 1 or values[0] not in ("true", "false"):
        raise InvalidResponse(f"question {question.id}: answer true or false")
    return values[0] == "true"


def _slots(
    question: Question, values: Mapping[str, str], slots: Sequence[str], choices: set[str]
) -> Response:
    if set(values) - set(slots):
        raise InvalidResponse(f"question {question.id}: unknown part")
    if any(v and v not in choices for v in values.values()):
        raise InvalidResponse(f"question {question.id}: choose from the listed answers")
    return {slot: values.get(slot) or None for slot in slots}


def parse_response(question: Question, values: Any) -> Response:
    """Validate raw form values for a question: a list of str, or for matching and ordering a
    mapping of part to chosen value. Raises InvalidResponse for anything the question lacks."""
    if question.type == "single":
        return _choice(question, values)
    if question.type == "multiple":
        return _choices(question, values)
    if question.type == "true_false":
        return _truth(question, values)
    if question.type == "matching":
        ids = [p.id for p in question.pairs]
        response = _slots(question, values, ids, set(ids))
        return response if any(response.values()) else None
    ids = [i.id for i in question.items]
    positions = [str(n) for n in range(1, len(ids) + 1)]
    response = _slots(question, values, positions, set(ids))
    return [response[p] for p in positions] if any(response.values()) else None


def _grade_single(q: Question, r: Response) -> Score:
    return int(r == q.answer)


def _grade_multiple(q: Question, r: Response) -> Score:
    ticked = set(r or ())
    distractors = {o.id for o in q.options} - q.answer
    earned = Fraction(len(ticked & q.answer), len(q.answer))
    lost = Fraction(len(ticked & distractors), len(distractors))
    return max(0, earned - lost)


def _grade_true_false(q: Question, r: Response) -> Score:
    return int(r is q.answer)


def _grade_matching(q: Question, r: Response) -> Score:
    r = r if isinstance(r, dict) else {}
    return Fraction(sum(r.get(p.id) == p.id for p in q.pairs), len(q.pairs))


def _grade_ordering(q: Question, r: Response) -> Score:
    r = r if isinstance(r, list) else []
    return Fraction(sum(a == b.id for a, b in zip(r, q.items, strict=False)), len(q.items))


GRADERS: dict[str, Callable[[Question, Response], Score]] = {
    "single": _grade_single,
    "multiple": _grade_multiple,
    "true_false": _grade_true_false,
    "matching": _grade_matching,
    "ordering": _grade_ordering,
}


def grade(question: Question, response: Response) -> Grade:
    """Score a parsed response; a blank response scores zero."""
    fraction = 0 if response is None else GRADERS[question.type](question, response)
    return Grade(score=fraction * question.points, points=question.points)


# --- Before grading: what a learner may not have meant ----------------------------------


def parts_to_answer(question: Question) -> int:
    """How many answers the question asks for: one, or one per pair (matching) or position
    (ordering)."""
    return len(question.pairs or question.items) if question.type in ("matching", "ordering") else 1


def blank_parts(question: Question, response: Response) -> int:
    """How many of the question's answers the response leaves blank (parts_to_answer when
    the whole question is blank)."""
    if response is None:
        return parts_to_answer(question)
    if question.type == "matching":
        return sum(value is None for value in response.values())
    if question.type == "ordering":
        return sum(value is None for value in response)
    return 0


def repeated_steps(question: Question, response: Response) -> dict[str, list[int]]:
    """Ordering: each step chosen for more than one position, with those positions (from 1),
    in the order of their first position. A step can fill one position only, so such a
    response is sent back to the learner rather than graded."""
    if question.type != "ordering" or not response:
        return {}
    positions: dict[str, list[int]] = {}
    for number, item in enumerate(response, start=1):
        if item is not None:
            positions.setdefault(item, []).append(number)
    return {item: numbers for item, numbers in positions.items() if len(numbers) > 1}


# --- Telling a score ---------------------------------------------------------------------
# Grading and storage keep exact values; pages round them for reading. Rounding never lifts a
# value onto full marks or the pass mark, nor brings a score above zero down to nothing:
# there it rounds towards the value instead, so 79.6% with a pass mark of 80 reads "79%",
# never "80%", 2.96 of 3 reads "2.9 of 3", never "3 of 3", and 0.04 of 3 "0.1 of 3".


def _exact(value: Score | float) -> Decimal:
    if isinstance(value, Fraction):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        exact = Decimal(str(value))
    return exact.quantize(Decimal("1e-9"))  # a float's last bits are noise, not a score


def _told(value: Score | float, places: int, lines: Sequence[int]) -> str:
    """`value` rounded half up to `places` decimals, unless that reaches one of `lines` from
    below or turns something into nothing: then rounded towards the value."""
    exact = _exact(value)
    step = Decimal(1).scaleb(-places)
    rounded = exact.quantize(step, ROUND_HALF_UP)
    if any(exact < line <= rounded for line in lines):
        rounded = exact.quantize(step, ROUND_FLOOR)
    elif exact > 0 and rounded == 0:
        rounded = exact.quantize(step, ROUND_CEILING)
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def told_percent(percent: float, pass_mark: int | None = None) -> str:
    """A percentage as pages show it: whole, rounded half up ("28.89" -> "29%")."""
    lines = [100] if pass_mark is None else [100, pass_mark]
    return f"{_told(percent, 0, lines)}%"


def told_points(score: Score | float, points: int) -> str:
    """A score out of its points as pages show it, to one decimal ("1.3 of 3", "2 of 3")."""
    return f"{_told(score, 1, [points])} of {points}"


# --- Drawing an attempt ------------------------------------------------------------------


def draw_questions(quiz: Quiz, rng: random.Random) -> list[dict[str, Any]]:
    """Choose and shuffle an attempt's questions.

    Every critical question is drawn, then one non-critical question per section (critical
    ones test safety, not the section's mechanism), then the rest at random; each question's
    options (or pairs, or items) are shuffled. The result is what an attempt stores:
    [{"id": ..., "order": [part ids as shown]}].
    """
    chosen = [q for q in quiz.questions if q.critical]
    covered: set[str] = set()
    rest = [q for q in quiz.questions if not q.critical]
    rng.shuffle(rest)
    for question in list(rest):
        if question.section not in covered:
            chosen.append(question)
            covered.add(question.section)
            rest.remove(question)
    chosen += rest[: max(0, quiz.draw - len(chosen))]
    rng.shuffle(chosen)
    return [{"id": q.id, "order": shuffled_parts(q, rng)} for q in chosen]


def shuffled_parts(question: Question, rng: random.Random) -> list[str]:
    parts = [p.id for p in (question.options or question.pairs or question.items)]
    rng.shuffle(parts)
    return parts


def practice_order(question: Question) -> list[str]:
    """A knowledge check's shuffle: not stored anywhere, so derived from the question id."""
    return shuffled_parts(question, random.Random(question.id))  # noqa: S311 - layout, not security


@dataclass(frozen=True)
class Result:
    score: Score
    points: int
    pass_mark: int
    critical_missed: tuple[str, ...]
    by_section: dict[str, tuple[Score, int]]

    @property
    def percent(self) -> float:
        return float(self.score * 100 / self.points) if self.points else 0.0

    @property
    def passed(self) -> bool:
        # A pass needs the mark and every critical (safety) question right.
        return self.score * 100 >= self.pass_mark * self.points and not self.critical_missed


def result_of(questions: Sequence[Question], grades: Sequence[Grade], pass_mark: int) -> Result:
    """Total an attempt's grades: the mark, the critical questions missed, and per section."""
    by_section: dict[str, tuple[Score, int]] = {}
    for question, g in zip(questions, grades, strict=True):
        score, points = by_section.get(question.section, (0, 0))
        by_section[question.section] = (score + g.score, points + g.points)
    return Result(
        score=sum(g.score for g in grades),
        points=sum(g.points for g in grades),
        pass_mark=pass_mark,
        critical_missed=tuple(
            q.id for q, g in zip(questions, grades, strict=True) if q.critical and not g.correct
        ),
        by_section=by_section,
    )


# --- Form values ---------------------------------------------------------------------------
# The browser sees positions, never ids: option, pair and item ids follow the author's order
# (the key is often "a", items are listed in their correct order), so sending them would
# leak the answer. A form value is a 1-based position in the order stored with the attempt.


def form_values(question: Question, order: Sequence[str], fields: Mapping[str, list[str]]) -> Any:
    """Translate a question's raw form fields into the id-based values parse_response takes.

    `fields` maps the part after the question's name ("" for the question itself, else the
    slot number) to the values sent.
    """

    def part_at(raw: str) -> str:
        if not raw:
            return ""
        # isdigit() alone admits '²', which int() refuses; and int() raises ValueError for a
        # string of over 4,300 digits, so a position longer than the largest is refused first.
        if (
            not (raw.isascii() and raw.isdigit())
            or len(raw) > len(str(len(order)))
            or not 1 <= int(raw) <= len(order)
        ):
            shown = raw if len(raw) <= 20 else f"{raw[:20]}..."
            raise InvalidResponse(f"question {question.id}: {shown!r} is not one of its choices")
        return order[int(raw) - 1]

    if question.type in ("single", "multiple", "true_false"):
        if set(fields) - {""}:
            raise InvalidResponse(f"question {question.id}: unknown part")
        sent = fields.get("", [])
        return sent if question.type == "true_false" else [part_at(v) for v in sent]
    slots = slot_names(question)
    if set(fields) - set(slots):
        raise InvalidResponse(f"question {question.id}: unknown part")
    values: dict[str, str] = {}
    for number, slot in slots.items():
        sent = fields.get(number, [])
        if len(sent) > 1:
            raise InvalidResponse(f"question {question.id}: one choice per part")
        values[slot] = part_at(sent[0]) if sent else ""
    return values


def slot_names(question: Question) -> dict[str, str]:
    """Form slot number -> what parse_response calls that slot (a pair id, or a position)."""
    if question.type == "matching":
        return {str(n): p.id for n, p in enumerate(question.pairs, start=1)}
    return {str(n): str(n) for n in range(1, len(question.items) + 1)}
