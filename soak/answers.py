"""Filling in an attempt page as a learner would: read its fields, then answer each question
right (keys from learnapp.content, matched to display positions by label text) or wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from learnapp.content import Question, Quiz

Form = dict[str, list[str]]


def _clean(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Fields:
    """One question's inputs as shown: choices (name, value, label) and selects
    (name, label, [(value, option text)])."""

    choices: list[tuple[str, str, str]] = field(default_factory=list)
    selects: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)


class AttemptPage(HTMLParser):
    """The questions of an attempt page, in display order, by question id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.questions: dict[str, Fields] = {}
        self._current: str | None = None
        self._inputs: list[tuple[str, str, str]] = []  # name, value, element id
        self._selects: list[tuple[str, str, list[tuple[str, str]]]] = []  # name, id, options
        self._labels: dict[str, str] = {}
        self._label_for: str | None = None
        self._option: str | None = None
        self._text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "fieldset" and "question" in a.get("class", "").split():
            self._current = a["id"].removeprefix("question-")
            self._inputs, self._selects, self._labels = [], [], {}
        elif self._current is None:
            return
        elif tag == "input" and a.get("type") in ("radio", "checkbox"):
            self._inputs.append((a["name"], a["value"], a.get("id", "")))
        elif tag == "select":
            self._selects.append((a["name"], a.get("id", ""), []))
        elif tag == "option" and self._selects:
            self._option, self._text = a.get("value", ""), []
        elif tag == "label":
            self._label_for, self._text = a.get("for", ""), []

    def handle_data(self, data: str) -> None:
        if self._label_for is not None or self._option is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._current is None:
            return
        if tag == "label" and self._label_for is not None:
            self._labels[self._label_for] = _clean("".join(self._text))
            self._label_for = None
        elif tag == "option" and self._option is not None:
            if self._option:  # not the "Choose…" placeholder
                self._selects[-1][2].append((self._option, _clean("".join(self._text))))
            self._option = None
        elif tag == "fieldset":
            fields = Fields(
                choices=[(n, v, self._labels.get(i, "")) for n, v, i in self._inputs],
                selects=[(n, self._labels.get(i, ""), opts) for n, i, opts in self._selects],
            )
            self.questions[self._current] = fields
            self._current = None


def _value_for(options: list[tuple[str, str]], text: str, where: str) -> str:
    found = [value for value, label in options if label == _clean(text)]
    if len(found) != 1:
        raise ValueError(f"{where}: {len(found)} options read {text!r}")
    return found[0]


def _answer(question: Question, fields: Fields, right: bool) -> Form:
    """Right: the key. Wrong: something that scores nothing."""
    name = f"q.{question.id}"
    if question.type == "true_false":
        return {name: [str(question.answer == right).lower()]}
    if question.type in ("single", "multiple"):
        shown = [(value, label) for _, value, label in fields.choices]
        keys = {question.answer} if question.type == "single" else set(question.answer)
        key_texts = {o.text for o in question.options if o.id in keys}
        for text in key_texts:
            _value_for(shown, text, question.id)  # every key is on the page, once
        chosen = [value for value, label in shown if (label in key_texts) == right]
        return {name: chosen[:1] if question.type == "single" else chosen}
    form: Form = {}
    for select_name, label, options in fields.selects:
        if question.type == "matching":
            lefts = [p.left for p in question.pairs]
            index = lefts.index(next(left for left in lefts if _clean(left) == label))
            texts = [p.right for p in question.pairs]
        else:  # ordering: the select for step n holds the n-th item
            index = int(label.removeprefix("Step ")) - 1
            texts = [i.text for i in question.items]
        # Wrong: every slot gets the next slot's part, so none is right.
        text = texts[index if right else (index + 1) % len(texts)]
        form[select_name] = [_value_for(options, text, question.id)]
    return form


def fill(html: str, quiz: Quiz, right: bool) -> tuple[list[str], Form]:
    """The question ids shown and the form that answers them all right (or all wrong)."""
    page = AttemptPage(html)
    if not page.questions:
        raise ValueError("no questions on the attempt page")
    form: Form = {}
    for qid, fields in page.questions.items():
        form |= _answer(quiz.question(qid), fields, right)
    return list(page.questions), form
