"""Certificates end to end: claiming one per pass, what the PDF says, safe rendering, public
verification by code and by file, revoking, correcting, renewing, and who may see what."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from markupsafe import escape
from sqlalchemy import select

from learnapp import certificate_pdf, certificates
from learnapp.db import utcnow
from learnapp.models import Certificate, Cohort
from tests.conftest import PASSWORD, count_rows, form_errors
from tests.fonts import require_fonts_for
from tests.test_quizzes import (
    FINAL,
    LESSON,
    START,
    all_right,
    all_wrong,
    flashes,
    read_all_sections,
    take_quiz,
)

ORGANISATION = "Red Valley First Aid"
PUBLIC_URL = "https://learn.example.org"
LESSON_TITLE = "Spinal muscle spasm: what are the causes?"
EMAIL = "learner@example.com"


@pytest.fixture
def settings() -> dict[str, Any]:
    """Per-test configuration: override with `@pytest.mark.parametrize("settings", [...])`."""
    return {}


@pytest.fixture
def app_config(app_config, settings):
    return {**app_config, "ORGANISATION": ORGANISATION, "PUBLIC_URL": PUBLIC_URL, **settings}


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


# --- Helpers -----------------------------------------------------------------------------


def login(app, email: str) -> Any:
    """A new client, logged in as `email`."""
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def pass_final(client, db, catalogue, wrong=all_right) -> Any:
    """Read the lesson, accept the notice and submit the final quiz (all right by default)."""
    read_all_sections(client)
    assert client.post(f"{FINAL}/acknowledge").status_code == 302
    return take_quiz(client, db, catalogue, wrong)


def claim(client, attempt_id: int, name: str = "Ada Learner") -> Any:
    return client.post(f"/certificates/claim/{attempt_id}", data={"name": name})


def issue(client, db, catalogue, name: str = "Ada Learner") -> str:
    """Pass and claim; the new certificate's code."""
    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id, name)
    assert response.status_code == 302, response.text
    return response.location.removeprefix("/certificates/")


def stored(db, code: str, revision: int | None = None) -> Certificate:
    """The certificate as committed: its current revision, or the one asked for."""
    db.rollback()
    query = select(Certificate).where(Certificate.code == code)
    if revision is not None:
        query = query.where(Certificate.revision == revision)
    return db.scalars(query.order_by(Certificate.revision.desc())).first()


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))


def compact(text: str) -> str:
    """Without whitespace: the PDF may wrap a long line anywhere."""
    return "".join(text.split())


