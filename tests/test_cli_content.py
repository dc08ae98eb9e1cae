"""`flask content check [--json]`: OK on the real content, file:line problems on broken content."""

from __future__ import annotations

import json
import shutil

import pytest

from learnapp.config import ROOT

CHECKS = "quizzes/spinal-muscle-spasm-checks.yaml"
FINAL = "quizzes/spinal-muscle-spasm-final.yaml"


@pytest.fixture
def broken(app, tmp_path):
    """Point the app (built on valid content) at a copy with one problem in each quiz: a link
    to a heading that does not exist, and more questions to draw than the bank holds.
    Returns the line of each problem by file."""
    for folder in ("lessons", "quizzes"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    lines = {}
    for name, prefix, new in (
        (CHECKS, "    link: ", "    link: spine-and-spasm#no-such-heading"),
        (FINAL, "draw: ", "draw: 200"),
    ):
        text = (tmp_path / name).read_text().split("\n")
        n = next(n for n, line in enumerate(text) if line.startswith(prefix))
        text[n] = new
        (tmp_path / name).write_text("\n".join(text))
        lines[name] = n + 1
    app.config["LESSONS_DIR"] = str(tmp_path / "lessons")
    app.config["QUIZZES_DIR"] = str(tmp_path / "quizzes")
    return lines


@pytest.fixture
def check(app, runner):
    """Run `content check` with the given options. The content group is a plain click group,
    so unlike under the `flask` command nothing pushes an app context for it: do so here."""

    def invoke(*options: str):
        with app.app_context():
            return runner.invoke(args=["content", "check", *options])

    return invoke


def test_check_passes_on_the_real_content(check):
    result = check()
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": OK")
    assert "7 sections in 1 lesson," in result.output


def test_check_json_summarises_the_real_content(check):
    result = check("--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["ok"] is True and len(summary["version"]) == 12
    (lesson,) = summary["lessons"]
    assert lesson["slug"] == "spinal-muscle-spasm"
    assert lesson["sections"][3]["slug"] == "poor-posture"
    assert lesson["sections"][3]["title"] == "Poor posture"
    assert len(lesson["sections"]) == 7
    final = next(q for q in summary["quizzes"] if q["kind"] == "final")
    assert sum(final["by_section"].values()) == sum(final["by_type"].values()) == final["questions"]
    assert set(final["by_type"]) == {"single", "multiple", "true_false", "matching", "ordering"}
    assert final["critical"] and final["draw"] <= final["questions"]


def test_check_prints_each_problem_as_path_line_message(check, broken):
    result = check()
    assert result.exit_code == 1
    first, second, total = result.stderr.splitlines()
    assert first.startswith(f"{CHECKS}:{broken[CHECKS]}: question ")
    assert first.endswith(
        ": link 'spine-and-spasm#no-such-heading' names no section#heading of the lesson"
    )
    assert second.startswith(f"{FINAL}:{broken[FINAL]}: quiz: too few questions to draw from")
    assert total == "2 problems found."
    assert "OK" not in result.output


def test_check_json_lists_the_problems(check, broken):
    result = check("--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(p["path"], p["line"]) for p in report["problems"]] == [
        (CHECKS, broken[CHECKS]),
        (FINAL, broken[FINAL]),
    ]
    assert "too few questions" in report["problems"][1]["message"]
