"""Load and validate lessons/ and quizzes/ (and each lesson's skills checklist) into immutable
objects (no Flask, no database)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SECTION_KINDS = ("introduction", "cause", "summary")
QUESTION_TYPES = ("single", "multiple", "true_false", "matching", "ordering")
QUIZ_KINDS = ("final", "check")
# Which sections a learner has read is kept as the bits of one signed 64-bit integer
# (learner_progress.read_mask).
MAX_SECTIONS = 63
# A lesson's skills part: the checklist of its in-person session, in skills.yaml beside
# lesson.yaml (docs/authoring.md, "Skills").
SKILLS_FILE = "skills.yaml"
KNOWLEDGE_VALID_DAYS = 90  # how long a passed knowledge part counts towards a skills session
KNOWLEDGE_VALID_DAYS_MAX = 365
MAX_SKILLS = 20
MAX_CRITERIA = 10
# What a page shows beside a checklist marked `sample: true`.
SAMPLE_NOTICE = (
    "Sample checklist: general first-aid guidance written for this course, not content from"
    " the article. The training provider reviews it against their own standards before use."
)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ContentError(Exception):
    """Every problem found in the content, each naming its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    short_title: str  # for narrow places (the dashboard's column headers); else the title
    order: int
    kind: str
    minutes: int
    objectives: tuple[str, ...]
    html: str
    anchors: tuple[str, ...]


@dataclass(frozen=True)
class Skill:
    """One skill of the in-person session, with the criteria the assessor checks."""

    id: str
    title: str
    criteria: tuple[str, ...]


@dataclass(frozen=True)
class SkillsPart:
    """A lesson's in-person skills session, signed off by an instructor (its skills.yaml)."""

    sample: bool  # a sample for the training provider to review, shown on screen as such
    skills: tuple[Skill, ...]
    knowledge_valid_days: int = KNOWLEDGE_VALID_DAYS

    @property
    def knowledge_valid_for(self) -> timedelta:
        """How long after passing the knowledge part it still counts for a skills session."""
        return timedelta(days=self.knowledge_valid_days)

    def skill(self, skill_id: str) -> Skill | None:
        return next((s for s in self.skills if s.id == skill_id), None)


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    summary: str
    source_title: str
    source_site: str
    disclaimer_version: int
    disclaimer_text: str
    sections: tuple[Section, ...]
    # The in-person part of a blended course; None for a lesson taught online only.
    skills: SkillsPart | None = None

    def section(self, slug: str) -> Section | None:
        return next((s for s in self.sections if s.slug == slug), None)

    @cached_property
    def slugs(self) -> frozenset[str]:
        return frozenset(s.slug for s in self.sections)

    def neighbours(self, slug: str) -> tuple[Section | None, Section | None]:
        """The sections before and after this one, in reading order."""
        slugs = [s.slug for s in self.sections]
        i = slugs.index(slug)
        before = self.sections[i - 1] if i > 0 else None
        after = self.sections[i + 1] if i + 1 < len(self.sections) else None
        return before, after

    @property
    def minutes(self) -> int:
        return sum(s.minutes for s in self.sections)

    @property
    def assessed_sections(self) -> tuple[Section, ...]:
        """The sections a final quiz must cover: the introduction and every cause."""
        return tuple(s for s in self.sections if s.kind != "summary")


@dataclass(frozen=True)
class Option:
    id: str
    text: str
    feedback: str = ""


@dataclass(frozen=True)
class Pair:
    id: str
    left: str
    right: str


@dataclass(frozen=True)
class Item:
    id: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    section: str
    objective: str
    type: str
    prompt: str
    explanation: str
    link: str
    points: int = 1
    critical: bool = False
    options: tuple[Option, ...] = ()
    pairs: tuple[Pair, ...] = ()
    items: tuple[Item, ...] = ()
    # single: an option id; multiple: a frozenset of ids; true_false: a bool;
    # matching and ordering: implied by pairs and items.
    answer: Any = None
    feedback: str = ""

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Quiz:
    id: str
    lesson: str
    kind: str
    title: str
    questions: tuple[Question, ...]
    draw: int = 12
    pass_mark: int = 80
    # The quiz as parsed from its file: stored with attempts so that an attempt is graded
    # against the version it was drawn from.
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def question(self, question_id: str) -> Question | None:
        return self._by_id.get(question_id)

    @property
    def _by_id(self) -> dict[str, Question]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {q.id: q for q in self.questions}
            object.__setattr__(self, "_index", cached)
        return cached

    def for_section(self, section_slug: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.section == section_slug)


