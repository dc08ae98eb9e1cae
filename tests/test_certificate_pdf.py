"""The certificate PDF as a printed document: what it says (pypdf), a QR code that a scanner
reads (zbarimg, from pdftoppm's 150 dpi render) and a phone can (its printed size and quiet
zone), and a balanced page (a 50 dpi render: no empty third, nothing crammed, nothing past
the frame). zbarimg and pdftoppm are Debian packages (zbar-tools, poppler-utils): without one
a test skips, saying which; under CI (CI=true, as .ci/run sets) it fails instead."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
import segno
from PIL import Image

from learnapp import certificate_pdf, certificates, create_app
from learnapp import config as configuration
from learnapp.models import Certificate
from tests.fonts import in_ci, require_fonts_for
from tests.test_certificates import compact, issue, pdf_text, stored

ORGANISATION = "Red Valley First Aid"
PUBLIC_URL = "https://learn.example.org"
ADDRESS = ["12 Example Street", "Red Valley RV1 2AB"]
MM_PER_INCH = 25.4
PT_PER_MM = 72 / MM_PER_INCH
PAGE_MARGIN_MM = 12  # certificate.css: @page


def require_tool(command: str, package: str) -> None:
    if shutil.which(command):
        return
    reason = f"{command} is missing: sudo apt-get install {package}"
    if in_ci():
        pytest.fail(f"{reason} (under CI a missing tool is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def page_image(pdf: bytes, dpi: int, tmp_path: Path, extension: str = "png") -> Path:
    """The page as pdftoppm renders it, in grey: `png`, or `pgm` (pdftoppm's own format)."""
    require_tool("pdftoppm", "poppler-utils")
    pdf_path = tmp_path / "certificate.pdf"
    pdf_path.write_bytes(pdf)
    root = tmp_path / "page"
    command = ["pdftoppm", "-r", str(dpi), "-gray", "-singlefile", pdf_path, root]
    if extension == "png":
        command.insert(1, "-png")
    # The system's tool, found on PATH as require_tool found it; the arguments are ours.
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    return root.with_suffix(f".{extension}")


def scanned(image: Path) -> list[str]:
    """What zbarimg reads in the image: one line per code found."""
    require_tool("zbarimg", "zbar-tools")
    command = ["zbarimg", "--quiet", "--raw", image]
    result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 (as above)
    assert result.returncode in (0, 4), result.stderr  # 4: no code found
    return result.stdout.splitlines()


# --- Rendering alone: an app without a database --------------------------------------------


@pytest.fixture
def settings() -> dict[str, Any]:
    """Per-test configuration: override with `@pytest.mark.parametrize("settings", [...])`."""
    return {}


@pytest.fixture
def renderer(settings, tmp_path, monkeypatch):
    """An app that only renders certificates: no database is opened."""
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "test-secret",
            "PUBLIC_URL": PUBLIC_URL,
            "ORGANISATION": ORGANISATION,
            **settings,
        }
    )
    with app.test_request_context("/"):
        yield app


def certificate(**changes: Any) -> Certificate:
    """A certificate as issued (not stored): what fields_of reads from the row."""
    issued_at = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    values = {
        "code": certificates.new_code(),
        "revision": 1,
        "lesson": "spinal-muscle-spasm",
        "lesson_title": "Spinal muscle spasm: what are the causes?",
        "name": "Siobhán O'Sullivan",
        "score_percent": 87.5,
        "content_version": "8ff3ff3038cb",
        "organisation": ORGANISATION,
        "issued_at": issued_at,
        "valid_until": certificates.add_years(issued_at, 3),
        "course_minutes": 22,
    }
    return Certificate(**{**values, **changes})


def rendered(row: Certificate, **fields: Any) -> bytes:
    url = certificate_pdf.verification_url(row.code)
    return certificate_pdf.render({**certificate_pdf.fields_of(row, url), **fields})


# --- The duration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "printed"),
    [
        (None, None),  # issued before lengths were recorded: nothing printed
        (0, None),
        (1, "5 min"),
        (5, "5 min"),
        (22, "25 min"),
        (45, "45 min"),
        (56, "1 h"),
        (60, "1 h"),
        (61, "1 h 05 min"),
        (65, "1 h 05 min"),
        (119, "2 h"),
        (121, "2 h 05 min"),
        (150, "2 h 30 min"),
    ],
)
def test_the_duration_is_rounded_up_to_five_minutes(minutes, printed):
    assert certificate_pdf.duration_text(minutes) == printed


def test_a_certificate_without_a_recorded_length_prints_no_duration(renderer):
    text = pdf_text(rendered(certificate(course_minutes=None)))
    assert "duration" not in text.lower()
    assert "Score 87.5%" in text


# --- What an issued certificate says -------------------------------------------------------


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "ORGANISATION": ORGANISATION,
        "PUBLIC_URL": PUBLIC_URL,
        "ISSUER_ADDRESS": "\n".join(ADDRESS),
    }


