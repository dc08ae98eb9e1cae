"""Certificate review and verification in a real browser (issue 20): an instructor revokes a
learner's certificate after a confirmation page, the learner passes again but cannot be
certified, the instructor lifts the block, reinstates the certificate and reissues it with a
corrected name; then the genuine, an altered, the superseded and a revoked file are uploaded
to the public verify page, and an unknown and an ill-formed code are looked up.

Everything is found by label and role; axe-core checks every page on the way."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader

from learnapp.certificates import new_code
from tests.browser.helpers import (
    ATTEMPT_URL,
    SECTIONS,
    TEACH,
    claim_certificate,
    create_account,
    create_cohort,
    join_by_link,
    log_in,
    mark_sections_read,
    register,
    take_final_quiz,
    unique_email,
    wait_for_path,
)

pytestmark = pytest.mark.browser

TEACHER = "Ines Instructor"
MISSPELT = "Ada Lerner"  # the name the learner first gives
NAME = "Ada Learner"  # the instructor's correction
REVOKE_REASON = "Requirements not met"
REVOKE_NOTE = "Shared an account with another learner."
UNBLOCK_REASON = "Requirements now met"
UNBLOCK_NOTE = "Retook the quiz under supervision."
REINSTATE_REASON = "Revoked in error"
REINSTATE_NOTE = "The shared account was someone else's."
SECOND_REASON = "Issued in error"
SECOND_NOTE = "Issued for the wrong course run."
PRIVATE = (REVOKE_NOTE, UNBLOCK_NOTE, REINSTATE_NOTE, SECOND_NOTE)
BLOCKED = (
    "Your earlier certificate for this lesson was revoked, so no new one can be issued until"
    " your instructor has reviewed it."
)
LOG_CAPTION = "Every change to this certificate, oldest first"
ANY_TIME = re.compile(r"\d")  # the log's "When" column


@pytest.fixture(scope="module")
def instructor(live_server) -> str:
    """The e-mail of an instructor account in the live server's database."""
    email = unique_email("reviewer")
    create_account(live_server, email, TEACHER, "instructor")
    return email


# --- Finding things --------------------------------------------------------------------------


def fact(scope: Page | Locator, term: str) -> Locator:
    """The definition of a term in a description list (Name, Status, Code, ...)."""
    return (
        scope.get_by_role("term")
        .filter(has_text=re.compile(rf"^\s*{re.escape(term)}\s*$"))
        .locator("xpath=following-sibling::dd[1]")
    )


def region(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name, exact=True)


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def expect_history(page: Page, *changes: tuple[str, str, str]) -> None:
    """The certificate's log, oldest first: each row's change, public reason and private
    note, all made by the instructor."""
    table = region(page, "History").get_by_role("table", name=LOG_CAPTION)
    rows = table.get_by_role("row")
    expect(rows).to_have_count(len(changes) + 1)  # and the header row
    for index, (change, reason, note) in enumerate(changes, start=1):
        expect(rows.nth(index).get_by_role("cell")).to_have_text(
            [ANY_TIME, change, TEACHER, reason, note]
        )


def expect_private_notes_absent(page: Page) -> None:
    main = page.get_by_role("main")
    for note in PRIVATE:
        expect(main).not_to_contain_text(note)


# --- Acting --------------------------------------------------------------------------------


