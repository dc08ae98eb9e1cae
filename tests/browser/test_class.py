"""Running a class in a real browser (issue 21): the instructor projects the join page; three
learners join, one by the room's short code on a phone, one by the join link before having an
account, one after ten wrong codes; the instructor removes one and archives the cohort.

Every browser comes from 127.0.0.1, as a classroom behind one router does: the learner who
typed ten wrong codes waits, the rest of the room joins all the same, and the join link is
never refused. Everything is found by label and role; axe-core checks every page on the way."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from learnapp.cohorts import ARCHIVED, CODE_ALPHABET
from learnapp.db import long_date
from tests.browser.conftest import LiveServer, serve
from tests.browser.helpers import (
    LESSON,
    TEACH,
    create_account,
    create_cohort,
    log_in,
    mark_sections_read,
    progress_value,
    register,
    unique_email,
    wait_for_path,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

TEACHER = "Ines Instructor"
PHONE_LEARNER = "Pia Phone"  # joins by the short code on a phone
LINK_LEARNER = "Lin Link"  # joins by the link, registering on the way
TYPO_LEARNER = "Tam Typo"  # types ten wrong codes, then joins by the link; removed
COHORT = "Saturday first-aid class"
# A phone: an iPhone 13's screen (390 x 844), with the touch and mobile flags Playwright's
# device descriptors set (its descriptors name webkit; these run in chromium).
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
WRONG_CODES = 10  # JOIN_CODE_FAILURES: "10 per 15 minutes" per account
SHORT_CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")
NO_SUCH_CODE = (
    "No cohort has this code today. Check it with your instructor: a room's code works until"
    " the end of the session's day."
)
TOO_MANY = re.compile(
    r"Too many wrong codes were tried from your account\. Please try the code again in"
    r" \d+ minutes, or use the join link or QR code your instructor shows: it always works\."
)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """conftest's server with one worker: its throttles count in memory://, per worker, so
    with two a learner's ten wrong codes would be split between two counts (production's
    workers share one Redis, which one worker's memory stands for here)."""
    yield from serve(tmp_path_factory, workers=1)


@pytest.fixture(scope="module")
def instructor(live_server: LiveServer) -> str:
    email = unique_email("instructor")
    create_account(live_server, email, TEACHER, "instructor")
    return email


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def region(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name)


def learner_count(page: Page) -> Locator:
    """The dashboard's "3 learners, page 1 of 1." (a status, as a filter's result is)."""
    return page.get_by_role("status").filter(has_text=re.compile(r"^\s*\d+ learners?\b"))


def learner_names(page: Page) -> Locator:
    """The names of the learners listed on the cohort's dashboard, each a link to their page."""
    return region(page, "Learners").get_by_role("rowheader").get_by_role("link")


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def go_to_my_cohorts(page: Page, base: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My cohorts").click()
    wait_for_path(page, f"{base}/cohorts/")
    expect(heading(page)).to_have_text("My cohorts")


def type_code(page: Page, base: str, code: str) -> int:
    """Type a code into "Cohort code" on My cohorts and join; returns the answer's status
    once its page has loaded (a refused code's page is the form again, at the same place)."""
    page.get_by_label("Cohort code").fill(code)
    with (
        page.expect_event("load"),
        page.expect_response(
            lambda response: (
                response.url == f"{base}/cohorts/join" and response.request.method == "POST"
            )
        ) as answer,
    ):
        page.get_by_role("button", name="Join the cohort").click()
    return answer.value.status


def expect_code_refused(page: Page, message: str | re.Pattern[str]) -> None:
    """The field says why, tied to it (aria-describedby), and is marked invalid."""
    field = page.get_by_label("Cohort code")
    expect(field).to_have_attribute("aria-invalid", "true")
    pattern = message if isinstance(message, re.Pattern) else re.compile(re.escape(message))
    expect(field).to_have_accessible_description(pattern)
    expect(page.get_by_text(pattern)).to_be_visible()


def expect_joined(page: Page, base: str) -> None:
    wait_for_path(page, f"{base}/cohorts/")
    expect(page.get_by_role("status")).to_have_text(f"You joined {COHORT}.")
    membership = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=COHORT))
    expect(membership.get_by_role("cell")).to_have_text(
        [long_date(date.today()), TEACHER, f"Leave {COHORT}"]
    )


def wrong_codes(right: str, how_many: int) -> list[str]:
    """Short codes in the right form that are not the room's (nor, here, any cohort's)."""
    codes = [f"WR0NG{number:03d}" for number in range(how_many + 1)]
    return [code for code in codes if code != right.replace("-", "")][:how_many]