def upload(client, data: bytes, filename: str = "certificate.pdf") -> Any:
    return client.post(
        "/verify/upload",
        data={"pdf": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


# East of UTC by 14 hours or west by 11: one of them is on another day than UTC right now.
AWAY = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 11 else "Pacific/Pago_Pago"


def written_day(moment) -> str:
    # As the certificate, the pages and the messages write a day: "1 December 2026".
    return f"{moment.day} {moment:%B %Y}"


@pytest.fixture
def issued(client, learner, db, catalogue) -> SimpleNamespace:
    """The logged-in learner passed and claimed a certificate."""
    code = issue(client, db, catalogue)
    return SimpleNamespace(user=learner, code=code)


@pytest.fixture
def people(app, client, learner, create_user, db, catalogue) -> SimpleNamespace:
    """Around the learner's certificate, earned in their cohort: its instructor, an
    instructor of another cohort, an admin and another learner, each with a logged-in
    client. Cohorts are created and joined through the pages."""
    teacher = create_user(email="teach@example.com", name="Tess Teacher", role="instructor")
    other_teacher = create_user(email="other@example.com", name="Otto Other", role="instructor")
    admin = create_user(email="admin@example.com", name="Ann Admin", role="admin")
    create_user(email="peer@example.com", name="Pat Peer")
    clients = {
        "teacher": login(app, teacher.email),
        "other_teacher": login(app, other_teacher.email),
        "admin": login(app, admin.email),
        "peer": login(app, "peer@example.com"),
    }
    cohort = {"session_date": "2025-03-04", "lesson": LESSON}
    for who in ("teacher", "other_teacher"):
        response = clients[who].post("/instructor/cohorts", data={**cohort, "name": who})
        assert response.status_code == 302
        clients[who].get(response.location)  # shows (and so clears) the "created" message
    db.rollback()
    join_code = db.scalar(select(Cohort.join_code).where(Cohort.instructor_id == teacher.id))
    assert client.post("/cohorts/join", data={"code": join_code}).status_code == 302
    code = issue(client, db, catalogue)
    users = {"teacher": teacher, "admin": admin}
    return SimpleNamespace(code=code, owner=client, users=users, **clients)


class Sentinel:
    """An HTTP server on 127.0.0.1 that records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        sentinel = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sentinel.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.end_headers()
                self.wfile.write(b"body { color: red }")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def sentinel():
    server = Sentinel()
    yield server
    server.server.shutdown()
    server.server.server_close()


# --- Issuing -----------------------------------------------------------------------------


def test_only_the_owner_of_a_passed_attempt_can_claim(
    app, client, learner, db, catalogue, create_user
):
    failed = pass_final(client, db, catalogue, wrong=all_wrong)
    assert failed.passed is False
    assert client.get(f"/certificates/claim/{failed.id}").status_code == 404
    assert claim(client, failed.id).status_code == 404

    passed = take_quiz(client, db, catalogue)
    create_user(email="peer@example.com")
    peer = login(app, "peer@example.com")
    assert peer.get(f"/certificates/claim/{passed.id}").status_code == 404
    assert claim(peer, passed.id, "Pat Peer").status_code == 404
    assert client.get("/certificates/claim/999999").status_code == 404

    form = client.get(f"/certificates/claim/{passed.id}")
    assert form.status_code == 200
    assert 'name="name"' in form.text and 'value="Ada Learner"' in form.text
    assert count_rows(db, Certificate) == 0


def test_confirming_issues_one_certificate_and_a_repeat_returns_it(client, learner, db, catalogue):
    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id)
    assert response.status_code == 302
    code = response.location.removeprefix("/certificates/")
    assert certificates.normalise_code(code) == code
    page = client.get(response.location)
    assert "Your certificate is ready." in flashes(page.text)
    assert code in page.text

    again = claim(client, attempt.id, "Someone Else")
    assert again.status_code == 302 and again.location == f"/certificates/{code}"
    assert client.get(f"/certificates/claim/{attempt.id}").location == f"/certificates/{code}"
    assert count_rows(db, Certificate) == 1
    assert stored(db, code).name == "Ada Learner"
    # and the quiz result page links to it
    assert f"/certificates/{code}" in client.get(f"/quizzes/attempts/{attempt.id}").text


def test_two_simultaneous_confirmations_issue_one_certificate(app, client, learner, db, catalogue):
    attempt = pass_final(client, db, catalogue)
    devices = [client, login(app, EMAIL)]
    barrier = threading.Barrier(len(devices))
    locations: list[str] = []
    errors: list[BaseException] = []

    def confirm(device) -> None:
        try:
            barrier.wait(timeout=10)
            response = claim(device, attempt.id)
            assert response.status_code == 302
            locations.append(response.location)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=confirm, args=(d,)) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert count_rows(db, Certificate) == 1
    code = db.scalar(select(Certificate.code))
    assert locations == [f"/certificates/{code}"] * 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 500, "Field cannot be longer than 120 characters."),
        ("", "This field is required."),
        ("   ", "This field is required."),
    ],
    ids=["500 characters", "empty", "blank"],
)
def test_a_name_too_long_or_empty_is_refused(client, learner, db, catalogue, name, message):
    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id, name)
    assert response.status_code == 400
    assert message in form_errors(response.text)
    assert count_rows(db, Certificate) == 0


@pytest.mark.parametrize(
    "name",
    ["张伟", "محمد عبد الله", "Zoë Ångström-Çelik"],
    ids=["chinese", "arabic", "accented"],
)
def test_names_in_any_script_are_printed(client, learner, db, catalogue, name):
    require_fonts_for(name)
    code = issue(client, db, catalogue, name)
    certificate = stored(db, code)
    assert certificate.name == name
    text = pdf_text(certificate.pdf)
    if any(unicodedata.bidirectional(c) == "AL" for c in name):
        # pypdf may give right-to-left text in visual order: check its letters are there
        assert {c for c in name if c.isalpha()} <= set(text)
    else:
        assert name in text
    assert name in client.get(f"/verify/{code}").text


# --- What the PDF says -------------------------------------------------------------------


def test_the_pdf_states_the_facts_of_record(client, issued, db, catalogue):
    certificate = stored(db, issued.code)
    reader = pypdf.PdfReader(io.BytesIO(certificate.pdf))
    text = pdf_text(certificate.pdf)
    assert len(reader.pages) == 1
    assert "Ada Learner" in text
    assert certificate.lesson_title == LESSON_TITLE == catalogue.lessons[LESSON].title
    assert compact(LESSON_TITLE) in compact(text)
    assert "Score 100%" in text
    assert abs(certificate.issued_at - utcnow()) < timedelta(minutes=1)
    assert certificate.valid_until == certificates.add_years(certificate.issued_at, 3)
    assert f"Issued {written_day(certificate.issued_at)}" in text
    assert f"Valid until {written_day(certificate.valid_until)}" in text
    assert ORGANISATION.upper() in text  # the stylesheet sets it in capitals
    assert "covers the knowledge component only" in " ".join(text.split())
    assert certificate.content_version == catalogue.version
    # Shown on the verify page's details, not printed (tests/test_certificate_pdf.py).
    assert "Content version" not in text
    assert compact(f"Certificate code {issued.code}") in compact(text)
    assert f"{PUBLIC_URL}/verify/{issued.code}" in compact(text)

    metadata = reader.metadata
    assert metadata.title == f"Certificate of completion: {LESSON_TITLE}"
    assert metadata.author == ORGANISATION
    assert issued.code in metadata.subject and "Ada Learner" in metadata.subject
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width), round(height)) == (842, 595)  # A4, landscape


def test_the_pdf_carries_a_qr_code_of_the_verify_address(client, issued, db):
    """The embedded image, one pixel per module, is exactly the QR code of the address, with
    its quiet zone."""
    import segno

    (image,) = pypdf.PdfReader(io.BytesIO(stored(db, issued.code).pdf)).pages[0].images
    pixels = image.image.convert("L")  # grey levels: the dark colour is far below 128
    expected = segno.make(
        f"{PUBLIC_URL}/verify/{issued.code}", error="m", mask=certificate_pdf.QR_MASK
    )
    border = certificate_pdf.QR_QUIET_ZONE
    rows = [[bool(module) for module in row] for row in expected.matrix_iter(border=border)]
    assert pixels.size == (len(rows[0]), len(rows))
    dark = [
        [pixels.getpixel((x, y)) < 128 for x in range(pixels.width)] for y in range(pixels.height)
    ]
    assert dark == rows


@pytest.mark.parametrize(
    "settings", [{"CERTIFICATE_PAGE_SIZE": "Letter", "CERTIFICATE_VALIDITY_YEARS": 1}]
)
def test_page_size_and_validity_are_configurable(client, issued, db):
    certificate = stored(db, issued.code)
    assert certificate.valid_until == certificates.add_years(certificate.issued_at, 1)
    assert f"Valid until {written_day(certificate.valid_until)}" in pdf_text(certificate.pdf)
    page = pypdf.PdfReader(io.BytesIO(certificate.pdf)).pages[0]
    assert (round(page.mediabox.width), round(page.mediabox.height)) == (792, 612)


def test_production_without_a_public_url_refuses_to_issue(app, create_user, db, catalogue):
    # create_app refuses to start so (tests/test_app.py); should the setting go missing
    # later, issuing still refuses rather than print a QR code for the wrong site.
    app.config.update(ENV="production", PUBLIC_URL=None)
    create_user(email=EMAIL)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # production cookies are Secure
    assert client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD}).status_code == (
        302
    )
    attempt = pass_final(client, db, catalogue)
    response = claim(client, attempt.id)
    assert response.status_code == 400
    assert any("PUBLIC_URL" in error for error in form_errors(response.text))
    assert count_rows(db, Certificate) == 0


def test_downloads_return_the_stored_bytes(client, issued, db):
    first = client.get(f"/certificates/{issued.code}/pdf")
    second = client.get(f"/certificates/{issued.code}/pdf")
    assert first.status_code == second.status_code == 200
    assert first.mimetype == "application/pdf"
    assert first.data == second.data
    assert first.data.startswith(b"%PDF")
    certificate = stored(db, issued.code)
    assert hashlib.sha256(first.data).hexdigest() == certificate.sha256
    assert first.data == certificate.pdf
    assert first.headers["Content-Disposition"] == (
        f'attachment; filename="certificate-{issued.code}.pdf"'
    )


def test_a_repeat_download_with_the_etag_is_not_modified(client, issued, db):
    sha256 = stored(db, issued.code).sha256
    path = f"/certificates/{issued.code}/pdf"
    assert client.get(path).headers["ETag"] == f'"{sha256}"'
    repeat = client.get(path, headers={"If-None-Match": f'"{sha256}"'})
    assert repeat.status_code == 304
    assert repeat.data == b""
    changed = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200
    assert changed.data.startswith(b"%PDF")


# --- Rendering is safe -------------------------------------------------------------------

HOSTILE = [
    "<b>Bold</b> <script>alert(1)</script>",
    "<style>@import url(http://127.0.0.1:{port}/x)</style>",
    '<img src="http://127.0.0.1:{port}/y">',
    '<link rel="stylesheet" href="file:///etc/passwd">',
    "x{{background:url(file:///etc/passwd)}} url(http://127.0.0.1:{port}/z)",
]


@pytest.mark.parametrize("template", HOSTILE, ids=["html", "css", "img", "link", "url"])
def test_markup_in_a_name_is_printed_literally_and_fetches_nothing(
    client, learner, db, catalogue, sentinel, template
):
    name = template.format(port=sentinel.port)
    code = issue(client, db, catalogue, name)
    certificate = stored(db, code)
    assert certificate.name == name
    text = pdf_text(certificate.pdf)
    assert compact(name) in compact(text)
    assert "root:" not in text
    assert sentinel.requests == []
    page = client.get(f"/certificates/{code}").text
    assert "<img src" not in page and "<style>@import" not in page and "<b>Bold" not in page


def test_the_stylesheet_is_parsed_once_per_worker_and_again_when_it_changes(app, tmp_path):
    css = tmp_path / "certificate.css"
    css.write_text(".name { color: black; }")
    certificate_pdf._stylesheet.cache_clear()
    first = certificate_pdf._stylesheet(css, css.stat().st_mtime_ns, "A4")
    assert certificate_pdf._stylesheet(css, css.stat().st_mtime_ns, "A4") is first
    assert certificate_pdf._stylesheet(css, css.stat().st_mtime_ns, "Letter") is not first
    css.write_text(".name { color: navy; }")
    os.utime(css, ns=(css.stat().st_atime_ns, css.stat().st_mtime_ns + 1))
    assert certificate_pdf._stylesheet(css, css.stat().st_mtime_ns, "A4") is not first


def test_a_worker_unmaps_large_blocks_once_it_renders(app, monkeypatch):
    """HarfBuzz's buffers for a CJK font, freed, stayed in glibc's heap: a worker grew by
    some 15 MB at a random render. The first render sets glibc's threshold, once."""
    calls = []
    fake_libc = SimpleNamespace(mallopt=lambda *args: calls.append(args))
    monkeypatch.setattr(certificate_pdf.ctypes, "CDLL", lambda _name: fake_libc)
    monkeypatch.setattr(certificate_pdf, "_font_config", None)
    certificate_pdf._fonts()
    certificate_pdf._fonts()
    assert calls == [(certificate_pdf.M_MMAP_THRESHOLD, 1 << 20)]


def test_the_renderer_fetches_only_our_static_files(app, sentinel):
    static = Path(app.static_folder)
    fetcher = certificate_pdf._fetcher(static)
    refused = [
        "file:///etc/passwd",
        f"http://127.0.0.1:{sentinel.port}/",
        f"https://127.0.0.1:{sentinel.port}/",
        "https://static.learnapp.invalid/../../etc/passwd",
        "https://static.learnapp.invalid/css/../../../../etc/passwd",
        "https://static.learnapp.invalid.example.com/css/certificate.css",
        "https://static.learnapp.invalid/css/missing.css",
        "data:text/css,body{color:red}",
        "data:image/svg+xml;base64,PHN2Zy8+",
        "data:image/png;base64,not base64!",
    ]
    for url in refused:
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert sentinel.requests == []
    png = fetcher.fetch("data:image/png;base64,iVBORw0KGgo=")  # the QR code's form only
    assert png.read() == b"\x89PNG\r\n\x1a\n"
    response = fetcher.fetch("https://static.learnapp.invalid/css/certificate.css")
    assert response.read() == (static / "css" / "certificate.css").read_bytes()
    assert response.headers.get_content_type() == "text/css"


# --- Public verification -----------------------------------------------------------------


def test_the_verify_page_shows_a_valid_certificate_without_the_email(app, issued, db, catalogue):
    certificate = stored(db, issued.code)
    public = app.test_client()
    page = public.get(f"/verify/{issued.code}")
    assert page.status_code == 200
    html = page.text
    assert "This certificate is genuine and valid." in html
    assert ">Valid<" in html
    for fact in (
        "Ada Learner",
        LESSON_TITLE,
        written_day(certificate.issued_at),
        written_day(certificate.valid_until),
        catalogue.version,
        ORGANISATION,
        issued.code,
    ):
        assert fact in html
    assert EMAIL not in html and "learner@" not in html


def test_an_expired_certificate_says_so(app, issued, db):
    certificate = stored(db, issued.code)
    certificate.issued_at = utcnow() - timedelta(days=4 * 365)
    certificate.valid_until = utcnow() - timedelta(days=1)
    db.commit()
    html = app.test_client().get(f"/verify/{issued.code}").text
    assert "This certificate is genuine but has expired." in html
    assert ">Expired<" in html


@pytest.mark.parametrize(
    "typed",
    [
        "0123-4567-89ab-cdef-ghjk-mnpq-rs",
        "0123 4567 89AB CDEF GHJK MNPQ RS",
        "O123-4567-89AB-CDEF-GHJK-MNPQ-RS",
        "0I23-4567-89AB-CDEF-GHJK-MNPQ-RS",
        "01234567 89abcdefghjkmnpqrs",
    ],
)
def test_codes_as_typed_are_normalised(client, typed):
    canonical = "/verify/0123-4567-89AB-CDEF-GHJK-MNPQ-RS"
    assert client.get(f"/verify/{typed}").location == canonical
    assert client.get("/verify/", query_string={"code": typed}).location == canonical
    unknown = client.get(canonical)
    assert unknown.status_code == 404
    assert "<h1>Unknown</h1>" in unknown.text and "No certificate with the code" in unknown.text


def test_a_code_typed_in_lower_case_finds_the_certificate(client, issued):
    typed = issued.code.lower().replace("-", " ")
    response = client.get("/verify/", query_string={"code": typed}, follow_redirects=True)
    assert response.status_code == 200
    assert "This certificate is genuine and valid." in response.text


@pytest.mark.parametrize("garbage", ["nonsense", "1234", "<script>", "U" * 26, "0" * 27])
def test_a_garbage_code_is_refused_with_a_message(client, garbage):
    response = client.get("/verify/", query_string={"code": garbage})
    assert response.status_code == 400
    assert "That is not a certificate code" in response.text
    assert "<script>" not in response.text
    assert client.get(f"/verify/{garbage}").status_code == 404


def test_uploading_the_issued_pdf_proves_it_authentic_and_nothing_else_does(app, issued, db):
    pdf = stored(db, issued.code).pdf
    public = app.test_client()
    genuine = upload(public, pdf)
    assert genuine.status_code == 200
    assert "<h1>Valid</h1>" in genuine.text
    assert "This certificate is genuine" not in genuine.text  # the upload page has its own
    assert ">Valid<" in genuine.text and issued.code in genuine.text
    assert EMAIL not in genuine.text

    altered = bytearray(pdf)
    altered[len(altered) // 2] ^= 0x01
    other = io.BytesIO()
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=842, height=595)
    writer.write(other)
    for forged in (bytes(altered), other.getvalue(), b"%PDF-1.7\n"):
        response = upload(public, forged)
        assert response.status_code == 200
        assert "<h1>Valid</h1>" not in response.text
        assert "exactly a certificate issued here" not in response.text


@pytest.mark.parametrize(
    ("filename", "message"),
    [("notes.txt", "Only PDF files can be checked."), (None, "Choose a PDF file.")],
    ids=["not a pdf", "no file"],
)
def test_uploading_something_else_is_refused_with_a_message(client, filename, message):
    data = {"pdf": (io.BytesIO(b"hello"), filename)} if filename else {}
    response = client.post("/verify/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in form_errors(response.text)


@pytest.mark.parametrize("settings", [{"VERIFY_RATE_LIMIT": "3 per minute"}])
def test_verification_is_rate_limited(client):
    for path in ("/verify/", "/verify/?code=nonsense", "/verify/0123-4567-89AB-CDEF-GHJK-MNPQ-RS"):
        assert client.get(path).status_code in (200, 400, 404)
    assert client.get("/verify/").status_code == 429
    assert client.post("/verify/upload").status_code == 429


# --- Revoking, correcting, renewing ------------------------------------------------------


NOTE = "Identity not confirmed at the class session; see the register."


@pytest.mark.parametrize("manager", ["teacher", "admin"])
def test_a_manager_revokes_with_a_public_reason_and_a_private_note(app, people, db, manager):
    """The verify page shows a reason chosen from a short list, never the private note."""
    code, by = people.code, people.users[manager]
    form = getattr(people, manager).get(f"/certificates/{code}").text
    for reason in certificates.REVOKE_REASONS:
        assert f'<option value="{escape(reason)}"' in form
    assert "Withdrawn at the holder" not in form  # the admin's withdrawal screen says that
    response = getattr(people, manager).post(
        f"/certificates/{code}/revoke",
        data={"reason": "Requirements not met", "note": f"  {NOTE}  ", "confirmed": "yes"},
    )
    assert response.status_code == 302 and response.location == f"/certificates/{code}"
    certificate = stored(db, code)
    assert certificate.revoked_by_id == by.id
    assert (certificate.revoke_reason, certificate.revoke_note) == ("Requirements not met", NOTE)
    assert abs(certificate.revoked_at - utcnow()) < timedelta(minutes=1)

    for who in ("admin", "teacher"):
        page = getattr(people, who).get(f"/certificates/{code}").text
        assert f"{by.name}, {written_day(certificate.revoked_at)}" in page
        assert NOTE in page and "Requirements not met" in page
    owner_page = people.owner.get(f"/certificates/{code}").text
    assert ">Revoked<" in owner_page and "Revoked by" not in owner_page
    assert "Requirements not met" in owner_page and NOTE not in owner_page

    public = app.test_client()
    for page in (public.get(f"/verify/{code}").text, upload(public, certificate.pdf).text):
        assert ">Revoked<" in page and "Requirements not met" in page
        assert NOTE not in page and "Identity not confirmed" not in page
    assert (
        "This certificate was revoked and is no longer valid." in public.get(f"/verify/{code}").text
    )

    again = getattr(people, manager).post(
        f"/certificates/{code}/revoke",
        data={"reason": "Issued in error", "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "This certificate is already revoked." in flashes(again.text)
    assert stored(db, code).revoke_reason == "Requirements not met"


def test_the_private_note_is_optional(people, db):
    response = people.teacher.post(
        f"/certificates/{people.code}/revoke",
        data={"reason": "Issued in error", "confirmed": "yes"},
    )
    assert response.status_code == 302
    certificate = stored(db, people.code)
    assert (certificate.revoke_reason, certificate.revoke_note) == ("Issued in error", None)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "   "}, "Please choose the public reason from the list."),
        ({"reason": "Identity not confirmed"}, "Please choose the public reason from the list."),
        (
            {"reason": "Withdrawn at the holder's request"},
            "Please choose the public reason from the list.",
        ),
        (
            {"reason": "Issued in error", "note": "x" * 501},
            "The note is too long: at most 500 characters.",
        ),
    ],
    ids=["blank", "free text", "withdrawal", "long note"],
)
def test_revoking_needs_a_reason_from_the_list(people, db, form, message):
    response = people.teacher.post(
        f"/certificates/{people.code}/revoke", data=form, follow_redirects=True
    )
    assert message in flashes(response.text)
    assert stored(db, people.code).revoked_at is None


def test_only_managers_may_revoke_or_correct(people, db):
    code = people.code
    for client, status in ((people.owner, 403), (people.other_teacher, 404), (people.peer, 404)):
        assert client.post(
            f"/certificates/{code}/revoke", data={"reason": "x", "confirmed": "yes"}
        ).status_code == (status)
        assert client.post(f"/certificates/{code}/reissue", data={"name": "X"}).status_code == (
            status
        )
    certificate = stored(db, code)
    assert (certificate.revision, certificate.revoked_at, certificate.name) == (
        1,
        None,
        "Ada Learner",
    )
    # the holder sees their certificate but no management forms
    page = people.owner.get(f"/certificates/{code}").text
    assert "Revoke this certificate" not in page and "Reissue with this name" not in page
    assert "Revoke this certificate" in people.teacher.get(f"/certificates/{code}").text


def test_a_name_correction_adds_a_revision_with_the_same_code(app, people, db):
    code = people.code
    original = stored(db, code)
    old_pdf, old_issued, old_until = original.pdf, original.issued_at, original.valid_until
    response = people.teacher.post(f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"})
    assert response.status_code == 302 and response.location == f"/certificates/{code}"

    old, new = stored(db, code, 1), stored(db, code, 2)
    assert old.superseded_at is not None
    assert (new.name, new.superseded_at, new.issued_at, new.valid_until) == (
        "Ada Lovelace",
        None,
        old_issued,
        old_until,
    )
    assert new.sha256 != old.sha256
    text = pdf_text(new.pdf)
    assert "Ada Lovelace" in text and "(revision 2)" in text

    public = app.test_client()
    verify = public.get(f"/verify/{code}").text
    assert "Ada Lovelace" in verify and "Ada Learner" not in verify
    assert "This certificate is genuine and valid." in verify
    superseded = upload(public, old_pdf).text
    assert "<h1>Superseded</h1>" in superseded
    assert "Superseded by a corrected revision" in superseded and "since corrected" in superseded
    assert ">Valid<" in upload(public, people.owner.get(f"/certificates/{code}/pdf").data).text
    mine = people.owner.get("/certificates/").text
    assert mine.count(f'href="/certificates/{code}"') == 1


def test_a_revoked_certificate_can_be_corrected_and_stays_revoked(people, db):
    """The correction form stays after a revocation: the record then names the right
    person, and the revocation (reason, note, author) carries over to the new revision."""
    code = people.code
    people.admin.post(
        f"/certificates/{code}/revoke",
        data={"reason": "Issued in error", "note": "Shared account", "confirmed": "yes"},
    )
    page = people.teacher.get(f"/certificates/{code}").text
    assert "Correct the name" in page and "Reinstate" in page
    response = people.teacher.post(
        f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"}, follow_redirects=True
    )
    assert "reissued with the corrected name" in " ".join(flashes(response.text))
    current = stored(db, code)
    assert (current.revision, current.name) == (2, "Ada Lovelace")
    assert (current.revoke_reason, current.revoke_note) == ("Issued in error", "Shared account")
    assert current.revoked_by_id == people.users["admin"].id


@pytest.mark.parametrize("settings", [{"TIME_ZONE": AWAY}])
def test_recertifying_opens_before_expiry_and_renews_the_certificate(
    app, client, issued, db, catalogue
):
    old = stored(db, issued.code)
    opens = (old.valid_until - timedelta(days=90)).astimezone(ZoneInfo(AWAY))  # the site's day
    page = client.post(START, follow_redirects=True)
    assert f"You can retake the quiz to renew it from {written_day(opens)}." in " ".join(
        flashes(page.text)
    )
    assert count_rows(db, Certificate) == 1

    old = stored(db, issued.code)
    old.valid_until = utcnow() + timedelta(days=30)
    db.commit()
    attempt = take_quiz(client, db, catalogue)
    response = claim(client, attempt.id)
    assert response.status_code == 302
    new_code = response.location.removeprefix("/certificates/")
    assert new_code != issued.code
    renewed = stored(db, new_code)
    assert renewed.renews_id == stored(db, issued.code).id
    assert renewed.valid_until > stored(db, issued.code).valid_until

    verify = app.test_client().get(f"/verify/{issued.code}").text
    assert "This certificate was renewed" in verify
    assert ">Renewed<" in verify and f'href="/verify/{new_code}"' in verify
    mine = client.get("/certificates/").text
    assert issued.code in mine and new_code in mine


# --- Who may see a certificate ----------------------------------------------------------


def test_certificate_pages_are_shown_to_the_holder_and_their_managers_only(app, people):
    code = people.code
    expected = {
        "owner": 200,
        "teacher": 200,
        "admin": 200,
        "peer": 404,
        "other_teacher": 404,
    }
    for who, status in expected.items():
        viewer = getattr(people, who)
        for path in (f"/certificates/{code}", f"/certificates/{code}/pdf"):
            assert viewer.get(path).status_code == status, (who, path)
    anonymous = app.test_client()
    for path in (f"/certificates/{code}", f"/certificates/{code}/pdf", "/certificates/"):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/auth/login")
    for path in ("/verify/", f"/verify/{code}"):
        assert anonymous.get(path).status_code == 200
    assert people.peer.get("/certificates/").status_code == 200
    assert code not in people.peer.get("/certificates/").text


def join_a_new_cohort(app, client, create_user, db) -> Any:
    """An instructor's new cohort, joined by the learner on `client`; the instructor's client."""
    teacher = create_user(email="later@example.com", name="Lee Later", role="instructor")
    teacher_client = login(app, teacher.email)
    created = teacher_client.post(
        "/instructor/cohorts",
        data={"name": "Later", "session_date": "2025-03-04", "lesson": LESSON},
    )
    assert created.status_code == 302
    db.rollback()
    join_code = db.scalar(select(Cohort.join_code).where(Cohort.instructor_id == teacher.id))
    assert client.post("/cohorts/join", data={"code": join_code}).status_code == 302
    return teacher_client


def refused_to_change(teacher, db, code: str) -> None:
    """The instructor sees the certificate but may neither revoke nor rename it."""
    page = teacher.get(f"/certificates/{code}")
    assert page.status_code == 200
    assert "Revoke this certificate" not in page.text and "Reissue with this name" not in page.text
    assert "earned before the learner joined your cohort" in page.text
    assert (
        teacher.post(
            f"/certificates/{code}/revoke", data={"reason": ONE, "confirmed": "yes"}
        ).status_code
        == 403
    )
    assert teacher.post(f"/certificates/{code}/reissue", data={"name": "X"}).status_code == 403
    certificate = stored(db, code)
    assert (certificate.revision, certificate.revoked_at) == (1, None)


def test_an_instructor_may_not_change_a_certificate_earned_before_the_learner_joined(
    app, client, issued, create_user, db, catalogue
):
    teacher = join_a_new_cohort(app, client, create_user, db)
    refused_to_change(teacher, db, issued.code)
    # an admin still may
    create_user(email="admin@example.com", name="Ann Admin", role="admin")
    admin = login(app, "admin@example.com")
    reissued = admin.post(f"/certificates/{issued.code}/reissue", data={"name": "Ada L."})
    assert reissued.status_code == 302
    assert stored(db, issued.code).revision == 2

    # the renewal the learner earns in the cohort is the instructor's to manage
    old = stored(db, issued.code)
    old.valid_until = utcnow() + timedelta(days=30)
    db.commit()
    renewal = claim(client, take_quiz(client, db, catalogue).id).location.split("/")[-1]
    assert "Revoke this certificate" in teacher.get(f"/certificates/{renewal}").text
    assert (
        teacher.post(
            f"/certificates/{renewal}/revoke", data={"reason": ONE, "confirmed": "yes"}
        ).status_code
        == 302
    )
    assert stored(db, renewal).revoked_at is not None


def test_a_pass_from_before_joining_claimed_after_is_not_the_instructors(
    app, client, learner, create_user, db, catalogue
):
    attempt = pass_final(client, db, catalogue)
    teacher = join_a_new_cohort(app, client, create_user, db)
    code = claim(client, attempt.id).location.split("/")[-1]
    refused_to_change(teacher, db, code)


# --- Races and time zones -----------------------------------------------------------------


def at_once(*calls) -> list[Any]:
    """Run the calls in threads released together; their results, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:  # checked by the caller, in the test's thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_a_revocation_covers_every_revision(app, people, db):
    code = people.code
    first_pdf = stored(db, code).pdf
    people.teacher.post(f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"})
    people.teacher.post(
        f"/certificates/{code}/revoke",
        data={"reason": "Requirements not met", "note": "Fraud", "confirmed": "yes"},
    )
    for pdf in (first_pdf, stored(db, code, 2).pdf):
        page = upload(app.test_client(), pdf).text
        assert "<h1>Revoked</h1>" in page
        assert ">Revoked<" in page and "Requirements not met" in page and "Fraud" not in page


def test_two_simultaneous_corrections_make_one_revision(people, db):
    code = people.code
    results = at_once(
        lambda: people.teacher.post(f"/certificates/{code}/reissue", data={"name": "Ada One"}),
        lambda: people.admin.post(f"/certificates/{code}/reissue", data={"name": "Ada Two"}),
    )
    assert [r.status_code for r in results] == [302, 302], results
    db.rollback()
    revisions = db.scalars(select(Certificate).where(Certificate.code == code)).all()
    assert sorted(c.revision for c in revisions) == [1, 2]
    assert stored(db, code, 1).superseded_at is not None
    assert stored(db, code).name in ("Ada One", "Ada Two")


ONE, TWO = "Issued in error", "Requirements not met"


def test_two_simultaneous_revocations_record_one(people, db):
    code = people.code
    results = at_once(
        lambda: people.teacher.post(
            f"/certificates/{code}/revoke",
            data={"reason": ONE, "confirmed": "yes"},
            follow_redirects=True,
        ),
        lambda: people.admin.post(
            f"/certificates/{code}/revoke",
            data={"reason": TWO, "confirmed": "yes"},
            follow_redirects=True,
        ),
    )
    messages = sorted(m for r in results for m in flashes(r.text))
    assert messages[0].startswith("The certificate is revoked")
    assert messages[1:] == ["This certificate is already revoked."]
    certificate = stored(db, code)
    winner = {ONE: people.users["teacher"].id, TWO: people.users["admin"].id}
    assert certificate.revoked_by_id == winner[certificate.revoke_reason]


def test_a_correction_cannot_revive_a_revoked_certificate(people, db, monkeypatch):
    """A correction rendered before a revocation committed must not be saved after it."""
    code = people.code
    render = certificates.reissue

    def revoked_while_rendering(*args: Any, **kwargs: Any) -> Any:
        revision = render(*args, **kwargs)
        revoked = people.admin.post(
            f"/certificates/{code}/revoke", data={"reason": "Issued in error", "confirmed": "yes"}
        )
        assert revoked.status_code == 302
        return revision

    monkeypatch.setattr(certificates, "reissue", revoked_while_rendering)
    response = people.teacher.post(
        f"/certificates/{code}/reissue", data={"name": "Ada Lovelace"}, follow_redirects=True
    )
    assert "corrected, revoked or reinstated this certificate meanwhile" in " ".join(
        flashes(response.text)
    )
    current = stored(db, code)
    assert (current.revision, current.name) == (1, "Ada Learner")
    assert current.revoked_at is not None


def valid_certificates(db) -> list[Certificate]:
    """The current revisions that status_of calls valid."""
    db.rollback()
    every = db.scalars(select(Certificate)).all()
    current = [c for c in every if c.superseded_at is None and c.revoked_at is None]
    # renewed: a current renewal points at one of its revisions
    renewed = {c.code for c in every if c.id in {r.renews_id for r in current}}
    return [c for c in current if c.code not in renewed and c.valid_until > utcnow()]


def claimed_at_once(app, client, attempts: list[int]) -> list[Any]:
    """Each passed attempt claimed from a device of its own, all released together."""
    devices = [client, *(login(app, EMAIL) for _ in attempts[1:])]
    results = at_once(
        *(
            lambda device=device, attempt=attempt: device.post(
                f"/certificates/claim/{attempt}",
                data={"name": "Ada Learner"},
                follow_redirects=True,
            )
            for device, attempt in zip(devices, attempts, strict=True)
        )
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    return results


def test_two_passes_claimed_at_once_give_one_valid_certificate(app, client, learner, db, catalogue):
    """Pass twice, then claim both attempts at the same moment: one certificate is issued,
    and the other claim is told so and sent to it."""
    first = pass_final(client, db, catalogue)
    second = take_quiz(client, db, catalogue)
    assert first.passed and second.passed and first.id != second.id
    results = claimed_at_once(app, client, [first.id, second.id])
    assert [r.status_code for r in results] == [200, 200], [r.text[:500] for r in results]
    (valid,) = valid_certificates(db)
    assert count_rows(db, Certificate) == 1
    assert [r.request.path for r in results] == [f"/certificates/{valid.code}"] * 2
    messages = sorted(m for r in results for m in flashes(r.text))
    assert messages == [
        "You already hold a valid certificate for this lesson: this is it.",
        "Your certificate is ready.",
    ]


def test_two_renewals_claimed_at_once_give_one_valid_certificate(
    app, client, issued, db, catalogue
):
    old = stored(db, issued.code)
    old.valid_until = utcnow() + timedelta(days=30)  # the renewal window is open
    db.commit()
    first = take_quiz(client, db, catalogue)
    second = take_quiz(client, db, catalogue)
    results = claimed_at_once(app, client, [first.id, second.id])
    assert [r.status_code for r in results] == [200, 200]
    (valid,) = valid_certificates(db)
    assert valid.code != issued.code and valid.renews_id == stored(db, issued.code).id
    assert count_rows(db, Certificate) == 2
    assert [r.request.path for r in results] == [f"/certificates/{valid.code}"] * 2


def test_correcting_a_renewed_certificate_keeps_it_renewed(app, client, people, db, catalogue):
    """A renewal points at the revision it renewed: a later name correction of the old
    certificate must not make it valid again beside its renewal."""
    code = people.code
    old = stored(db, code)
    old.valid_until = utcnow() + timedelta(days=30)
    db.commit()
    attempt = take_quiz(people.owner, db, catalogue)
    renewal = claim(people.owner, attempt.id).location.removeprefix("/certificates/")
    reissued = people.admin.post(f"/certificates/{code}/reissue", data={"name": "Ada L."})
    assert reissued.status_code == 302
    assert stored(db, code).revision == 2
    assert [c.code for c in valid_certificates(db)] == [renewal]
    verify = app.test_client().get(f"/verify/{code}").text
    assert ">Renewed<" in verify and f'href="/verify/{renewal}"' in verify


def test_a_claim_rendered_while_another_was_issued_is_refused(
    app, client, learner, db, catalogue, monkeypatch
):
    """The same race, made certain: the second pass is claimed while the first renders."""
    first = pass_final(client, db, catalogue)
    second = take_quiz(client, db, catalogue)
    other = login(app, EMAIL)
    render = certificates.draft

    def claimed_meanwhile(*args: Any, **kwargs: Any) -> Any:
        draft = render(*args, **kwargs)
        if draft.attempt_id == first.id:
            (claimed,) = at_once(lambda: claim(other, second.id))  # a request of its own
            assert claimed.status_code == 302
        return draft

    monkeypatch.setattr(certificates, "draft", claimed_meanwhile)
    response = claim(client, first.id)
    (valid,) = valid_certificates(db)
    assert valid.attempt_id == second.id
    assert response.status_code == 302 and response.location == f"/certificates/{valid.code}"
    page = client.get(response.location)
    assert "You already hold a valid certificate for this lesson: this is it." in flashes(page.text)
    assert count_rows(db, Certificate) == 1
    # and the first pass now leads to the certificate the learner holds, without a 500
    assert client.get(f"/certificates/claim/{first.id}").status_code in (200, 302)


def test_a_renewal_of_a_certificate_revoked_while_it_rendered_is_refused(
    app, people, db, catalogue, monkeypatch
):
    code = people.code
    old = stored(db, code)
    old.valid_until = utcnow() + timedelta(days=30)
    db.commit()
    attempt = take_quiz(people.owner, db, catalogue)
    render = certificates.draft

    def revoked_meanwhile(*args: Any, **kwargs: Any) -> Any:
        draft = render(*args, **kwargs)
        (revoked,) = at_once(  # in a thread: a request of its own, not nested in this one
            lambda: people.admin.post(
                f"/certificates/{code}/revoke",
                data={"reason": "Issued in error", "confirmed": "yes"},
            )
        )
        assert revoked.status_code == 302
        return draft

    monkeypatch.setattr(certificates, "draft", revoked_meanwhile)
    response = claim(people.owner, attempt.id)
    assert response.status_code == 400
    # The revocation's block, read inside the write, refuses it.
    assert "no new one can be issued until your instructor" in " ".join(form_errors(response.text))
    assert count_rows(db, Certificate) == 1
    monkeypatch.setattr(certificates, "draft", render)
    lifted = people.admin.post(
        f"/certificates/{code}/unblock", data={"reason": "Requirements now met"}
    )
    assert lifted.status_code == 302
    again = claim(people.owner, attempt.id)  # a new certificate, no longer a renewal
    assert again.status_code == 302
    assert stored(db, again.location.removeprefix("/certificates/")).renews_id is None


@pytest.mark.parametrize("settings", [{"TIME_ZONE": AWAY}])
def test_the_pdf_and_the_pages_agree_on_the_dates_in_the_site_time_zone(app, issued, db):
    certificate = stored(db, issued.code)
    zone = ZoneInfo(AWAY)
    issued_on = certificate.issued_at.astimezone(zone)
    until = certificate.valid_until.astimezone(zone)
    text = pdf_text(certificate.pdf)
    assert f"Issued {written_day(issued_on)}" in text
    assert f"Valid until {written_day(until)}" in text
    page = app.test_client().get(f"/verify/{issued.code}").text
    assert written_day(issued_on) in page and written_day(until) in page