def download_pdf(page: Page) -> bytes:
    """Download the PDF from the certificate's page."""
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the PDF").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    path = download.path()
    assert path is not None, download.failure()
    data = path.read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    return data


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def with_a_byte_changed(pdf: bytes) -> bytes:
    """One byte changed in the middle of the page's content stream, as tests/test_verify.py
    alters a certificate: the file is no longer the one issued, and its QR code (a stream of
    its own) still names the code."""
    number = PdfReader(io.BytesIO(pdf)).pages[0].raw_get("/Contents").idnum
    start = pdf.index(b"stream", pdf.index(b"\n%d 0 obj" % number)) + len(b"stream\n")
    end = pdf.index(b"endstream", start)
    changed = bytearray(pdf)
    changed[(start + end) // 2] ^= 0x55
    return bytes(changed)


def upload(page: Page, base: str, data: bytes, name: str) -> None:
    """Check a file on the public verify page; waits for the verdict's page."""
    page.goto(f"{base}/verify/")
    page.get_by_label("Certificate PDF").set_input_files(
        files=[{"name": name, "mimeType": "application/pdf", "buffer": data}]
    )
    page.get_by_role("button", name="Check this file").click()
    wait_for_path(page, f"{base}/verify/upload")


def revoke(page: Page, base: str, code: str, reason: str, note: str, name_shown: str) -> None:
    """From the certificate's page: fill the revoke form, which first shows what the public
    will see (checked here, with axe) and changes nothing; the caller confirms."""
    form = region(page, "Revoke")
    form.get_by_label("Public reason").select_option(reason)
    form.get_by_label("Private note (optional)").fill(note)
    form.get_by_role("button", name="Revoke this certificate…").click()
    wait_for_path(page, f"{base}/certificates/{code}/revoke")
    expect(heading(page)).to_have_text("Revoke this certificate?")
    expect(page.get_by_text("Nothing has changed yet.")).to_be_visible()
    preview = region(page, "The public verification page will show")
    expect(preview.get_by_text("Revoked.")).to_be_visible()
    expect(fact(preview, "Reason")).to_have_text(reason)
    expect(fact(preview, "Name")).to_have_text(name_shown)
    expect(fact(preview, "Code")).to_have_text(code)
    expect(preview).not_to_contain_text(note)
    expect(page.get_by_text("Your private note stays private")).to_be_visible()
    expect(page.get_by_role("button", name="Yes, revoke this certificate")).to_be_visible()
    expect(page.get_by_role("link", name="Cancel, keep it valid")).to_be_visible()


def confirm_revocation(page: Page, base: str, code: str) -> None:
    page.get_by_role("button", name="Yes, revoke this certificate").click()
    wait_for_path(page, f"{base}/certificates/{code}")
    expect(page.get_by_role("status")).to_have_text(
        "The certificate is revoked, and the learner cannot be certified for this lesson"
        " again until the block is lifted."
    )
    expect(fact(page, "Status")).to_have_text("Revoked")


# --- The walk --------------------------------------------------------------------------------


def test_revoke_block_unblock_reinstate_reissue_then_verify_every_kind_of_file(
    new_page: Callable[..., Page], live_server: Any, instructor: str, axe: Callable[[Page], None]
) -> None:
    base = live_server.url
    options = {"bypass_csp": True}  # axe-core is injected as inline script

    teacher = new_page(**options)
    log_in(teacher, base, instructor, lands_on=TEACH)
    cohort = create_cohort(teacher, base, "Certificate review class", "2031-06-02")

    # 1. The learner joins the cohort, reads, passes and claims under a misspelt name.
    learner = new_page(**options)
    register(learner, base, unique_email("reviewed"), name=MISSPELT)
    join_by_link(learner, base, cohort)
    mark_sections_read(learner, base, len(SECTIONS))
    passed = take_final_quiz(learner, base, right=True)
    code = claim_certificate(learner, base, passed, MISSPELT)
    certificate_page = f"{base}/certificates/{code}"
    expect(learner.get_by_role("status")).to_have_text("Your certificate is ready.")
    first_revision = download_pdf(learner)
    assert MISSPELT in pdf_text(first_revision)

    # 2. The instructor revokes: a confirmation page first, on which nothing has changed.
    teacher.goto(certificate_page)
    expect(heading(teacher)).to_have_text("Certificate of completion")
    expect(fact(teacher, "Status")).to_have_text("Valid")
    expect(fact(teacher, "Name")).to_have_text(MISSPELT)
    expect(region(teacher, "History")).to_have_count(0)  # nothing has happened to it yet
    axe(teacher)
    revoke(teacher, base, code, REVOKE_REASON, REVOKE_NOTE, MISSPELT)
    axe(teacher)

    public = new_page(**options)
    public.goto(f"{base}/verify/{code}")
    expect(heading(public)).to_have_text("Valid")  # not revoked until confirmed
    expect(public.get_by_text("This certificate is genuine and valid.")).to_be_visible()
    axe(public)
    learner.reload()
    expect(fact(learner, "Status")).to_have_text("Valid")

    confirm_revocation(teacher, base, code)
    expect(fact(teacher, "Public reason")).to_have_text(REVOKE_REASON)
    expect(fact(teacher, "Private note")).to_have_text(REVOKE_NOTE)
    expect(fact(teacher, "Revoked by")).to_contain_text(TEACHER)
    block = region(teacher, "Certification block")
    expect(block).to_contain_text(
        "no new certificate for this lesson can be issued to the learner until an instructor"
        " or admin lifts the block."
    )
    expect(region(teacher, "Reinstate")).to_be_visible()
    expect(region(teacher, "Revoke")).to_have_count(0)
    expect_history(
        teacher,
        ("Revoked", REVOKE_REASON, REVOKE_NOTE),
        ("Certification blocked", REVOKE_REASON, ""),
    )
    axe(teacher)

    # What the holder sees now: revoked, blocked, and no one's private note.
    learner.reload()
    expect(fact(learner, "Status")).to_have_text("Revoked")
    expect(fact(learner, "Public reason")).to_have_text(REVOKE_REASON)
    expect(region(learner, "Certification block")).to_contain_text("issued to you")
    expect(region(learner, "History")).to_have_count(0)
    expect(region(learner, "Revoke")).to_have_count(0)
    expect(region(learner, "Reinstate")).to_have_count(0)
    expect_private_notes_absent(learner)
    axe(learner)

    # 3. The learner passes again, and is told that the block keeps a certificate back.
    retake = take_final_quiz(learner, base, right=True)
    expect(learner.get_by_text(BLOCKED)).to_be_visible()
    expect(learner.get_by_role("link", name="Get your certificate")).to_have_count(0)
    expect(learner.get_by_role("link", name="Your certificate")).to_have_count(0)
    axe(learner)

    retake_id = ATTEMPT_URL.search(retake).group(1)
    claim_page = f"{base}/certificates/claim/{retake_id}"
    learner.goto(claim_page)
    expect(heading(learner)).to_have_text("Your certificate")
    expect(learner.get_by_text(BLOCKED)).to_be_visible()
    expect(learner.get_by_label("Name to print on the certificate")).to_have_count(0)
    expect(learner.get_by_role("button", name="Issue my certificate")).to_have_count(0)
    expect(learner.get_by_role("link", name="Your certificates")).to_be_visible()
    axe(learner)

    # 4. The instructor lifts the block, then reinstates the certificate.
    teacher.goto(certificate_page)
    block = region(teacher, "Certification block")
    block.get_by_label("Public reason").select_option(UNBLOCK_REASON)
    block.get_by_label("Private note (optional)").fill(UNBLOCK_NOTE)
    block.get_by_role("button", name="Lift the block").click()
    expect(teacher.get_by_role("status")).to_have_text(
        "The block is lifted: the learner can be certified for this lesson again."
    )
    expect(region(teacher, "Certification block")).to_have_count(0)
    expect(fact(teacher, "Status")).to_have_text("Revoked")  # lifting the block is not reinstating

    learner.goto(claim_page)  # the retake could be certified now
    expect(learner.get_by_label("Name to print on the certificate")).to_be_visible()
    expect(learner.get_by_text(BLOCKED)).to_have_count(0)

    reinstate = region(teacher, "Reinstate")
    reinstate.get_by_label("Public reason").select_option(REINSTATE_REASON)
    reinstate.get_by_label("Private note (optional)").fill(REINSTATE_NOTE)
    reinstate.get_by_role("button", name="Reinstate this certificate").click()
    expect(teacher.get_by_role("status")).to_have_text("The certificate is valid again.")
    expect(fact(teacher, "Status")).to_have_text("Valid")
    expect(fact(teacher, "Public reason")).to_have_count(0)
    expect(fact(teacher, "Private note")).to_have_count(0)
    expect(region(teacher, "Revoke")).to_be_visible()
    expect(region(teacher, "Reinstate")).to_have_count(0)
    expect_history(
        teacher,
        ("Revoked", REVOKE_REASON, REVOKE_NOTE),
        ("Certification blocked", REVOKE_REASON, ""),
        ("Block lifted", UNBLOCK_REASON, UNBLOCK_NOTE),
        ("Reinstated", REINSTATE_REASON, REINSTATE_NOTE),
    )
    axe(teacher)

    # 5. The instructor corrects the name: a second revision supersedes the first.
    correct = region(teacher, "Correct the name")
    name = correct.get_by_label("Corrected name")
    expect(name).to_have_value(MISSPELT)
    name.fill(NAME)
    correct.get_by_role("button", name="Reissue with this name").click()
    expect(teacher.get_by_role("status")).to_have_text(
        "The certificate was reissued with the corrected name; the learner's later"
        " certificates will use it too."
    )
    expect(fact(teacher, "Name")).to_have_text(NAME)
    expect(fact(teacher, "Code")).to_have_text(f"{code} (revision 2)")
    expect(fact(teacher, "Status")).to_have_text("Valid")
    expect_history(
        teacher,
        ("Revoked", REVOKE_REASON, REVOKE_NOTE),
        ("Certification blocked", REVOKE_REASON, ""),
        ("Block lifted", UNBLOCK_REASON, UNBLOCK_NOTE),
        ("Reinstated", REINSTATE_REASON, REINSTATE_NOTE),
        (f"Reissued: {MISSPELT} → {NAME}", "", ""),
    )
    axe(teacher)
    current = download_pdf(teacher)
    assert current != first_revision
    assert NAME in pdf_text(current) and MISSPELT not in pdf_text(current)

    # 6. The files on the public verify page: the genuine current one is valid.
    upload(public, base, current, f"certificate-{code}.pdf")
    expect(heading(public)).to_have_text("Valid")
    expect(
        public.get_by_text(
            "This file is exactly a certificate issued here, and the certificate is valid."
        )
    ).to_be_visible()
    expect(fact(public, "Status")).to_have_text("Valid")
    expect(fact(public, "Name")).to_have_text(NAME)
    expect(fact(public, "Code")).to_have_text(f"{code} (revision 2)")
    expect(fact(public, "Reinstated")).to_contain_text(f"after a revocation: {REINSTATE_REASON}")
    expect_private_notes_absent(public)
    axe(public)

    # An altered copy: "Altered file" first, then the certificate as issued and its status.
    upload(public, base, with_a_byte_changed(current), "altered.pdf")
    expect(public.get_by_role("heading").first).to_have_text("Altered file")
    expect(heading(public)).to_have_text("Altered file")
    expect(
        public.get_by_text(f"This file is not the one issued here with the code {code}")
    ).to_be_visible()
    expect(public.get_by_role("heading", level=2)).to_have_text(
        "The certificate issued with this code: Valid"
    )
    expect(fact(public, "Status")).to_have_text("Valid")
    expect(fact(public, "Name")).to_have_text(NAME)
    expect(fact(public, "Code")).to_have_text(f"{code} (revision 2)")
    expect(public.get_by_text("exactly a certificate issued here")).to_have_count(0)
    axe(public)

    # The first revision's file: superseded, and the current revision shown instead.
    upload(public, base, first_revision, f"certificate-{code}.pdf")
    expect(heading(public)).to_have_text("Superseded")
    expect(
        public.get_by_text(
            "This file is an earlier revision of a certificate issued here, since corrected"
        )
    ).to_be_visible()
    expect(fact(public, "This file")).to_have_text("Superseded by a corrected revision")
    expect(public.get_by_role("heading", level=2)).to_have_text("The current revision")
    expect(fact(public, "Status")).to_have_text("Valid")
    expect(fact(public, "Name")).to_have_text(NAME)
    expect(fact(public, "Code")).to_have_text(f"{code} (revision 2)")
    expect(public.get_by_role("main")).not_to_contain_text(MISSPELT)
    axe(public)

    # A code never issued, typed as people type it: its own answer, not a generic 404.
    unknown = new_code()
    public.goto(f"{base}/verify/")
    public.get_by_label("Certificate code").fill(unknown.replace("-", " ").lower())
    with public.expect_response(f"{base}/verify/{unknown}") as looked_up:
        public.get_by_role("button", name="Check the code").click()
    assert looked_up.value.status == 404
    wait_for_path(public, f"{base}/verify/{unknown}")
    expect(heading(public)).to_have_text("Unknown")
    expect(
        public.get_by_text(
            f"No certificate with the code {unknown} was issued here."
            " Check the code for typing mistakes."
        )
    ).to_be_visible()
    expect(public.get_by_role("link", name="Check another certificate")).to_be_visible()
    axe(public)

    # Something that cannot be a code at all: said so, with the code form to try again.
    response = public.goto(f"{base}/verify/NOTACODE")
    assert response is not None and response.status == 404
    expect(heading(public)).to_have_text("Unknown")
    expect(
        public.get_by_text("No certificate has the code “NOTACODE”: that is not a certificate code")
    ).to_be_visible()
    expect(public.get_by_role("heading", name="Check a code")).to_be_visible()
    expect(public.get_by_label("Certificate code")).to_have_value("NOTACODE")
    expect(public.get_by_role("button", name="Check the code")).to_be_visible()
    axe(public)

    # 7. Revoked again, for good this time: its file, downloaded after, reads Revoked.
    teacher.goto(certificate_page)
    revoke(teacher, base, code, SECOND_REASON, SECOND_NOTE, NAME)
    confirm_revocation(teacher, base, code)
    expect_history(
        teacher,
        ("Revoked", REVOKE_REASON, REVOKE_NOTE),
        ("Certification blocked", REVOKE_REASON, ""),
        ("Block lifted", UNBLOCK_REASON, UNBLOCK_NOTE),
        ("Reinstated", REINSTATE_REASON, REINSTATE_NOTE),
        (f"Reissued: {MISSPELT} → {NAME}", "", ""),
        ("Revoked", SECOND_REASON, SECOND_NOTE),
        ("Certification blocked", SECOND_REASON, ""),
    )
    revoked = download_pdf(teacher)
    assert revoked == current  # a revocation changes the record, not the file

    upload(public, base, revoked, f"certificate-{code}.pdf")
    expect(heading(public)).to_have_text("Revoked")
    expect(
        public.get_by_text(
            "This file is exactly a certificate issued here, but the certificate was revoked:"
            " it is no longer valid."
        )
    ).to_be_visible()
    expect(fact(public, "Status")).to_have_text("Revoked")
    expect(fact(public, "Reason")).to_have_text(SECOND_REASON)
    expect(fact(public, "Name")).to_have_text(NAME)
    expect(fact(public, "Reinstated")).to_have_count(0)
    expect_private_notes_absent(public)
    axe(public)

    # A revocation covers every revision: the superseded file no longer verifies either.
    upload(public, base, first_revision, f"certificate-{code}.pdf")
    expect(heading(public)).to_have_text("Revoked")
    public.goto(f"{base}/verify/{code}")
    expect(heading(public)).to_have_text("Revoked")
    expect(
        public.get_by_text("This certificate was revoked and is no longer valid.")
    ).to_be_visible()
    expect(fact(public, "Reason")).to_have_text(SECOND_REASON)
    expect_private_notes_absent(public)
    axe(public)