@dataclass(frozen=True)
class Catalogue:
    lessons: dict[str, Lesson]
    quizzes: dict[str, Quiz]
    version: str

    def final_quiz(self, lesson_slug: str) -> Quiz | None:
        return self._quiz_of_kind(lesson_slug, "final")

    def checks(self, lesson_slug: str) -> Quiz | None:
        return self._quiz_of_kind(lesson_slug, "check")

    def _quiz_of_kind(self, lesson_slug: str, kind: str) -> Quiz | None:
        return next(
            (q for q in self.quizzes.values() if q.lesson == lesson_slug and q.kind == kind),
            None,
        )

    def summary(self) -> dict[str, Any]:
        """What `content check --json` prints."""
        return {
            "version": self.version,
            "lessons": [
                {
                    "slug": lesson.slug,
                    "title": lesson.title,
                    "sections": [
                        {"slug": s.slug, "title": s.title, "order": s.order, "kind": s.kind}
                        for s in lesson.sections
                    ],
                    **_skills_summary(lesson.skills),
                }
                for lesson in self.lessons.values()
            ],
            "quizzes": [
                {
                    "id": quiz.id,
                    "lesson": quiz.lesson,
                    "kind": quiz.kind,
                    "questions": len(quiz.questions),
                    "draw": quiz.draw,
                    "critical": sorted(q.id for q in quiz.questions if q.critical),
                    "by_section": dict(Counter(q.section for q in quiz.questions)),
                    "by_type": dict(Counter(q.type for q in quiz.questions)),
                }
                for quiz in self.quizzes.values()
            ],
        }


def _skills_summary(skills: SkillsPart | None) -> dict[str, Any]:
    """The skills part in `content check --json`: absent for a lesson without one."""
    if skills is None:
        return {}
    return {
        "skills": {
            "sample": skills.sample,
            "knowledge_valid_days": skills.knowledge_valid_days,
            "skills": [{"id": s.id, "criteria": len(s.criteria)} for s in skills.skills],
        }
    }


# --- YAML with line numbers -------------------------------------------------------------


