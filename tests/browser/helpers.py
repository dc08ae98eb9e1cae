"""What a learner does in the browser, shared by the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

from learnapp.content import Question, Quiz, load_content
from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

LESSON = "/lessons/spinal-muscle-spasm"
TEACH = "/instructor/"  # where instructors and admins land after logging in
SECTIONS = [
    ("spine-and-spasm", "The spine and what a spasm is"),
    ("vehicle-accidents", "Vehicle accidents"),
    ("sports-strains", "Sports strains and abrupt movements"),
    ("poor-posture", "Poor posture"),
    ("joint-dysfunction", "Spinal joint dysfunction"),
    ("muscular-dysfunction", "Muscular dysfunction"),
    ("summary", "Summary: how the causes connect"),
]
MAX_TABS = 60

_emails = count(1)


def unique_email(prefix: str = "learner") -> str:
    return f"{prefix}{next(_emails)}@example.com"


def tab_to(page: Page, target: Locator, limit: int = MAX_TABS) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    element = target.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("element => document.activeElement === element", element):
            return
    raise AssertionError(f"{target} not reached in {limit} presses of Tab on {page.url}")


def wait_for_path(page: Page, url: str) -> None:
    """Wait until the page is at `url`, whatever fragment (a used skip link's #main) it kept."""
    page.wait_for_url(lambda current: current.partition("#")[0] == url)


def progress_value(page: Page) -> int:
    value = page.locator("progress").get_attribute("value")
    assert value is not None, f"no <progress> value on {page.url}"
    return int(value)


def register(page: Page, base_url: str, email: str, name: str = "Ada Learner") -> None:
    """Create an account through the form (mouse and keyboard alike); ends on the course page."""
    page.goto(f"{base_url}/auth/register")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    wait_for_path(page, f"{base_url}{LESSON}/")


def log_in(page: Page, base_url: str, email: str, lands_on: str = f"{LESSON}/") -> None:
    """Log in through the form; ends where the account lands: a learner on the course page,
    an instructor or admin on Teach (TEACH)."""
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    wait_for_path(page, f"{base_url}{lands_on}")


def mark_sections_read(page: Page, base_url: str, how_many: int, start: int = 0) -> None:
    """Read the first `how_many` sections in order with the page's own button; from section
    `start` on when the ones before it are read already."""
    page.goto(f"{base_url}{LESSON}/sections/{SECTIONS[start][0]}")
    for index in range(start, how_many):
        page.get_by_role("button", name="Mark as read and").click()
        following = (
            f"{LESSON}/sections/{SECTIONS[index + 1][0]}"
            if index + 1 < len(SECTIONS)
            else f"{LESSON}/progress"
        )
        wait_for_path(page, f"{base_url}{following}")
    expect(page.locator("progress")).to_have_attribute("value", str(how_many))


# --- The final quiz ----------------------------------------------------------------------

FINAL = f"/quizzes/{LESSON.rsplit('/', 1)[-1]}/final"
FINAL_QUIZ_ID = "spinal-muscle-spasm-final"
ROOT = Path(__file__).resolve().parents[2]
ATTEMPT_URL = re.compile(r"/quizzes/attempts/(\d+)$")
SECTION_TITLES = dict(SECTIONS)

# Each control of the attempt form as the learner sees it: its label and, for a select, the
# texts of its options.
_READ_QUESTIONS = """form => Array.from(form.querySelectorAll('fieldset.question'), fieldset => ({
  id: fieldset.id.replace(/^question-/, ''),
  controls: Array.from(fieldset.querySelectorAll('input, select'), control => ({
    id: control.id,
    type: control.tagName === 'SELECT' ? 'select' : control.type,
    name: control.name,
    label: control.labels[0].textContent,
    options: control.tagName === 'SELECT' ? Array.from(control.options, o => o.textContent) : [],
  })),
}))"""

# What the form holds now: each radio and checkbox ticked or not, each select's chosen text.
_FORM_STATE = """form => Object.fromEntries(Array.from(form.querySelectorAll('input, select'))
  .filter(control => control.id)
  .map(control => [control.id, control.tagName === 'SELECT'
    ? control.options[control.selectedIndex].textContent : control.checked]))"""

_FOCUSED = """() => {
  const element = document.activeElement;
  return {id: element.id, tag: element.tagName, type: element.type || '',
          inForm: Boolean(element.closest('form.quiz')),
          selected: element.tagName === 'SELECT' ? element.selectedIndex : -1};
}"""


@cache
def final_quiz() -> Quiz:
    return load_content(ROOT / "lessons", ROOT / "quizzes").quizzes[FINAL_QUIZ_ID]


def _text(raw: str) -> str:
    return " ".join(raw.split())


@dataclass(frozen=True)
class PlannedQuestion:
    """One question of an attempt and the answer to give: for each control of its fieldset,
    True or False for a radio or checkbox, the option text for a select."""

    question: Question
    controls: list[dict[str, Any]]
    wanted: dict[str, bool | str]


def _wanted(question: Question, controls: list[dict[str, Any]], right: bool) -> dict[str, Any]:
    labels = {c["id"]: _text(c["label"]) for c in controls}
    if question.type in ("single", "multiple", "true_false"):
        if question.type == "single":
            texts = {o.text for o in question.options if (o.id == question.answer) == right}
            if not right:  # one wrong option is enough
                texts = {sorted(texts)[0]}
        elif question.type == "multiple":
            # Every distractor and no key scores nothing: the key ticked, every point.
            texts = {o.text for o in question.options if (o.id in question.answer) == right}
        else:
            texts = {"True" if question.answer == right else "False"}
        wanted = {cid: label in {_text(t) for t in texts} for cid, label in labels.items()}
        assert sum(wanted.values()) == len(texts), f"{question.id}: labels {labels}"
        return wanted
    if question.type == "matching":
        rights = [p.right for p in question.pairs]
        lefts = [_text(p.left) for p in question.pairs]
        # Wrong: each item matched with the next item's match, so none is right.
        return {
            cid: rights[(lefts.index(label) + (0 if right else 1)) % len(rights)]
            for cid, label in labels.items()
        }
    items = [i.text for i in question.items]
    # "Step n" gets the n-th item; wrong: the one after it, so no step is right.
    return {
        cid: items[(int(label.removeprefix("Step ")) - (1 if right else 0)) % len(items)]
        for cid, label in labels.items()
    }


def plan_answers(page: Page, right: bool) -> list[PlannedQuestion]:
    """Read the attempt page's questions and decide every control's answer, right or wrong,
    from the quiz bank: by the texts shown, as the learner sees them."""
    quiz = final_quiz()
    plan = []
    for shown in page.locator("form.quiz").evaluate(_READ_QUESTIONS):
        question = quiz.question(shown["id"])
        assert question is not None, f"unknown question {shown['id']} on {page.url}"
        wanted = _wanted(question, shown["controls"], right)
        for control in shown["controls"]:
            if control["type"] == "select":
                assert wanted[control["id"]] in control["options"], (question.id, control)
        plan.append(PlannedQuestion(question, shown["controls"], wanted))
    assert plan, f"no questions on {page.url}"
    return plan


def assert_form_holds(page: Page, plan: list[PlannedQuestion]) -> None:
    state = page.locator("form.quiz").evaluate(_FORM_STATE)
    for planned in plan:
        for control_id, wanted in planned.wanted.items():
            assert state[control_id] == wanted, f"{control_id}: {state[control_id]!r}"


def by_section(plan: list[PlannedQuestion]) -> dict[str, int]:
    """The points of the drawn questions, by section slug."""
    points: dict[str, int] = {}
    for planned in plan:
        section = planned.question.section
        points[section] = points.get(section, 0) + planned.question.points
    return points


def answer_with_the_mouse(page: Page, right: bool) -> list[PlannedQuestion]:
    plan = plan_answers(page, right)
    for planned in plan:
        for control_id, wanted in planned.wanted.items():
            control = page.locator(f'[id="{control_id}"]')
            if isinstance(wanted, str):
                control.select_option(label=wanted)
            elif wanted:
                control.check()
    assert_form_holds(page, plan)
    return plan


def answer_with_the_keyboard(page: Page, right: bool) -> list[PlannedQuestion]:
    """Answer every question with Tab, Space and the arrow keys only, ending with the focus on
    the submit button."""
    plan = plan_answers(page, right)
    controls = {c["id"]: c for planned in plan for c in planned.controls}
    wanted = {cid: w for planned in plan for cid, w in planned.wanted.items()}
    groups: dict[str, list[str]] = {}
    for control in controls.values():
        if control["type"] == "radio":
            groups.setdefault(control["name"], []).append(control["id"])
    tab_to(page, page.locator(f'[id="{plan[0].controls[0]["id"]}"]'))
    for _ in range(len(controls) + 1):
        focused = page.evaluate(_FOCUSED)
        assert focused["inForm"], f"the focus left the quiz form: {focused}"
        if focused["tag"] == "BUTTON":
            break
        control = controls[focused["id"]]
        if control["type"] == "radio":
            # Tab enters a group at one radio; the arrows move and select, wrapping around.
            group = groups[control["name"]]
            target = next(cid for cid in group if wanted[cid])
            steps = (group.index(target) - group.index(control["id"])) % len(group)
            if steps == 0:
                page.keyboard.press("Space")
            for _ in range(steps):
                page.keyboard.press("ArrowDown")
            expect(page.locator(f'[id="{target}"]')).to_be_checked()
        elif control["type"] == "checkbox":
            if wanted[control["id"]]:
                page.keyboard.press("Space")
                expect(page.locator(f'[id="{control["id"]}"]')).to_be_checked()
        else:
            steps = control["options"].index(wanted[control["id"]]) - focused["selected"]
            for _ in range(abs(steps)):
                page.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
            expect(page.locator(f'[id="{control["id"]}"] option:checked')).to_have_text(
                wanted[control["id"]]
            )
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Submit my answers")).to_be_focused()
    assert_form_holds(page, plan)
    return plan


def start_final_quiz(page: Page, base_url: str) -> str:
    """From the final quiz page: acknowledge the notice if asked, start (or retake, or resume);
    returns the attempt's path."""
    page.goto(f"{base_url}{FINAL}")
    acknowledge = page.get_by_role("button", name="I understand: this is for education only")
    if acknowledge.count():
        acknowledge.click()
    page.get_by_role("button", name=re.compile(r"^(Start|Retake) the quiz$")).or_(
        page.get_by_role("link", name="Resume your attempt")
    ).click()
    page.wait_for_url(ATTEMPT_URL)
    return page.url.removeprefix(base_url)


def take_final_quiz(page: Page, base_url: str, right: bool) -> str:
    """Start an attempt, answer everything right or wrong and submit; returns its path."""
    path = start_final_quiz(page, base_url)
    answer_with_the_mouse(page, right)
    page.get_by_role("button", name="Submit my answers").click()
    expect(page.locator(".lead .badge")).to_have_text("Passed" if right else "Not passed")
    return path


def claim_certificate(page: Page, base_url: str, attempt_path: str, name: str) -> str:
    """Claim the certificate of a passed attempt under `name`; returns its code."""
    attempt_id = ATTEMPT_URL.search(attempt_path).group(1)
    page.goto(f"{base_url}/certificates/claim/{attempt_id}")
    page.get_by_label("Name to print on the certificate").fill(name)
    page.get_by_role("button", name="Issue my certificate").click()
    page.wait_for_url(re.compile(r"/certificates/[0-9A-Z-]{32}$"))
    return page.url.rsplit("/", 1)[-1]


# --- Instructors and cohorts -------------------------------------------------------------

COHORT_PATH = re.compile(r"/instructor/cohorts/(\d+)$")


@cache
def lesson_title() -> str:
    content = load_content(ROOT / "lessons", ROOT / "quizzes")
    return content.lessons[LESSON.rsplit("/", 1)[-1]].title


def create_account(server: LiveServer, email: str, name: str, role: str) -> None:
    """An instructor or admin account, made as an operator does: with the flask CLI."""
    server.flask(
        "users",
        "create",
        "--email",
        email,
        "--name",
        name,
        "--role",
        role,
        "--password",
        PASSWORD,
    )


@dataclass(frozen=True)
class CreatedCohort:
    id: int
    name: str
    code: str
    join_url: str
    dashboard: str  # its path


def create_cohort(page: Page, base_url: str, name: str, session_date: str) -> CreatedCohort:
    """As a logged-in instructor: create a cohort for the lesson through the form on the
    instructor's page; ends on its dashboard."""
    if page.url.partition("#")[0] != f"{base_url}/instructor/":
        page.goto(f"{base_url}/instructor/")
    page.get_by_label("Cohort name").fill(name)
    page.get_by_label("Class session date").fill(session_date)
    page.get_by_label("Lesson").select_option(label=lesson_title())
    page.get_by_role("button", name="Create the cohort").click()
    page.wait_for_url(COHORT_PATH)
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    codes = page.locator("main p .code")
    code, join_url = codes.nth(0).inner_text(), codes.nth(1).inner_text()
    return CreatedCohort(
        id=int(COHORT_PATH.search(page.url).group(1)),
        name=name,
        code=code,
        join_url=join_url,
        dashboard=page.url.removeprefix(base_url),
    )


def join_by_link(page: Page, base_url: str, cohort: CreatedCohort) -> None:
    """As a logged-in learner: follow the instructor's join link and confirm."""
    page.goto(cohort.join_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join {cohort.name}")
    expect(page.locator("main")).to_contain_text(
        "Its instructors will see your progress and your e-mail"
    )
    page.get_by_role("button", name="Join this cohort").click()
    wait_for_path(page, f"{base_url}/cohorts/")
    expect(page.get_by_role("status")).to_have_text(f"You joined {cohort.name}.")