def test_an_issued_certificate_states_duration_and_issuer_not_content_version(
    client, learner, db, app
):
    code = issue(client, db, app.extensions["learnapp.content"])
    row = stored(db, code)
    lesson = app.extensions["learnapp.content"].lessons[row.lesson]
    assert row.course_minutes == lesson.minutes
    text = pdf_text(row.pdf)
    assert f"Course duration {certificate_pdf.duration_text(lesson.minutes)}" in text
    assert " · ".join(ADDRESS) in text  # the letterhead, under the issuer's name
    assert "For the issuing organisation" in text  # the signature block's default
    assert text.count(ORGANISATION) == 1 and ORGANISATION.upper() in text  # and in capitals
    # The content version is the verify page's detail, not the learner's.
    assert "Content version" not in text
    assert row.content_version not in compact(text)


def test_the_qr_code_of_an_issued_certificate_scans_at_150_dpi(client, learner, db, app, tmp_path):
    code = issue(client, db, app.extensions["learnapp.content"])
    scan = page_image(stored(db, code).pdf, 150, tmp_path, "pgm")
    assert scanned(scan) == [f"{PUBLIC_URL}/verify/{code}"]


# --- The issuer, as configured -------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {
            "ISSUER_ADDRESS": "12 Example Street\n\n  Red Valley RV1 2AB  \n",
            "ISSUER_SIGNATORY": "A. Person\nDirector",
        },
        # As LEARNAPP_ISSUER_ADDRESS='["12 Example Street", ...]' decodes: a list of lines.
        configuration.from_environment(
            {
                "LEARNAPP_ISSUER_ADDRESS": '["12 Example Street", "Red Valley RV1 2AB"]',
                "LEARNAPP_ISSUER_SIGNATORY": '["A. Person", "Director"]',
            }
        ),
    ],
    ids=["newlines", "json-list"],
)
def test_the_address_and_signatory_are_lines_of_text_or_a_list(renderer):
    fields = certificate_pdf.fields_of(certificate(), "https://x.invalid/verify/x")
    assert fields["issuer_address"] == ADDRESS
    assert fields["signatory"] == ["A. Person", "Director"]
    text = pdf_text(certificate_pdf.render(fields))
    assert " · ".join(ADDRESS) in text
    assert "A. Person\nDirector" in text


def test_an_assessor_signs_beside_the_issuer_only_when_given(renderer):
    row = certificate()
    assert certificate_pdf.fields_of(row, "https://x.invalid/")["assessor"] is None
    assert "Assessor" not in pdf_text(rendered(row))
    text = pdf_text(rendered(row, assessor="Dr Abi Assessor"))
    assert "Dr Abi Assessor\nAssessor" in text
    assert f"For the issuing organisation\n{ORGANISATION}" in text


@pytest.fixture
def fetched(monkeypatch) -> list[str]:
    """The addresses the renderer asked its fetcher for (the QR code's data aside)."""
    urls: list[str] = []
    make = certificate_pdf._fetcher

    def recording(static_dir):
        fetcher = make(static_dir)
        fetch = fetcher.fetch

        def record(url, headers=None):
            if not url.startswith(certificate_pdf.QR_DATA_URI):
                urls.append(url)
            return fetch(url, headers)

        fetcher.fetch = record
        return fetcher

    monkeypatch.setattr(certificate_pdf, "_fetcher", recording)
    return urls


def test_the_logo_is_the_configured_static_file(renderer, fetched):
    rendered(certificate())
    assert fetched == [f"{certificate_pdf.STATIC_BASE}img/issuer-logo.svg"]
    assert (Path(renderer.static_folder) / "img" / "issuer-logo.svg").is_file()


@pytest.mark.parametrize(
    "settings",
    [{"ISSUER_LOGO": ""}, {"ISSUER_LOGO": None}, {"ISSUER_LOGO": "file:///etc/passwd"}],
    ids=["empty", "none", "file-url"],
)
def test_without_a_usable_logo_the_certificate_prints_without_one(renderer, fetched):
    pdf = rendered(certificate())
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1
    # Only the refused address, if any, was asked for: the fetcher serves nothing but static/.
    assert all(url == "file:///etc/passwd" for url in fetched)
    assert "root:" not in pdf_text(pdf)


@pytest.mark.parametrize(
    ("logo", "refused"),
    [
        ("img/issuer-logo.svg", False),
        ("", False),
        ("img/missing.png", True),
        ("../../pyproject.toml", True),  # a file, but not a static one
        ("https://example.org/logo.png", True),
    ],
)
def test_production_refuses_a_logo_that_is_not_a_static_file(logo, refused):
    problems = configuration.production_problems({"ISSUER_LOGO": logo})
    assert any("LEARNAPP_ISSUER_LOGO" in problem for problem in problems) is refused


# --- The QR code, as printed ---------------------------------------------------------------


