"""Loading lessons/ and quizzes/: the real content, and broken copies that name file and line."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from learnapp import content as content_module
from learnapp.config import ROOT
from learnapp.content import ContentError, Problem, load_content, parse_quiz
from tests.conftest import SECTIONS

LESSON = "lessons/spinal-muscle-spasm"
POSTURE = f"{LESSON}/poor-posture.md"
JOINT = f"{LESSON}/joint-dysfunction.md"
CHECKS = "quizzes/spinal-muscle-spasm-checks.yaml"
FINAL = "quizzes/spinal-muscle-spasm-final.yaml"


@pytest.fixture(scope="module")
def catalogue():
    return load_content(ROOT / "lessons", ROOT / "quizzes")


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the real lessons/ and quizzes/ to break."""
    for folder in ("lessons", "quizzes"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def load(root: Path):
    return load_content(root / "lessons", root / "quizzes")


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(ContentError) as caught:
        load(root)
    return caught.value.problems


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line that contains `text`."""
    return next(n for n, line in enumerate(path.read_text().split("\n"), 1) if text in line)


def edit(path: Path, pattern: str, new: str, count: int = 1) -> int:
    """Replace `pattern` (a regex) in the file; return the line where the first match began."""
    text = path.read_text()
    match = re.search(pattern, text, flags=re.MULTILINE)
    assert match, f"{pattern!r} not in {path}"
    path.write_text(re.sub(pattern, new, text, count=count, flags=re.MULTILINE))
    return text.count("\n", 0, match.start()) + 1


def assert_problem(problems: list[Problem], path: str, line: int, *words: str) -> None:
    found = [p for p in problems if p.path == path and p.line == line]
    assert any(all(w in p.message for w in words) for p in found), (
        f"no problem at {path}:{line} mentioning {words}; got: {[str(p) for p in problems]}"
    )


# --- The real content -------------------------------------------------------------------


def test_real_content_loads_with_sections_in_order(catalogue):
    lesson = catalogue.lessons["spinal-muscle-spasm"]
    assert [s.slug for s in lesson.sections] == SECTIONS
    assert [s.order for s in lesson.sections] == list(range(1, 8))
    assert [s.kind for s in lesson.sections] == ["introduction"] + ["cause"] * 5 + ["summary"]
    assert all(s.objectives and s.minutes > 0 for s in lesson.sections)
    assert lesson.disclaimer_version >= 1 and "not medical advice" in lesson.disclaimer_text


def test_headings_have_anchors_that_the_html_carries(catalogue):
    posture = catalogue.lessons["spinal-muscle-spasm"].section("poor-posture")
    assert "the-chain-from-posture-to-spasm" in posture.anchors
    for section in catalogue.lessons["spinal-muscle-spasm"].sections:
        assert section.anchors, section.slug
        for anchor in section.anchors:
            assert f'id="{anchor}"' in section.html


def test_every_question_links_to_an_existing_heading(catalogue):
    lesson = catalogue.lessons["spinal-muscle-spasm"]
    for quiz in catalogue.quizzes.values():
        for question in quiz.questions:
            slug, _, anchor = question.link.partition("#")
            assert anchor in lesson.section(slug).anchors, question.id


def test_final_quiz_bank_covers_every_assessed_section(catalogue):
    quiz = catalogue.final_quiz("spinal-muscle-spasm")
    assert len(quiz.questions) >= 30
    by_section = Counter(q.section for q in quiz.questions)
    for slug in SECTIONS[:-1]:
        assert by_section[slug] >= 4, slug
    assert {q.type for q in quiz.questions} == {
        "single",
        "multiple",
        "true_false",
        "matching",
        "ordering",
    }
    assert any(q.critical for q in quiz.questions)
    assert quiz.draw <= len(quiz.questions) and 1 <= quiz.pass_mark <= 100


def test_a_quiz_stored_as_json_parses_back_to_the_same_quiz(catalogue):
    quiz = catalogue.final_quiz("spinal-muscle-spasm")
    stored = json.loads(json.dumps(quiz.document))
    again, problems = parse_quiz(stored, "stored", catalogue.lessons)
    assert problems == []
    assert again == quiz


# --- Markdown and the content version ----------------------------------------------------


def test_raw_html_in_markdown_is_escaped_not_rendered(content):
    path = content / POSTURE
    path.write_text(
        path.read_text() + "\n<script>alert(1)</script>\n\nA <b onclick=x>bold</b> claim.\n"
    )
    html = load(content).lessons["spinal-muscle-spasm"].section("poor-posture").html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html and "<b onclick" not in html


def test_content_version_is_stable_and_changes_with_any_file(content, catalogue):
    assert load(content).version == load(content).version == catalogue.version
    path = content / POSTURE
    path.write_text(path.read_text() + "\nOne more sentence.\n")
    changed = load(content).version
    assert changed != catalogue.version
    edit(content / CHECKS, r"^title: .*$", "title: Checks, renamed")
    assert load(content).version not in (catalogue.version, changed)


# --- Broken lessons ---------------------------------------------------------------------


def drop_line(path: Path, text: str) -> int:
    return edit(path, rf"^.*{re.escape(text)}.*\n", "")


def test_front_matter_missing(content):
    drop_line(content / POSTURE, "---")
    assert_problem(problems_of(content), POSTURE, 1, "must start with front matter")


def test_front_matter_not_closed(content):
    path = content / POSTURE
    lines = path.read_text().split("\n")
    closing = lines.index("---", 1)
    path.write_text("\n".join(lines[:closing] + lines[closing + 1 :]))
    assert_problem(problems_of(content), POSTURE, 1, "not closed")


@pytest.mark.parametrize(
    ("pattern", "new", "words"),
    [
        (r"^kind: cause$", "kind: cause: oops", ("invalid YAML", "mapping values")),
        (r"^minutes: 4$", "minutes: 4\ntitle: Again", ("invalid YAML", "duplicate key 'title'")),
        (r"^order: 4$", "order: four", ("'order' must be a whole number",)),
        (r"^order: 4$", "order: 0", ("'order' must be a whole number from 1",)),
        (r"^kind: cause$", "kind: rumour", ("'kind' must be one of introduction, cause, summary",)),
        (r"^title: Poor posture$", 'title: ""', ("'title' must be non-empty text",)),
        (r"^objectives:\n(  - .*\n)+", "objectives: []\n", ("'objectives' must be a list",)),
        (r"^minutes: 4$", "minutes: 4\ncolour: blue", ("unknown key 'colour'", "allowed:")),
        (r"^short_title: Posture$", 'short_title: ""', ("'short_title' must be non-empty",)),
        (
            r"^short_title: Posture$",
            "short_title: Posture held for too long",
            ("'short_title' must be at most 20 characters",),
        ),
    ],
)
def test_a_bad_front_matter_value_names_its_line(content, pattern, new, words):
    path = content / POSTURE
    line = edit(path, pattern, new)
    if "\n" in new.rstrip("\n"):  # the problem is on the inserted line, not the matched one
        line += new.count("\n")
    assert_problem(problems_of(content), POSTURE, line, *words)


def test_a_section_without_a_short_title_is_short_for_its_title(content):
    drop_line(content / POSTURE, "short_title: Posture")
    section = load(content).lessons["spinal-muscle-spasm"].section("poor-posture")
    assert (section.title, section.short_title) == ("Poor posture", "Poor posture")


def test_a_section_without_a_title(content):
    drop_line(content / POSTURE, "title: Poor posture")
    assert_problem(problems_of(content), POSTURE, 2, "front matter is missing 'title'")


def test_empty_body(content):
    path = content / POSTURE
    lines = path.read_text().split("\n")
    closing = lines.index("---", 1)
    path.write_text("\n".join(lines[: closing + 1]) + "\n\n  \n")
    assert_problem(problems_of(content), POSTURE, closing + 2, "no text after its front matter")


def test_duplicate_slug_names_the_other_file(content):
    line = edit(content / POSTURE, r"^order: 4$", "order: 4\nslug: joint-dysfunction") + 1
    assert_problem(
        problems_of(content),
        POSTURE,
        line,
        "duplicate section slug 'joint-dysfunction'",
        f"also used by {JOINT}:2",
    )


def test_duplicate_order_names_the_other_file(content):
    line = edit(content / POSTURE, r"^order: 4$", "order: 5")
    other = line_of(content / JOINT, "order: 5")
    assert_problem(
        problems_of(content), POSTURE, line, "duplicate section order 5", f"{JOINT}:{other}"
    )


def test_missing_lesson_yaml(content):
    (content / LESSON / "lesson.yaml").unlink()
    assert_problem(problems_of(content), f"{LESSON}/lesson.yaml", 1, "missing lesson.yaml")


def test_a_badly_named_lesson_folder_is_named_relative(content):
    (content / "lessons" / "Bad_Name").mkdir()
    assert_problem(problems_of(content), "lessons/Bad_Name", 1, "lowercase letters")


def test_several_problems_are_all_reported(content):
    posture_line = edit(content / POSTURE, r"^order: 4$", "order: four")
    joint_line = edit(content / JOINT, r"^kind: cause$", "kind: rumour")
    checks_line = edit(content / CHECKS, r"^title: .*$", "title: Knowledge: checks")
    problems = problems_of(content)
    assert_problem(problems, POSTURE, posture_line, "'order'")
    assert_problem(problems, JOINT, joint_line, "'kind'")
    assert_problem(problems, CHECKS, checks_line, "invalid YAML")


# --- Broken quizzes ---------------------------------------------------------------------


def test_unknown_section(content):
    line = edit(content / CHECKS, r"^    section: spine-and-spasm$", "    section: nowhere")
    assert_problem(problems_of(content), CHECKS, line, "unknown section 'nowhere'")


def test_answer_key_not_among_options(content):
    line = edit(content / CHECKS, r"^    answer: a$", "    answer: z")
    assert_problem(problems_of(content), CHECKS, line, "answer 'z' is not among the options")


@pytest.mark.parametrize(
    ("answer", "words"),
    [("[a, z]", ("answer 'z' is not among",)), ("[[a], b]", ("two or more different option ids",))],
)
def test_multiple_response_answer_must_name_its_options(content, answer, words):
    line = edit(content / FINAL, r"^    answer: \[.*\]$", f"    answer: {answer}")
    assert_problem(problems_of(content), FINAL, line, *words)


def test_duplicate_question_id_within_a_file(content):
    first = re.search(r"^  - id: (\S+)$", (content / CHECKS).read_text(), re.MULTILINE)
    first_line = line_of(content / CHECKS, first.group(0))
    second_line = edit(content / CHECKS, rf"^  - id: (?!{first.group(1)}$)\S+$", first.group(0))
    assert second_line > first_line
    assert_problem(
        problems_of(content),
        CHECKS,
        second_line,
        f"duplicate question id {first.group(1)!r}",
        f"also on line {first_line}",
    )


def test_duplicate_question_id_across_files(content):
    taken = re.search(r"^  - id: (\S+)$", (content / CHECKS).read_text(), re.MULTILINE).group(1)
    line = edit(content / FINAL, r"^  - id: \S+$", f"  - id: {taken}")
    assert_problem(problems_of(content), FINAL, line, repr(taken), f"also used in {CHECKS}")


def test_wrong_option_without_feedback(content):
    pattern = r"^(      - id: (\w+)\n        text: .*)\n        feedback: .*$"
    match = re.search(pattern, (content / CHECKS).read_text(), re.MULTILINE)
    line = edit(content / CHECKS, pattern, r"\1")
    assert_problem(
        problems_of(content), CHECKS, line, f"wrong option {match.group(2)!r} needs 'feedback'"
    )


def test_link_to_a_missing_heading(content):
    line = edit(content / CHECKS, r"^    link: (\S+)#\S+$", r"    link: \1#no-such-heading")
    assert_problem(problems_of(content), CHECKS, line, "#no-such-heading", "names no section")


def test_unknown_question_type(content):
    line = edit(content / CHECKS, r"^    type: single$", "    type: essay")
    assert_problem(problems_of(content), CHECKS, line, "'type' must be one of single, multiple")


def test_too_few_questions_to_draw_from(content):
    line = edit(content / FINAL, r"^draw: \d+", "draw: 200")
    assert_problem(problems_of(content), FINAL, line, "too few questions to draw from", "200")


def test_final_quiz_must_leave_no_assessed_section_without_questions(content):
    edit(content / FINAL, r"^    section: sports-strains$", "    section: poor-posture", count=0)
    line = line_of(content / FINAL, "questions:")
    assert_problem(problems_of(content), FINAL, line, "'sports-strains' has no question")


def test_invalid_yaml_in_a_quiz(content):
    line = edit(content / CHECKS, r"^title: .*$", "title: Knowledge: checks")
    assert_problem(problems_of(content), CHECKS, line, "invalid YAML", "mapping values")


def test_a_lesson_has_at_most_63_sections(content):
    # The dashboard keeps which sections a learner read as bits of one 64-bit number.
    summary = (content / LESSON / "summary.md").read_text()
    for n in range(57):  # 7 + 57 = 64
        extra = content / LESSON / f"extra-{n}.md"
        extra.write_text(re.sub(r"^order: \d+$", f"order: {100 + n}", summary, flags=re.M))
    assert_problem(problems_of(content), f"{LESSON}/lesson.yaml", 1, "64 sections: at most 63")
    (content / LESSON / "extra-0.md").unlink()
    assert len(load(content).lessons["spinal-muscle-spasm"].sections) == 63


# --- Read once per process (load_content(..., cached=True), as create_app reads) ----------


@pytest.fixture
def settled(monkeypatch):
    """Content written a moment ago counts as settled: the fingerprint alone decides."""
    monkeypatch.setattr(content_module, "RACY_SECONDS", 0)


def cached(root: Path):
    return load_content(root / "lessons", root / "quizzes", cached=True)


def test_unchanged_content_is_read_once(content, settled):
    first = cached(content)
    assert load_content(str(content / "lessons"), str(content / "quizzes"), cached=True) is first
    fresh = load(content)  # without `cached`, every call reads
    assert fresh is not first and fresh == first


def test_content_in_other_folders_is_read_on_its_own(content, settled, tmp_path):
    other = tmp_path / "other"
    for folder in ("lessons", "quizzes"):
        shutil.copytree(content / folder, other / folder)  # the same files, the same mtimes
    assert cached(content) is not cached(other)


def change_text(root: Path) -> None:
    path = root / POSTURE
    path.write_text(path.read_text() + "\nAn extra sentence added by an editor.\n")


def change_in_place(root: Path) -> None:
    """The same number of bytes, so only the mtime tells."""
    path = root / POSTURE
    before = path.stat()
    path.write_text(path.read_text().replace("posture", "POSTURE", 1))
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))


def add_a_section(root: Path) -> None:
    summary = (root / LESSON / "summary.md").read_text()
    extra = re.sub(r"^order: \d+$", "order: 100", summary, flags=re.M)
    (root / LESSON / "extra.md").write_text(extra)


def remove_a_quiz(root: Path) -> None:
    (root / CHECKS).unlink()


@pytest.mark.parametrize(
    "change",
    [change_text, change_in_place, add_a_section, remove_a_quiz],
    ids=["text", "in place", "new file", "file removed"],
)
def test_content_is_read_again_when_a_file_changes(content, settled, change):
    first = cached(content)
    change(content)
    again = cached(content)
    assert again is not first and again != first
    assert cached(content) is again


def test_content_written_just_now_is_read_at_every_call(content):
    """A file written within its file system's clock tick could be written again within it,
    at the same size, unseen: such content is not kept until it is older than that."""
    change_text(content)
    first = cached(content)
    assert cached(content) is not first


def test_content_with_problems_is_reported_at_every_read(content, settled):
    edit(content / FINAL, r"^draw: \d+", "draw: 200")
    for _ in range(2):
        with pytest.raises(ContentError, match="too few questions to draw from"):
            cached(content)
    edit(content / FINAL, r"^draw: 200", "draw: 12")
    assert cached(content) is cached(content)


def test_apps_made_from_the_same_content_share_it(app_config, settled):
    from learnapp import create_app

    first, second = create_app(app_config), create_app(app_config)
    assert first.extensions["learnapp.content"] is second.extensions["learnapp.content"]