class Located(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 1
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A list that remembers its line and the line of each entry."""

    line: int = 1
    item_lines: list[int]

    def line_at(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(yaml.SafeLoader):
    line_offset = 0


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line = node.start_mark.line + 1 + loader.line_offset
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1 + loader.line_offset
        if not isinstance(key, Hashable):
            raise yaml.MarkedYAMLError(
                problem="a key must be plain text", problem_mark=key_node.start_mark
            )
        if key in result:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1 + loader.line_offset
    result.item_lines = [child.start_mark.line + 1 + loader.line_offset for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _load_yaml(text: str, path: str, line_offset: int = 0) -> Any:
    loader = _LineLoader(text)
    loader.line_offset = line_offset
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = (mark.line + 1 if mark else 1) + line_offset
        raise ContentError([Problem(path, line, f"invalid YAML: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise ContentError([Problem(path, 1 + line_offset, f"invalid YAML: {error}")]) from None
    finally:
        loader.dispose()


class _Checker:
    """Collects problems against one file so that a check reports all of them at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def mapping(self, value: Any, line: int, what: str) -> Located | None:
        if isinstance(value, Located):
            return value
        if isinstance(value, dict):
            # A document stored with an attempt comes back from JSON as a plain dict.
            located = Located(value)
            located.line, located.key_lines = line, {}
            return located
        self.add(line, f"{what} must be a mapping of keys to values")
        return None

    def keys(
        self, data: Located, required: Iterable[str], optional: Iterable[str], what: str
    ) -> None:
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in required:
            if key not in data:
                self.add(data.line, f"{what} is missing {key!r}")
        for key in data:
            if key not in allowed:
                self.add(
                    data.line_of(key),
                    f"{what} has unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
                )

    def text(self, data: Located, key: str, what: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            if key in data or required:
                self.add(data.line_of(key), f"{what}: {key!r} must be non-empty text")
            return ""
        return value.strip()

    def integer(
        self, data: Located, key: str, what: str, low: int, high: int, default: int | None = None
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(
                data.line_of(key), f"{what}: {key!r} must be a whole number from {low} to {high}"
            )
            return default if default is not None else low
        return value

    def slug(self, data: Located, key: str, what: str) -> str:
        value = self.text(data, key, what)
        if value and not SLUG.match(value):
            self.add(
                data.line_of(key),
                f"{what}: {key!r} must be lowercase letters, digits and hyphens, not {value!r}",
            )
        return value


# --- Lessons ----------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    # Raw HTML is off: authors write Markdown, and nothing in a lesson can inject markup.
    md = MarkdownIt("commonmark", {"html": False, "typographer": True})
    md.enable(["table", "replacements", "smartquotes"])
    return md.use(anchors_plugin, min_level=2, max_level=3, permalink=False)


FRONT_MATTER_KEYS = ("title", "order", "kind", "minutes", "objectives")
# A section's `short_title` heads its column of the dashboard's table, one per section.
SHORT_TITLE_MAX = 20


def _load_section(
    path: Path, display: str, md: MarkdownIt
) -> tuple[Section | None, list[Problem], dict[str, int]]:
    check = _Checker(display)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        check.add(1, "a section must start with front matter: a line '---', YAML, then '---'")
        return None, check.problems, {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        check.add(1, "front matter is not closed: add a line '---' after it")
        return None, check.problems, {}
    try:
        data = _load_yaml("\n".join(lines[1:end]), display, line_offset=1)
    except ContentError as error:
        return None, error.problems, {}
    front = check.mapping(data, 2, "front matter")
    if front is None:
        return None, check.problems, {}
    check.keys(front, FRONT_MATTER_KEYS, ("slug", "short_title"), "front matter")
    title = check.text(front, "title", "front matter")
    short_title = check.text(front, "short_title", "front matter", required=False)
    if len(short_title) > SHORT_TITLE_MAX:
        check.add(
            front.line_of("short_title"),
            f"front matter: 'short_title' must be at most {SHORT_TITLE_MAX} characters",
        )
    slug = front.get("slug", path.stem)
    if not isinstance(slug, str) or not SLUG.match(slug):
        check.add(
            front.line_of("slug"),
            f"section slug {slug!r} must be lowercase letters, digits and hyphens",
        )
    order = check.integer(front, "order", "front matter", 1, 999)
    kind = front.get("kind")
    if kind not in SECTION_KINDS:
        check.add(
            front.line_of("kind"), f"front matter: 'kind' must be one of {', '.join(SECTION_KINDS)}"
        )
    minutes = check.integer(front, "minutes", "front matter", 1, 120)
    objectives = front.get("objectives")
    if (
        not isinstance(objectives, list)
        or not objectives
        or not all(isinstance(o, str) and o.strip() for o in objectives)
    ):
        check.add(
            front.line_of("objectives"),
            "front matter: 'objectives' must be a list of one or more lines of text",
        )
        objectives = []
    body = "\n".join(lines[end + 1 :])
    if not body.strip():
        check.add(end + 2, "the section has no text after its front matter")
    tokens = md.parse(body)
    anchors = tuple(
        str(t.attrs["id"]) for t in tokens if t.type == "heading_open" and "id" in t.attrs
    )
    if check.problems:
        return None, check.problems, {}
    section = Section(
        slug=slug,
        title=title,
        short_title=short_title or title,
        order=order,
        kind=kind,
        minutes=minutes,
        objectives=tuple(o.strip() for o in objectives),
        html=md.renderer.render(tokens, md.options, {}),
        anchors=anchors,
    )
    return section, [], {"slug": front.line_of("slug"), "order": front.line_of("order")}


def _load_lesson(folder: Path, root: Path, md: MarkdownIt) -> tuple[Lesson | None, list[Problem]]:
    meta_path = folder / "lesson.yaml"
    display = str(meta_path.relative_to(root.parent))
    problems: list[Problem] = []
    check = _Checker(display)
    meta: Located | None = None
    if not meta_path.exists():
        check.add(1, "missing lesson.yaml (title, summary, source, disclaimer)")
    else:
        try:
            meta = check.mapping(
                _load_yaml(meta_path.read_text(encoding="utf-8"), display), 1, "lesson.yaml"
            )
        except ContentError as error:
            problems += error.problems
    source: Located | None = None
    disclaimer: Located | None = None
    if meta is not None:
        if "skills" in meta:
            check.add(
                meta.line_of("skills"),
                f"lesson.yaml: the skills part goes in its own file, {SKILLS_FILE}, beside lesson.yaml",
            )
        optional = ("skills",)  # reported above, with where it goes instead
        check.keys(meta, ("title", "summary", "source", "disclaimer"), optional, "lesson.yaml")
        source = check.mapping(meta.get("source"), meta.line_of("source"), "source")
        disclaimer = check.mapping(meta.get("disclaimer"), meta.line_of("disclaimer"), "disclaimer")
        if source is not None:
            check.keys(source, ("title", "site"), (), "source")
        if disclaimer is not None:
            check.keys(disclaimer, ("version", "text"), (), "disclaimer")

    sections: list[Section] = []
    seen: dict[str, dict[Any, tuple[str, int]]] = {"slug": {}, "order": {}}
    for path in sorted(folder.glob("*.md")):
        section_display = str(path.relative_to(root.parent))
        section, section_problems, lines = _load_section(path, section_display, md)
        problems += section_problems
        if section is None:
            continue
        for key in ("slug", "order"):
            value = getattr(section, key)
            if value in seen[key]:
                other, other_line = seen[key][value]
                problems.append(
                    Problem(
                        section_display,
                        lines[key],
                        f"duplicate section {key} {value!r}: also used by {other}:{other_line}",
                    )
                )
            else:
                seen[key][value] = (section_display, lines[key])
        sections.append(section)
    if not sections and not problems:
        check.add(1, f"the lesson folder {folder.name} has no sections (*.md)")
    skills, skills_problems = _load_skills(folder, root)
    if len(sections) > MAX_SECTIONS:
        check.add(1, f"the lesson has {len(sections)} sections: at most {MAX_SECTIONS}")
    problems = check.problems + problems
    if problems or meta is None or source is None or disclaimer is None:
        return None, problems + skills_problems
    lesson = Lesson(
        slug=folder.name,
        title=check.text(meta, "title", "lesson.yaml"),
        summary=check.text(meta, "summary", "lesson.yaml"),
        source_title=check.text(source, "title", "source"),
        source_site=check.text(source, "site", "source"),
        disclaimer_version=check.integer(disclaimer, "version", "disclaimer", 1, 10_000),
        disclaimer_text=check.text(disclaimer, "text", "disclaimer"),
        sections=tuple(sorted(sections, key=lambda s: s.order)),
        skills=skills,
    )
    if check.problems:
        return None, check.problems + skills_problems
    # With a broken skills part the lesson is still returned, so that its quizzes are checked
    # against it rather than reported as naming an unknown lesson.
    return lesson, skills_problems


# --- Skills -----------------------------------------------------------------------------


def _load_skills(folder: Path, root: Path) -> tuple[SkillsPart | None, list[Problem]]:
    """The lesson's skills.yaml, if it has one: a lesson without it is taught online only."""
    path = folder / SKILLS_FILE
    # A near miss would silently leave the lesson without its skills part.
    for near_miss in (folder / "skills.yml", folder / "skills", path):
        if near_miss.exists() and (near_miss != path or not path.is_file()):
            display = str(near_miss.relative_to(root.parent))
            return None, [
                Problem(display, 1, f"a lesson's skills part is one file named {SKILLS_FILE}")
            ]
    if not path.exists():
        return None, []
    display = str(path.relative_to(root.parent))
    try:
        data = _load_yaml(path.read_text(encoding="utf-8"), display)
    except ContentError as error:
        return None, error.problems
    return parse_skills(data, display)


def parse_skills(data: Any, display: str) -> tuple[SkillsPart | None, list[Problem]]:
    """Validate one skills document, as read from a lesson's skills.yaml."""
    check = _Checker(display)
    part = check.mapping(data, 1, SKILLS_FILE)
    if part is None:
        return None, check.problems
    check.keys(part, ("sample", "skills"), ("knowledge_valid_days",), SKILLS_FILE)
    sample = part.get("sample")
    if "sample" in part and not isinstance(sample, bool):
        check.add(
            part.line_of("sample"),
            f"{SKILLS_FILE}: 'sample' must be true (a sample for the provider to review) or false",
        )
    days = check.integer(
        part,
        "knowledge_valid_days",
        SKILLS_FILE,
        1,
        KNOWLEDGE_VALID_DAYS_MAX,
        default=KNOWLEDGE_VALID_DAYS,
    )
    raw_skills = part.get("skills")
    if not isinstance(raw_skills, list) or not 1 <= len(raw_skills) <= MAX_SKILLS:
        if "skills" in part:
            check.add(
                part.line_of("skills"),
                f"{SKILLS_FILE}: 'skills' must list 1 to {MAX_SKILLS} skills",
            )
        raw_skills = []
    skills: list[Skill] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_skills):
        line = raw_skills.line_at(index) if isinstance(raw_skills, LocatedList) else part.line
        entry = check.mapping(raw, line, "skill")
        if entry is None:
            continue
        skill = _skill(check, entry)
        skill_id = entry.get("id")
        if isinstance(skill_id, str) and skill_id:
            if skill_id in seen:
                check.add(
                    entry.line_of("id"),
                    f"duplicate skill id {skill_id!r}: also on line {seen[skill_id]}",
                )
            seen.setdefault(skill_id, entry.line_of("id"))
        if skill is not None:
            skills.append(skill)
    if check.problems:
        return None, check.problems
    return SkillsPart(sample=sample, skills=tuple(skills), knowledge_valid_days=days), []


def _skill(check: _Checker, entry: Located) -> Skill | None:
    before = len(check.problems)
    raw_id = entry.get("id")
    what = f"skill {raw_id}" if isinstance(raw_id, str) and raw_id.strip() else "skill"
    # A missing key is reported once, here; the reads below report only bad values.
    check.keys(entry, ("id", "title", "criteria"), (), what)
    skill_id = check.text(entry, "id", what, required=False)
    if skill_id and not SLUG.match(skill_id):
        check.add(
            entry.line_of("id"),
            f"{what}: 'id' must be lowercase letters, digits and hyphens, not {skill_id!r}",
        )
    title = check.text(entry, "title", what, required=False)
    raw = entry.get("criteria")
    criteria: list[str] = []
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CRITERIA:
        if "criteria" in entry:
            check.add(
                entry.line_of("criteria"),
                f"{what}: 'criteria' must list 1 to {MAX_CRITERIA} things the assessor checks",
            )
        raw = []
    for index, criterion in enumerate(raw):
        line = raw.line_at(index) if isinstance(raw, LocatedList) else entry.line_of("criteria")
        if not isinstance(criterion, str) or not criterion.strip():
            check.add(line, f"{what}: each criterion must be non-empty text")
        elif criterion.strip() in criteria:
            check.add(line, f"{what}: criterion listed twice: {criterion.strip()!r}")
        else:
            criteria.append(criterion.strip())
    if len(check.problems) > before:
        return None
    return Skill(id=skill_id, title=title, criteria=tuple(criteria))


# --- Quizzes ----------------------------------------------------------------------------

QUESTION_KEYS = {
    "common": ("id", "section", "objective", "type", "prompt", "explanation", "link"),
    "optional": ("points", "critical"),
    "single": ("options", "answer"),
    "multiple": ("options", "answer"),
    "true_false": ("answer", "feedback"),
    "matching": ("pairs", "feedback"),
    "ordering": ("items", "feedback"),
}


def _parts(
    check: _Checker,
    question: Located,
    key: str,
    fields: tuple[str, ...],
    low: int,
    high: int,
    what: str,
) -> list[Located]:
    """A list of mappings with ids (options, pairs, items), checked for shape and unique ids."""
    raw = question.get(key)
    if not isinstance(raw, list) or not low <= len(raw) <= high:
        check.add(question.line_of(key), f"{what}: {key!r} must list {low} to {high} entries")
        return []
    parts: list[Located] = []
    ids: set[str] = set()
    for entry in raw:
        part = check.mapping(entry, question.line_of(key), f"{what}: each of {key!r}")
        if part is None:
            continue
        check.keys(
            part, ("id", *fields), ("feedback",) if key == "options" else (), f"{what}: {key} entry"
        )
        part_id = part.get("id")
        if not isinstance(part_id, str) or not part_id:
            check.add(part.line, f"{what}: each of {key!r} needs an 'id'")
        elif part_id in ids:
            check.add(part.line_of("id"), f"{what}: duplicate id {part_id!r} in {key!r}")
        ids.add(str(part_id))
        for name in fields:
            check.text(part, name, f"{what}: {key} {part_id}")
        parts.append(part)
    return parts


def _question(check: _Checker, data: Located, lesson: Lesson | None) -> Question | None:
    qtype = data.get("type")
    if qtype not in QUESTION_TYPES:
        check.add(
            data.line_of("type"), f"question: 'type' must be one of {', '.join(QUESTION_TYPES)}"
        )
        return None
    check.keys(
        data,
        QUESTION_KEYS["common"] + QUESTION_KEYS[qtype],
        QUESTION_KEYS["optional"],
        f"{qtype} question",
    )
    qid = check.slug(data, "id", "question")
    what = f"question {qid or '?'}"
    before = len(check.problems)
    section = check.slug(data, "section", what)
    if lesson is not None and section and lesson.section(section) is None:
        check.add(
            data.line_of("section"),
            f"{what}: unknown section {section!r} in lesson {lesson.slug!r}",
        )
    link = check.text(data, "link", what)
    if lesson is not None and link:
        link_section, _, anchor = link.partition("#")
        target = lesson.section(link_section)
        if target is None or (anchor and anchor not in target.anchors):
            check.add(
                data.line_of("link"),
                f"{what}: link {link!r} names no section#heading of the lesson",
            )
    points = check.integer(data, "points", what, 1, 100, default=1)
    critical = data.get("critical", False)
    if not isinstance(critical, bool):
        check.add(data.line_of("critical"), f"{what}: 'critical' must be true or false")
    fields: dict[str, Any] = {}
    answer = data.get("answer")
    if qtype in ("single", "multiple"):
        low = 3 if qtype == "single" else 4
        options = _parts(check, data, "options", ("text",), low, 8, what)
        ids = [str(o.get("id")) for o in options]
        keys = [answer] if qtype == "single" else answer
        if qtype == "single" and not isinstance(answer, str):
            check.add(data.line_of("answer"), f"{what}: 'answer' must be one option id")
            keys = []
        if qtype == "multiple" and (
            not isinstance(answer, list)
            or len(answer) < 2
            or not all(isinstance(key, str) for key in answer)
            or len(set(answer)) != len(answer)
        ):
            check.add(
                data.line_of("answer"),
                f"{what}: 'answer' must list two or more different option ids",
            )
            keys = []
        for key in keys:
            if key not in ids:
                check.add(
                    data.line_of("answer"),
                    f"{what}: answer {key!r} is not among the options ({', '.join(ids)})",
                )
        if qtype == "multiple" and keys and len(set(ids) - set(keys)) < 1:
            check.add(
                data.line_of("answer"),
                f"{what}: a multiple-response question needs at least one wrong option",
            )
        for option in options:
            if option.get("id") not in keys and not str(option.get("feedback") or "").strip():
                check.add(
                    option.line,
                    f"{what}: wrong option {option.get('id')!r} needs 'feedback' (the misconception it reveals)",
                )
        fields["options"] = tuple(
            Option(
                str(o.get("id")),
                str(o.get("text", "")).strip(),
                str(o.get("feedback") or "").strip(),
            )
            for o in options
        )
        fields["answer"] = answer if qtype == "single" else frozenset(keys)
    elif qtype == "true_false":
        if not isinstance(answer, bool):
            check.add(data.line_of("answer"), f"{what}: 'answer' must be true or false")
        fields["answer"] = answer
    elif qtype == "matching":
        pairs = _parts(check, data, "pairs", ("left", "right"), 3, 8, what)
        fields["pairs"] = tuple(
            Pair(str(p.get("id")), str(p.get("left", "")).strip(), str(p.get("right", "")).strip())
            for p in pairs
        )
    else:
        items = _parts(check, data, "items", ("text",), 3, 8, what)
        fields["items"] = tuple(
            Item(str(i.get("id")), str(i.get("text", "")).strip()) for i in items
        )
    if qtype in ("true_false", "matching", "ordering"):
        fields["feedback"] = check.text(data, "feedback", what)
    objective = check.text(data, "objective", what)
    prompt = check.text(data, "prompt", what)
    explanation = check.text(data, "explanation", what)
    if len(check.problems) > before:
        return None
    return Question(
        id=qid,
        section=section,
        objective=objective,
        type=qtype,
        prompt=prompt,
        explanation=explanation,
        link=link,
        points=points,
        critical=bool(critical),
        **fields,
    )


def parse_quiz(
    data: Any, display: str, lessons: dict[str, Lesson]
) -> tuple[Quiz | None, list[Problem]]:
    """Validate one quiz document (as read from its file, or as stored with an attempt)."""
    check = _Checker(display)
    quiz = check.mapping(data, 1, "quiz")
    if quiz is None:
        return None, check.problems
    check.keys(quiz, ("id", "lesson", "kind", "title", "questions"), ("draw", "pass_mark"), "quiz")
    quiz_id = check.slug(quiz, "id", "quiz")
    lesson_slug = check.slug(quiz, "lesson", "quiz")
    lesson = lessons.get(lesson_slug)
    if lesson_slug and lesson is None:
        check.add(quiz.line_of("lesson"), f"quiz: unknown lesson {lesson_slug!r}")
    kind = quiz.get("kind")
    if kind not in QUIZ_KINDS:
        check.add(quiz.line_of("kind"), f"quiz: 'kind' must be one of {', '.join(QUIZ_KINDS)}")
    title = check.text(quiz, "title", "quiz")
    draw = check.integer(quiz, "draw", "quiz", 1, 200, default=12)
    pass_mark = check.integer(quiz, "pass_mark", "quiz", 1, 100, default=80)
    raw_questions = quiz.get("questions")
    questions: list[Question] = []
    if not isinstance(raw_questions, list) or not raw_questions:
        check.add(quiz.line_of("questions"), "quiz: 'questions' must list at least one question")
        raw_questions = []
    seen: dict[str, int] = {}
    for raw in raw_questions:
        data = check.mapping(raw, quiz.line_of("questions"), "question")
        if data is None:
            continue
        question = _question(check, data, lesson)
        qid = data.get("id")
        if isinstance(qid, str):
            if qid in seen:
                check.add(
                    data.line_of("id"), f"duplicate question id {qid!r}: also on line {seen[qid]}"
                )
            seen.setdefault(qid, data.line_of("id"))
        if question is not None:
            questions.append(question)
    if kind == "final" and lesson is not None and not check.problems:
        _check_drawable(check, quiz, lesson, questions, draw)
    if check.problems:
        return None, check.problems
    return Quiz(
        quiz_id, lesson_slug, kind, title, tuple(questions), draw, pass_mark, document=dict(quiz)
    ), []


def _check_drawable(
    check: _Checker, quiz: Located, lesson: Lesson, questions: list[Question], draw: int
) -> None:
    """A final quiz must be able to assess every section on every attempt, criticals included."""
    by_section = Counter(q.section for q in questions)
    for section in lesson.assessed_sections:
        if by_section[section.slug] == 0:
            check.add(
                quiz.line_of("questions"),
                f"quiz: section {section.slug!r} has no question, so it cannot be assessed",
            )
    if draw > len(questions):
        check.add(
            quiz.line_of("draw"),
            f"quiz: too few questions to draw from: draw is {draw} but there are {len(questions)}",
        )
    assessable = {q.section for q in questions if not q.critical}
    for section in lesson.assessed_sections:
        if by_section[section.slug] and section.slug not in assessable:
            check.add(
                quiz.line_of("questions"),
                f"quiz: section {section.slug!r} has only critical questions; add one that tests its mechanism",
            )
    needed = sum(1 for q in questions if q.critical) + len(assessable)
    if needed > draw:
        check.add(
            quiz.line_of("draw"),
            f"quiz: draw {draw} cannot hold every critical question and one question per section ({needed} needed)",
        )


# A file written less than this long ago may be written again within the same tick of its
# file system's clock (2 s on FAT, a few ms on ext4): its size and mtime could not tell.
RACY_SECONDS = 2.0


def load_content(
    lessons_dir: str | Path, quizzes_dir: str | Path, *, cached: bool = False
) -> Catalogue:
    """Read every lesson and quiz; raise ContentError listing all problems found.

    With `cached`, the Catalogue already read in this process from the same folders is
    returned while every file and folder in them keeps its path, size and mtime: callers share
    it, so none may change it. Content with problems is read again at each call, as is content
    written in the last RACY_SECONDS."""
    if cached:
        lessons, quizzes = os.path.abspath(lessons_dir), os.path.abspath(quizzes_dir)
        stamp = _fingerprint(lessons), _fingerprint(quizzes)
        newest = max((entry[-1] for files in stamp if files for entry in files), default=0)
        if stamp[0] is not None and newest < time.time_ns() - int(RACY_SECONDS * 1e9):
            return _load_cached(lessons, quizzes, stamp)
    return _read_content(Path(lessons_dir), Path(quizzes_dir))


Fingerprint = tuple[tuple[str, bool, int, int], ...]


def _fingerprint(root: str) -> Fingerprint | None:
    """Each file and folder under root, root too, as (relative path, is a folder, size,
    mtime_ns); None if root is not a folder. Follows symbolic links, as reading does."""
    try:
        top = os.stat(root)
    except OSError:
        return None
    if not stat.S_ISDIR(top.st_mode):
        return None
    entries = [(".", True, 0, top.st_mtime_ns)]
    seen = {(top.st_dev, top.st_ino)}
    for folder, subfolders, files in os.walk(root, followlinks=True):
        for name in sorted(subfolders):
            path = os.path.join(folder, name)
            try:
                found = os.stat(path)
            except OSError:  # gone since it was listed: the reading will say
                entries.append((os.path.relpath(path, root), True, -1, 0))
                subfolders.remove(name)
                continue
            entries.append((os.path.relpath(path, root), True, 0, found.st_mtime_ns))
            if (found.st_dev, found.st_ino) in seen:
                subfolders.remove(name)  # a link back up: walk each folder once
            seen.add((found.st_dev, found.st_ino))
        for name in files:
            path = os.path.join(folder, name)
            try:
                found = os.stat(path)
            except OSError:  # a dangling link, or gone: the reading will say
                entries.append((os.path.relpath(path, root), False, -1, 0))
                continue
            entries.append((os.path.relpath(path, root), False, found.st_size, found.st_mtime_ns))
    return tuple(sorted(entries))


@lru_cache(maxsize=8)
def _load_cached(
    lessons_dir: str, quizzes_dir: str, fingerprint: tuple[Fingerprint | None, ...]
) -> Catalogue:
    return _read_content(Path(lessons_dir), Path(quizzes_dir))


def _read_content(lessons_root: Path, quizzes_root: Path) -> Catalogue:
    problems: list[Problem] = []
    lessons: dict[str, Lesson] = {}
    md = _markdown()
    digest = hashlib.sha256()
    if not lessons_root.is_dir():
        raise ContentError([Problem(str(lessons_root), 1, "the lessons folder does not exist")])
    for folder in sorted(p for p in lessons_root.iterdir() if p.is_dir()):
        if not SLUG.match(folder.name):
            problems.append(
                Problem(
                    str(folder.relative_to(lessons_root.parent)),
                    1,
                    "a lesson folder's name must be lowercase letters, digits and hyphens",
                )
            )
            continue
        lesson, found = _load_lesson(folder, lessons_root, md)
        problems += found
        if lesson is not None:
            lessons[lesson.slug] = lesson
    quizzes: dict[str, Quiz] = {}
    question_files: dict[str, str] = {}
    quiz_paths = (
        sorted(quizzes_root.glob("*.yaml")) + sorted(quizzes_root.glob("*.yml"))
        if quizzes_root.is_dir()
        else []
    )
    for path in quiz_paths:
        display = str(path.relative_to(quizzes_root.parent))
        try:
            data = _load_yaml(path.read_text(encoding="utf-8"), display)
        except ContentError as error:
            problems += error.problems
            continue
        quiz, found = parse_quiz(data, display, lessons)
        problems += found
        if quiz is None:
            continue
        if quiz.id in quizzes:
            problems.append(Problem(display, data.line_of("id"), f"duplicate quiz id {quiz.id!r}"))
        for raw, question in zip(data["questions"], quiz.questions, strict=True):
            if question.id in question_files:
                problems.append(
                    Problem(
                        display,
                        raw.line_of("id"),
                        f"question id {question.id!r} is also used in {question_files[question.id]}",
                    )
                )
            question_files[question.id] = display
        quizzes[quiz.id] = quiz
    if problems:
        raise ContentError(problems)
    for path in sorted([*lessons_root.rglob("*"), *quiz_paths]):
        if path.is_file():
            digest.update(
                str(
                    path.relative_to(path.parents[1] if path in quiz_paths else lessons_root)
                ).encode()
            )
            digest.update(path.read_bytes())
    return Catalogue(lessons, quizzes, digest.hexdigest()[:12])
