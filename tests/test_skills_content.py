"""A lesson's skills part (skills.yaml): the real sample checklist, broken copies that name file
and line, `content check` reporting them, and lessons without one behaving as before."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from learnapp import create_app
from learnapp.content import (
    KNOWLEDGE_VALID_DAYS,
    SAMPLE_NOTICE,
    Skill,
    SkillsPart,
    load_content,
    parse_skills,
)
from learnapp.db import dispose
from tests import test_cli_content, test_content
from tests.test_content import (
    LESSON,
    assert_problem,
    drop_line,
    edit,
    line_of,
    load,
    problems_of,
)

# The fixtures of the real content's tests: the real catalogue, a copy to break, and
# `content check` through Flask's CLI runner.
catalogue = test_content.catalogue
content = test_content.content
check = test_cli_content.check

SKILLS = f"{LESSON}/skills.yaml"
SLUG = "spinal-muscle-spasm"


def write_skills(root: Path, text: str) -> Path:
    path = root / SKILLS
    path.write_text(text)
    return path


MINIMAL = """\
sample: false
skills:
  - id: call-for-help
    title: Calls for help
    criteria:
      - Calls the emergency number.
"""


# --- The real sample checklist ----------------------------------------------------------


def test_the_real_checklist_loads_as_a_sample_valid_for_90_days(catalogue):
    skills = catalogue.lessons[SLUG].skills
    assert isinstance(skills, SkillsPart)
    assert skills.sample is True
    assert skills.knowledge_valid_days == 90 == KNOWLEDGE_VALID_DAYS
    assert skills.knowledge_valid_for == timedelta(days=90)
    assert 4 <= len(skills.skills) <= 6
    assert all(isinstance(s, Skill) and 2 <= len(s.criteria) <= 4 for s in skills.skills)
    assert len({s.id for s in skills.skills}) == len(skills.skills)
    help_skill = skills.skill("when-to-get-help")
    assert help_skill is not None and help_skill.title.startswith("Explains")
    assert any("bladder or bowel" in c for c in help_skill.criteria)
    assert skills.skill("no-such-skill") is None


def test_the_real_checklist_file_says_it_is_a_sample_not_from_the_article():
    from learnapp.config import ROOT

    head = (ROOT / SKILLS).read_text().split("\nsample:")[0]
    assert head.startswith("# SAMPLE skills checklist")
    head = " ".join(line.lstrip("# ") for line in head.split("\n"))
    assert "NOT content from the article" in head
    assert "must review it against their own standards" in head
    assert "not content from the article" in SAMPLE_NOTICE


def test_skills_part_objects_are_frozen(catalogue):
    skills = catalogue.lessons[SLUG].skills
    with pytest.raises(dataclasses.FrozenInstanceError):
        skills.sample = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        skills.skills[0].title = "Another"
    assert isinstance(skills.skills, tuple) and isinstance(skills.skills[0].criteria, tuple)


def test_a_change_to_the_checklist_changes_the_content_version(content, catalogue):
    assert load(content).version == catalogue.version
    edit(content / SKILLS, r"^knowledge_valid_days: 90", "knowledge_valid_days: 60")
    changed = load(content)
    assert changed.lessons[SLUG].skills.knowledge_valid_days == 60
    assert changed.version != catalogue.version


# --- A lesson without a skills part -----------------------------------------------------


def test_a_lesson_without_a_skills_file_keeps_todays_behaviour(content, catalogue):
    (content / SKILLS).unlink()
    without = load(content)
    lesson = without.lessons[SLUG]
    assert lesson.skills is None
    # Everything else is as it was: the same lesson, the same quizzes.
    assert lesson == dataclasses.replace(catalogue.lessons[SLUG], skills=None)
    assert without.quizzes == catalogue.quizzes
    summary = without.summary()
    assert "skills" not in summary["lessons"][0]
    real = catalogue.summary()
    real["lessons"][0].pop("skills")
    assert {**summary, "version": None} == {**real, "version": None}


def test_the_app_serves_a_lesson_without_a_skills_file_as_before(app, app_config, content):
    (content / SKILLS).unlink()
    folders = {"LESSONS_DIR": str(content / "lessons"), "QUIZZES_DIR": str(content / "quizzes")}
    without = create_app({**app_config, **folders})
    try:
        assert without.extensions["learnapp.content"].lessons[SLUG].skills is None
        for path in ("/", "/lessons/", f"/lessons/{SLUG}/", f"/lessons/{SLUG}/notice"):
            before, after = app.test_client().get(path), without.test_client().get(path)
            assert after.status_code == before.status_code != 500, path
            assert after.headers.get("Location") == before.headers.get("Location"), path
    finally:
        dispose(without)


# --- The format -------------------------------------------------------------------------


def test_a_minimal_skills_file_takes_the_default_validity(content):
    write_skills(content, MINIMAL)
    skills = load(content).lessons[SLUG].skills
    assert skills == SkillsPart(
        sample=False,
        skills=(Skill("call-for-help", "Calls for help", ("Calls the emergency number.",)),),
        knowledge_valid_days=90,
    )


def test_text_is_trimmed(content):
    write_skills(
        content, MINIMAL.replace("Calls for help", "'  Calls for help '") + "      - '  Stays. '\n"
    )
    (skill,) = load(content).lessons[SLUG].skills.skills
    assert skill.title == "Calls for help"
    assert skill.criteria == ("Calls the emergency number.", "Stays.")


def test_a_skills_document_without_lines_parses(catalogue):
    """parse_skills also takes plain data (as from JSON): problems then name the top line."""
    skills, problems = parse_skills(
        {
            "sample": True,
            "skills": [{"id": "a-skill", "title": "A skill", "criteria": ["Does it."]}],
        },
        "stored",
    )
    assert problems == [] and skills.skill("a-skill").criteria == ("Does it.",)
    skills, problems = parse_skills({"sample": True, "skills": [{"id": "Bad"}]}, "stored")
    assert skills is None and {p.path for p in problems} == {"stored"}


# --- Broken skills files: each problem names its file and line --------------------------


@pytest.mark.parametrize(
    ("pattern", "new", "words"),
    [
        (r"^sample: true$", "sample: yes please", ("'sample' must be true",)),
        (r"^sample: true$", "sample: 1", ("'sample' must be true",)),
        (r"^sample: true$", 'sample: "true"', ("'sample' must be true",)),
        (
            r"^knowledge_valid_days: 90",
            "knowledge_valid_days: 0",
            ("'knowledge_valid_days' must be a whole number from 1 to 365",),
        ),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days: -5", ("from 1 to 365",)),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days: 366", ("from 1 to 365",)),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days: 90.5", ("from 1 to 365",)),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days: ninety", ("from 1 to 365",)),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days: true", ("from 1 to 365",)),
        (r"^knowledge_valid_days: 90", "knowledge_valid_days:", ("from 1 to 365",)),
        (r"^sample: true$", "sample: true\ncolour: blue", ("unknown key 'colour'", "allowed:")),
        (
            r"^  - id: keep-still$",
            "  - id: Keep_Still",
            ("skill Keep_Still: 'id' must be lowercase letters, digits and hyphens",),
        ),
        (r"^  - id: keep-still$", '  - id: ""', ("skill: 'id' must be non-empty text",)),
        (
            r"^    title: Keeps a person .*$",
            "    title: Keeps still\n    points: 3",
            ("skill keep-still has unknown key 'points'",),
        ),
        (r"^    title: Keeps a person .*$", '    title: " "', ("skill keep-still: 'title'",)),
        (r"^sample: true$", "sample: true: really", ("invalid YAML",)),
    ],
)
def test_a_bad_value_names_its_line(content, pattern, new, words):
    line = edit(content / SKILLS, pattern, new)
    if "\n" in new:  # the problem is on the inserted line, not the matched one
        line += new.count("\n")
    assert_problem(problems_of(content), SKILLS, line, *words)


def test_a_skill_without_a_title_or_criteria_is_named(content):
    path = content / SKILLS
    skill_line = line_of(path, "  - id: keep-still")
    drop_line(path, "    title: Keeps a person")
    problems = problems_of(content)
    assert_problem(problems, SKILLS, skill_line, "skill keep-still is missing 'title'")
    assert len([p for p in problems if p.line == skill_line]) == 1  # reported once
    edit(
        path, r"^    title: Helps a person .*\n    criteria:\n(      - .*\n)+", "    title: Helps\n"
    )
    assert_problem(
        problems_of(content),
        SKILLS,
        line_of(path, "  - id: comfortable-position"),
        "skill comfortable-position is missing 'criteria'",
    )


@pytest.mark.parametrize("empty", ["[]", "", "Calls for help."])
def test_criteria_must_be_a_list_of_one_or_more(content, empty):
    path = write_skills(
        content,
        MINIMAL.replace(
            "    criteria:\n      - Calls the emergency number.\n", f"    criteria: {empty}\n"
        ),
    )
    assert_problem(
        problems_of(content),
        SKILLS,
        line_of(path, "criteria:"),
        "skill call-for-help: 'criteria' must list 1 to 10 things the assessor checks",
    )


@pytest.mark.parametrize("bad", ['""', "", "'   '", "[a list]", "{a: mapping}", "12"])
def test_an_empty_or_non_text_criterion_names_its_own_line(content, bad):
    path = write_skills(content, MINIMAL + f"      - {bad}\n      - Stays with them.\n")
    assert_problem(
        problems_of(content),
        SKILLS,
        7,
        "skill call-for-help: each criterion must be non-empty text",
    )
    assert line_of(path, "Stays with them.") == 8


def test_a_criterion_listed_twice(content):
    write_skills(content, MINIMAL + "      - Calls the emergency number.\n")
    assert_problem(problems_of(content), SKILLS, 7, "criterion listed twice")


def test_duplicate_skill_ids_name_the_first(content):
    path = content / SKILLS
    first = line_of(path, "  - id: keep-still")
    second = edit(path, r"^  - id: comfortable-position$", "  - id: keep-still")
    assert_problem(
        problems_of(content),
        SKILLS,
        second,
        "duplicate skill id 'keep-still'",
        f"also on line {first}",
    )


def test_a_skill_that_is_not_a_mapping_names_its_line(content):
    path = write_skills(content, MINIMAL + "  - Calls for help\n")
    assert_problem(
        problems_of(content), SKILLS, line_of(path, "  - Calls for help"), "skill must be a mapping"
    )


@pytest.mark.parametrize("key", ["sample", "skills"])
def test_sample_and_skills_are_required(content, key):
    """Missing keys are reported at the first key of the file (after its comments)."""
    path = content / SKILLS
    if key == "sample":
        drop_line(path, "sample: true")
        first = line_of(path, "knowledge_valid_days:")
    else:
        edit(path, r"^skills:\n(.*\n)+", "")
        first = line_of(path, "sample: true")
    assert_problem(problems_of(content), SKILLS, first, f"skills.yaml is missing '{key}'")


@pytest.mark.parametrize("skills", ["[]", "a list", "{id: a-skill}", ""])
def test_skills_must_list_one_or_more(content, skills):
    write_skills(content, f"sample: true\nskills: {skills}\n")
    assert_problem(problems_of(content), SKILLS, 2, "'skills' must list 1 to 20 skills")


def test_at_most_20_skills(content):
    entry = "  - id: skill-{n}\n    title: Skill {n}\n    criteria: [Does {n}.]\n"
    write_skills(content, "sample: true\nskills:\n" + "".join(entry.format(n=n) for n in range(21)))
    assert_problem(problems_of(content), SKILLS, 2, "'skills' must list 1 to 20 skills")


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_a_skills_file_must_be_a_mapping(content, text):
    write_skills(content, text)
    assert_problem(problems_of(content), SKILLS, 1, "skills.yaml must be a mapping")


def test_several_problems_are_all_reported(content):
    path = content / SKILLS
    sample_line = edit(path, r"^sample: true$", "sample: maybe")
    days_line = edit(path, r"^knowledge_valid_days: 90", "knowledge_valid_days: 1000")
    id_line = edit(path, r"^  - id: handover$", "  - id: Handover")
    problems = problems_of(content)
    assert_problem(problems, SKILLS, sample_line, "'sample'")
    assert_problem(problems, SKILLS, days_line, "'knowledge_valid_days'")
    assert_problem(problems, SKILLS, id_line, "'id'")


@pytest.mark.parametrize("name", ["skills.yml", "skills"])
def test_a_misnamed_skills_part_is_not_silently_ignored(content, name):
    (content / SKILLS).rename(content / LESSON / name)
    assert_problem(problems_of(content), f"{LESSON}/{name}", 1, "one file named skills.yaml")


def test_a_skills_yaml_folder_is_refused(content):
    (content / SKILLS).unlink()
    (content / SKILLS).mkdir()
    assert_problem(problems_of(content), SKILLS, 1, "one file named skills.yaml")


def test_a_skills_part_inside_lesson_yaml_points_to_skills_yaml(content):
    path = content / LESSON / "lesson.yaml"
    path.write_text(path.read_text() + "skills:\n  - id: a-skill\n")
    problems = problems_of(content)
    line = line_of(path, "skills:")
    assert_problem(problems, f"{LESSON}/lesson.yaml", line, "goes in its own file, skills.yaml")
    assert len([p for p in problems if p.line == line]) == 1


def test_a_skills_file_in_a_new_lesson_from_scratch(tmp_path):
    """A lesson built in an empty folder, not a copy of the real one."""
    lesson = tmp_path / "lessons" / "first-steps"
    lesson.mkdir(parents=True)
    (tmp_path / "quizzes").mkdir()
    (lesson / "lesson.yaml").write_text(
        "title: First steps\nsummary: A start.\n"
        "source: {title: Ours, site: example.org}\n"
        "disclaimer: {version: 1, text: For education only.}\n"
    )
    (lesson / "intro.md").write_text(
        "---\ntitle: Intro\norder: 1\nkind: introduction\nminutes: 1\n"
        "objectives: [Say hello]\n---\nHello.\n"
    )
    assert (
        load_content(tmp_path / "lessons", tmp_path / "quizzes").lessons["first-steps"].skills
        is None
    )
    (lesson / "skills.yaml").write_text(
        MINIMAL.replace("sample: false", "sample: true") + "knowledge_valid_days: 30\n"
    )
    skills = load_content(tmp_path / "lessons", tmp_path / "quizzes").lessons["first-steps"].skills
    assert (skills.sample, skills.knowledge_valid_days, skills.skills[0].id) == (
        True,
        30,
        "call-for-help",
    )


# --- `flask content check` ----------------------------------------------------------------


@pytest.fixture
def pointed(app, content):
    """Point the app (built on valid content) at the copy `content`, to break."""
    app.config["LESSONS_DIR"] = str(content / "lessons")
    app.config["QUIZZES_DIR"] = str(content / "quizzes")
    return content


def test_check_prints_skills_problems_as_path_line_message(check, pointed):
    path = pointed / SKILLS
    days = edit(path, r"^knowledge_valid_days: 90", "knowledge_valid_days: 0")
    duplicate = edit(path, r"^  - id: handover$", "  - id: keep-still")
    empty = edit(path, r"^      - Stays with the person, .*$", '      - ""')
    result = check()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{SKILLS}:{days}: skills.yaml: 'knowledge_valid_days' must be a whole number from 1 to 365",
        f"{SKILLS}:{empty}: skill reassure-and-monitor: each criterion must be non-empty text",
        f"{SKILLS}:{duplicate}: duplicate skill id 'keep-still': also on line "
        f"{line_of(path, '  - id: keep-still')}",
        "3 problems found.",
    ]
    assert "OK" not in result.output


def test_check_json_lists_skills_problems(check, pointed):
    line = edit(pointed / SKILLS, r"^sample: true$", "sample: sometimes")
    result = check("--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(p["path"], p["line"]) for p in report["problems"]] == [(SKILLS, line)]


def test_check_json_summarises_the_real_checklist(check):
    result = check("--json")
    assert result.exit_code == 0, result.output
    (lesson,) = json.loads(result.output)["lessons"]
    skills = lesson["skills"]
    assert skills["sample"] is True and skills["knowledge_valid_days"] == 90
    assert [s["id"] for s in skills["skills"]][:2] == ["recognise-spinal-injury", "keep-still"]
    assert all(2 <= s["criteria"] <= 4 for s in skills["skills"])


def test_check_passes_without_a_skills_file(check, pointed):
    (pointed / SKILLS).unlink()
    result = check()
    assert result.exit_code == 0, result.output
    assert re.search(r"7 sections in 1 lesson, .*: OK$", result.output.strip())
    result = check("--json")
    assert "skills" not in json.loads(result.output)["lessons"][0]