@pytest.mark.parametrize(
    "settings", [{"CERTIFICATE_PAGE_SIZE": "A4"}, {"CERTIFICATE_PAGE_SIZE": "Letter"}]
)
def test_the_qr_code_is_printed_large_enough_for_a_phone_with_its_quiet_zone(renderer, tmp_path):
    row = certificate()
    pdf = rendered(row)
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    placed = []

    def drawn(operator, operands, matrix, _text_matrix):
        if operator == b"Do":  # an image, drawn in the unit square scaled by the matrix
            placed.append(matrix)

    page.extract_text(visitor_operand_before=drawn)
    ((width, _, _, height, x, y),) = placed  # the logo is vector, drawn in the page itself
    (image,) = page.images
    modules = len(segno.make(certificate_pdf.verification_url(row.code), error="m").matrix)
    zone = certificate_pdf.QR_QUIET_ZONE
    pixels = image.image.convert("L")
    assert pixels.size == (modules + 2 * zone,) * 2
    ring = [
        pixels.getpixel((i, j))
        for i in range(pixels.width)
        for j in range(pixels.height)
        if min(i, j) < zone or max(i, j) >= modules + zone
    ]
    assert min(ring) == 255  # four white modules all round, drawn in the image itself
    assert width == height
    code_mm = width / PT_PER_MM * modules / (modules + 2 * zone)
    assert code_mm >= 25, f"the code is {code_mm:.1f} mm wide"
    # Inside the page's margins, so that a printer draws it all.
    margin = PAGE_MARGIN_MM * PT_PER_MM - 0.5
    assert x >= margin and y >= margin
    assert x + width <= float(page.mediabox.width) - margin
    # And it scans from the 150 dpi render.
    assert scanned(page_image(pdf, 150, tmp_path, "pgm")) == [f"{PUBLIC_URL}/verify/{row.code}"]


# --- A balanced page -----------------------------------------------------------------------

LAYOUT_DPI = 50
# Inside the frame: the page's margin, then the frame's border (about 1 mm) and a little.
INSET_MM = PAGE_MARGIN_MM + 3


def ink_rows(pdf: bytes, tmp_path: Path) -> tuple[list[bool], list[bool]]:
    """Per pixel row, inside the frame: whether it has dark pixels; and the same for the rows
    of the page's bottom margin."""
    image = Image.open(page_image(pdf, LAYOUT_DPI, tmp_path)).convert("L")
    inset = round(INSET_MM * LAYOUT_DPI / MM_PER_INCH)
    margin = round((PAGE_MARGIN_MM - 2) * LAYOUT_DPI / MM_PER_INCH)

    def inked(top: int, bottom: int, left: int) -> list[bool]:
        pixels = image.crop((left, top, image.width - left, bottom)).load()
        width = image.width - 2 * left
        return [any(pixels[x, y] < 128 for x in range(width)) for y in range(bottom - top)]

    inside = inked(inset, image.height - inset, inset)
    below = inked(image.height - margin, image.height, 0)
    return inside, below


def blank_runs(rows: list[bool]) -> list[int]:
    runs, run = [], 0
    for ink in [*rows, True]:
        if ink:
            if run:
                runs.append(run)
            run = 0
        else:
            run += 1
    return runs


NAMES = {
    "short": "Siobhán O'Sullivan",
    "unbroken latin": "W" * 120,
    "cjk": "王" * 120,
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
@pytest.mark.parametrize(
    "settings",
    [
        {"CERTIFICATE_PAGE_SIZE": "A4", "ISSUER_ADDRESS": ADDRESS},
        {"CERTIFICATE_PAGE_SIZE": "Letter"},
        {"CERTIFICATE_PAGE_SIZE": "A4", "ISSUER_LOGO": ""},
    ],
    ids=["a4", "letter", "a4-no-logo"],
)
def test_the_page_is_balanced_and_not_crammed(renderer, settings, tmp_path, name):
    """The page that was top-heavy had its lowest 38 mm of 180 blank."""
    require_fonts_for(name)
    rows, below = ink_rows(rendered(certificate(name=name)), tmp_path)
    third = len(rows) // 3
    for part, label in enumerate(("top", "middle", "bottom")):
        assert any(rows[part * third : (part + 1) * third]), f"the {label} third is empty"
    gaps = blank_runs(rows)
    # No hole anywhere: the largest gap is a sixth of the height (a fifth without the logo,
    # whose room only partly goes above the issuer's name).
    share = 5 if settings.get("ISSUER_LOGO") == "" else 6
    assert max(gaps) <= len(rows) / share, f"a blank band of {max(gaps)} rows of {len(rows)}"
    # Not crammed: blank room between the lines, and the text clear of the frame.
    assert sum(gaps) >= 0.35 * len(rows)
    assert not rows[0] and not rows[-1]
    # Nothing pushed past the frame into the page's margin.
    assert not any(below)