def test_a_class_joins_by_code_and_link_then_loses_a_learner_and_is_archived(
    new_page: Callable[..., Page], live_server: LiveServer, instructor: str, axe: Callable
) -> None:
    base = live_server.url
    today = date.today()
    session_day = long_date(today)

    # 1. The instructor lands on Teach, creates today's cohort and projects its join page.
    teacher = new_page(bypass_csp=True, permissions=["clipboard-read", "clipboard-write"])
    log_in(teacher, base, instructor, lands_on=TEACH)
    expect(heading(teacher)).to_have_text("Your cohorts")
    expect(teacher.get_by_label("Class session date")).to_have_value(today.isoformat())
    cohort = create_cohort(teacher, base, COHORT, today.isoformat())
    created = teacher.get_by_role("status").filter(has_text="Cohort created.")
    expect(created).to_have_text(
        re.compile(
            r"Cohort created\. Learners join with the code [0-9A-Z]{4}-[0-9A-Z]{4} on the day,"
            r" or with the join link\. Project the join page for the room\."
        )
    )
    code_announced = created.inner_text()
    teacher.get_by_role("link", name="Show the join page to the room").click()
    wait_for_path(teacher, f"{base}/instructor/cohorts/{cohort.id}/project")
    expect(heading(teacher)).to_have_text(f"Join {COHORT}")

    by_code = region(teacher, "Type the code")
    expect(by_code).to_contain_text(f"Log in at {base}/cohorts/, then type:")
    code_shown = by_code.get_by_text(SHORT_CODE)
    expect(code_shown).to_have_count(1)
    short_code = code_shown.inner_text()
    assert short_code in code_announced  # the code the creation message gave
    until = by_code.get_by_text("The code works until the end of")
    expect(until).to_have_text(f"The code works until the end of {session_day}.")
    size = "element => parseFloat(getComputedStyle(element).fontSize)"
    assert code_shown.evaluate(size) >= 2 * until.evaluate(size), "the code is not large"

    by_link = region(teacher, "Or scan the join link")
    link_shown = by_link.get_by_text(re.compile(r"/cohorts/join/"))
    expect(link_shown).to_have_text(
        re.compile(
            rf"^{re.escape(base)}/cohorts/join/[{CODE_ALPHABET}]{{5}}(-[{CODE_ALPHABET}]{{5}}){{3}}$"
        )
    )
    join_url = link_shown.inner_text()
    assert join_url == cohort.join_url  # the link the dashboard gives
    qr = by_link.get_by_role("img", name="QR code of the join link")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0"), "no QR image"
    # The copy button shows where the browser has a clipboard (this context may write to it).
    copy = by_link.get_by_role("button", name="Copy the join link")
    expect(copy).to_be_visible()
    copy.click()
    expect(by_link.get_by_role("status")).to_have_text("Copied.")
    assert teacher.evaluate("navigator.clipboard.readText()") == join_url
    axe(teacher)

    # 2. The third learner types ten wrong codes: each is refused, saying why.
    typo = new_page(bypass_csp=True)
    typo_email = unique_email("typo")
    register(typo, base, typo_email, name=TYPO_LEARNER)
    go_to_my_cohorts(typo, base)
    for wrong in wrong_codes(short_code, WRONG_CODES):
        assert type_code(typo, base, wrong) == 400, wrong
        expect_code_refused(typo, NO_SUCH_CODE)
    # The eleventh try, with the right code, waits; the message points to the link.
    assert type_code(typo, base, short_code) == 429
    expect_code_refused(typo, TOO_MANY)
    axe(typo)

    # 3. The first learner, on a phone at the same address, types the room's code as heard:
    # in lowercase, a space for the dash. Their account never typed a wrong one: it joins.
    phone = new_page(bypass_csp=True, **PHONE)
    register(phone, base, unique_email("phone"), name=PHONE_LEARNER)
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="My cohorts").tap()
    wait_for_path(phone, f"{base}/cohorts/")
    expect(phone.get_by_text("You are not in any cohort.")).to_be_visible()
    field = phone.get_by_label("Cohort code")
    field.tap()
    field.press_sequentially(short_code.lower().replace("-", " "))
    phone.get_by_role("button", name="Join the cohort").tap()
    expect_joined(phone, base)
    assert fits_the_width(phone), "My cohorts is wider than the phone"
    axe(phone)

    # 4. The second learner has no account: the link leads to login, which names the class.
    newcomer = new_page(bypass_csp=True)
    newcomer.goto(join_url)
    newcomer.wait_for_url(re.compile(r"/auth/login\?"))
    query = parse_qs(urlsplit(newcomer.url).query)
    assert query["next"] == [urlsplit(join_url).path], newcomer.url
    expect(heading(newcomer)).to_have_text("Log in")
    joining = newcomer.get_by_role("note")
    expect(joining).to_contain_text(f"You are joining {COHORT} (class session on {session_day}).")
    axe(newcomer)
    joining.get_by_role("link", name="create an account").click()
    newcomer.wait_for_url(re.compile(r"/auth/register\?"))
    assert parse_qs(urlsplit(newcomer.url).query)["next"] == query["next"], newcomer.url
    expect(heading(newcomer)).to_have_text("Create an account")
    expect(newcomer.get_by_role("note")).to_contain_text(
        f"You are joining {COHORT} (class session on {session_day})."
    )
    axe(newcomer)
    newcomer.get_by_label("Your name").fill(LINK_LEARNER)
    newcomer.get_by_label("E-mail").fill(unique_email("newcomer"))
    newcomer.get_by_label("Password", exact=True).fill(PASSWORD)
    newcomer.get_by_label("Repeat the password").fill(PASSWORD)
    newcomer.get_by_role("button", name="Create my account").click()
    wait_for_path(newcomer, join_url)  # back on the link, now to confirm
    expect(heading(newcomer)).to_have_text(f"Join {COHORT}")
    expect(newcomer.get_by_text(f"Class session on {session_day}.")).to_be_visible()
    expect(newcomer.get_by_role("main")).to_contain_text(
        "Its instructors will see your progress and your e-mail address"
    )
    axe(newcomer)
    newcomer.get_by_role("button", name="Join this cohort").click()
    expect_joined(newcomer, base)

    # 5. The third learner still waits for the code (their own account's wrong tries), but
    # the link is never refused.
    assert type_code(typo, base, short_code) == 429
    expect_code_refused(typo, TOO_MANY)
    typo.goto(join_url)
    expect(heading(typo)).to_have_text(f"Join {COHORT}")
    typo.get_by_role("button", name="Join this cohort").click()
    expect_joined(typo, base)
    mark_sections_read(typo, base, 1)

    # 6. The dashboard lists three; the instructor removes one, after a confirmation page.
    teacher.get_by_role("link", name="Back to the cohort's dashboard").click()
    wait_for_path(teacher, f"{base}{cohort.dashboard}")
    expect(learner_count(teacher)).to_have_text("3 learners, page 1 of 1.")
    expect(learner_names(teacher)).to_have_text([LINK_LEARNER, PHONE_LEARNER, TYPO_LEARNER])
    learner_names(teacher).filter(has_text=TYPO_LEARNER).click()
    teacher.wait_for_url(re.compile(rf"/instructor/cohorts/{cohort.id}/learners/\d+$"))
    expect(heading(teacher)).to_have_text(TYPO_LEARNER)
    teacher.get_by_role("button", name="Remove from the cohort…").click()
    teacher.wait_for_url(re.compile(rf"/instructor/cohorts/{cohort.id}/learners/\d+/remove$"))
    expect(heading(teacher)).to_have_text(f"Remove {TYPO_LEARNER} from {COHORT}?")
    expect(teacher.get_by_text("Nothing has changed yet.")).to_be_visible()
    expect(teacher.get_by_role("main")).to_contain_text(f"{TYPO_LEARNER} ({typo_email})")
    expect(teacher.get_by_role("link", name="Cancel")).to_be_visible()
    axe(teacher)
    teacher.get_by_role("button", name=f"Yes, remove {TYPO_LEARNER}").click()
    wait_for_path(teacher, f"{base}{cohort.dashboard}")
    expect(teacher.get_by_role("status").first).to_have_text(
        f"{TYPO_LEARNER} is no longer in {COHORT}. They keep their own progress and"
        " certificates; the cohort keeps the completion record of any certificate earned in it."
    )
    expect(learner_count(teacher)).to_have_text("2 learners, page 1 of 1.")
    expect(learner_names(teacher)).to_have_text([LINK_LEARNER, PHONE_LEARNER])

    # The removed learner is in no cohort now, and their progress is still theirs.
    go_to_my_cohorts(typo, base)
    expect(typo.get_by_text("You are not in any cohort.")).to_be_visible()
    expect(typo.get_by_role("rowheader", name=COHORT)).to_have_count(0)
    typo.goto(f"{base}{LESSON}/progress")
    expect(heading(typo)).to_have_text("Your progress")
    assert progress_value(typo) == 1

    # 7. The instructor archives the cohort: it leaves Teach's list for the archived one.
    teacher.get_by_role("button", name="Archive this cohort").click()
    wait_for_path(teacher, f"{base}{TEACH}")
    expect(teacher.get_by_role("status")).to_have_text(
        f"{COHORT} is archived: read-only, and listed under Archived cohorts. Its codes no"
        " longer join anyone. You can restore it."
    )
    expect(heading(teacher)).to_have_text("Your cohorts")
    expect(teacher.get_by_role("link", name=COHORT, exact=True)).to_have_count(0)
    expect(teacher.get_by_text("You have no running cohort.")).to_be_visible()
    axe(teacher)
    teacher.get_by_role("link", name="Archived cohorts (1)").click()
    teacher.wait_for_url(re.compile(r"/instructor/\?archived=1$"))
    expect(heading(teacher)).to_have_text("Archived cohorts")
    archived_row = teacher.get_by_role("row").filter(
        has=teacher.get_by_role("rowheader", name=COHORT)
    )
    expect(archived_row.get_by_role("cell")).to_have_text([session_day, "2"])
    axe(teacher)

    # A learner with the link now learns that the cohort is archived, and cannot join it.
    typo.goto(join_url)
    expect(heading(typo)).to_contain_text(COHORT)
    expect(typo.get_by_text(ARCHIVED)).to_be_visible()
    expect(typo.get_by_role("button", name="Join this cohort")).to_have_count(0)
    axe(typo)
