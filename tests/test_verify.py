"""The public verify pages: the verdict first (Valid, Revoked, Expired, Superseded, Renewed,
Withdrawn, Altered file, Unknown), then the certificate's details, for a code and for an
uploaded file; a changed copy of a certificate is read for its code (text and QR code) and
answered with the certificate as issued, and a hostile file costs bounded effort."""

from __future__ import annotations

import io
import logging
import zlib
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pypdf
import pytest
import segno
from markupsafe import escape

from learnapp import certificates, verification
from learnapp.db import utcnow
from learnapp.models import WITHDRAWN
from tests.test_certificates import claim, issue, login, stored, upload
from tests.test_quizzes import take_quiz

ORGANISATION = "Red Valley First Aid"
PUBLIC_URL = "https://learn.example.org"
NOTE = "Seen copying answers from a neighbour."


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ORGANISATION": ORGANISATION, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def catalogue(app):
    return app.extensions["learnapp.content"]


@pytest.fixture
def issued(client, learner, db, catalogue) -> SimpleNamespace:
    """The logged-in learner passed and claimed a certificate; its code and PDF."""
    code = issue(client, db, catalogue)
    return SimpleNamespace(code=code, pdf=stored(db, code).pdf)


@pytest.fixture
def admin(app, create_user) -> Any:
    """A logged-in admin's client: admins manage every certificate."""
    return login(app, create_user(email="admin@example.com", name="Ann Admin", role="admin").email)


def h1(html: str) -> str:
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def revoke(admin, code: str) -> None:
    response = admin.post(
        f"/certificates/{code}/revoke",
        data={"reason": "Requirements not met", "note": NOTE, "confirmed": "yes"},
    )
    assert response.status_code == 302


# --- Files that differ from the one issued --------------------------------------------------


def appended(pdf: bytes) -> bytes:
    return pdf + b"\n% a few bytes more\n"


def header_byte(pdf: bytes) -> bytes:
    assert pdf.startswith(b"%PDF-1.7")
    return b"%PDF-1.6" + pdf[8:]


def content_byte(pdf: bytes) -> bytes:
    """One byte changed in the middle of the page's (compressed) content stream: its text may
    no longer read, its QR code, a stream of its own, still does."""
    number = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].raw_get("/Contents").idnum
    start = pdf.index(b"stream", pdf.index(b"\n%d 0 obj" % number)) + len(b"stream\n")
    end = pdf.index(b"endstream", start)
    changed = bytearray(pdf)
    changed[(start + end) // 2] ^= 0x55
    return bytes(changed)


def resaved(pdf: bytes, change: str = "") -> bytes:
    """Rewritten by pypdf: `text` (the text layer), `images` (the QR code) or neither removed."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    if change == "text":
        writer.remove_text()
    elif change == "images":
        writer.remove_images()
    writer.add_metadata({"/Producer": "Someone's PDF editor"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


ALTERATIONS = {
    "appended bytes": appended,
    "a byte of the header": header_byte,
    "a byte of the content stream": content_byte,
    "re-saved": resaved,
    "its text removed (the QR code read)": lambda pdf: resaved(pdf, "text"),
    "its QR code removed (the text read)": lambda pdf: resaved(pdf, "images"),
}


def html_pdf(body: str) -> bytes:
    """A PDF of our own making, not from the certificate template: what a forger might make."""
    from weasyprint import HTML

    return HTML(string=f"<!doctype html><html><body>{body}</body></html>").write_pdf()


def qr_img(text: str) -> str:
    # As certificates embed it: one pixel per module, no quiet zone.
    uri = segno.make(text, error="m").png_data_uri(scale=1, border=0)
    return f'<img src="{uri}" style="width: 4cm; image-rendering: pixelated" alt="">'


# --- By file -------------------------------------------------------------------------------


def test_the_issued_pdf_reads_valid_with_its_details(app, issued, db, catalogue):
    response = upload(app.test_client(), issued.pdf)
    assert response.status_code == 200
    html = response.text
    assert h1(html) == "Valid"
    assert "This file is exactly a certificate issued here, and the certificate is valid." in html
    for fact in ("Ada Learner", issued.code, ORGANISATION, catalogue.version):
        assert fact in html
    assert '<div class="verdict valid">' in html
    assert "learner@example.com" not in html


@pytest.mark.parametrize("alter", ALTERATIONS.values(), ids=ALTERATIONS.keys())
def test_an_altered_copy_leads_with_altered_file_then_the_certificate_as_issued(app, issued, alter):
    changed = alter(issued.pdf)
    assert changed != issued.pdf
    html = upload(app.test_client(), changed).text
    assert h1(html) == "Altered file"
    assert '<div class="verdict altered">' in html
    assert f"not the one issued here with the code {issued.code}" in html
    assert "The certificate issued with this code: " in html
    assert '<span class="verdict-word valid">Valid</span>' in html
    assert "Ada Learner" in html and issued.code in html
    assert "exactly a certificate issued here" not in html
    assert "another site" not in html  # its QR code, when read, leads here


def test_an_altered_copy_of_a_revoked_certificate_shows_the_revocation(app, issued, admin):
    revoke(admin, issued.code)
    html = upload(app.test_client(), appended(issued.pdf)).text
    assert h1(html) == "Altered file"
    assert '<span class="verdict-word revoked">Revoked</span>' in html
    assert "Requirements not met" in html and NOTE not in html


def test_an_altered_copy_of_a_withdrawn_certificate_names_nobody(app, issued, admin):
    response = admin.post(f"/admin/certificates/{issued.code}/withdraw", data={"confirm": "y"})
    assert response.status_code == 302
    html = upload(app.test_client(), appended(issued.pdf)).text
    assert h1(html) == "Altered file"
    assert '<span class="verdict-word withdrawn">Withdrawn</span>' in html
    assert str(escape(WITHDRAWN)) in html
    assert "Ada" not in html


def test_a_revoked_certificate_leads_with_revoked_and_its_public_reason(app, issued, admin):
    revoke(admin, issued.code)
    public = app.test_client()
    for page in (upload(public, issued.pdf).text, public.get(f"/verify/{issued.code}").text):
        assert h1(page) == "Revoked"
        assert '<div class="verdict revoked">' in page
        assert "Requirements not met" in page
        assert NOTE not in page and "copying" not in page
    assert "but the certificate was revoked" in upload(public, issued.pdf).text


def test_a_superseded_revision_says_so_and_shows_the_current_one(app, issued, admin, db):
    response = admin.post(f"/certificates/{issued.code}/reissue", data={"name": "Ada Lovelace"})
    assert response.status_code == 302
    html = upload(app.test_client(), issued.pdf).text
    assert h1(html) == "Superseded"
    assert "an earlier revision of a certificate issued here, since corrected" in html
    assert "Superseded by a corrected revision" in html  # this file's own status
    assert "The current revision" in html
    assert "Ada Lovelace" in html and "(revision 2)" in html and ">Valid<" in html
    assert h1(upload(app.test_client(), stored(db, issued.code).pdf).text) == "Valid"


def test_a_renewed_certificate_says_so_and_links_the_new_one(app, client, issued, db, catalogue):
    old = stored(db, issued.code)
    old.valid_until = utcnow() + timedelta(days=30)  # inside the recertification window
    db.commit()
    response = claim(client, take_quiz(client, db, catalogue).id)
    assert response.status_code == 302
    renewal = response.location.removeprefix("/certificates/")
    html = upload(app.test_client(), issued.pdf).text
    assert h1(html) == "Renewed"
    assert f'href="/verify/{renewal}"' in html


def test_an_expired_certificate_leads_with_expired(app, issued, db):
    certificate = stored(db, issued.code)
    certificate.issued_at = utcnow() - timedelta(days=4 * 365)
    certificate.valid_until = utcnow() - timedelta(days=1)
    db.commit()
    public = app.test_client()
    for page in (upload(public, issued.pdf).text, public.get(f"/verify/{issued.code}").text):
        assert h1(page) == "Expired" and '<div class="verdict expired">' in page


def test_a_file_naming_a_code_not_issued_here_is_unknown(client):
    code = certificates.new_code()
    pdf = html_pdf(f"<p>Certificate code {code}</p>{qr_img(f'{PUBLIC_URL}/verify/{code}')}")
    response = upload(client, pdf)
    assert response.status_code == 200
    assert h1(response.text) == "Unknown"
    assert "No certificate issued here matches this file" in response.text
    assert f"no certificate with the code it names ({code})" in response.text


def test_a_pdf_without_a_code_is_unknown(client):
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=842, height=595)
    blank = io.BytesIO()
    writer.write(blank)
    for pdf in (blank.getvalue(), html_pdf("<p>A certificate of attendance, from elsewhere.</p>")):
        response = upload(client, pdf)
        assert response.status_code == 200
        assert h1(response.text) == "Unknown"
        assert "it holds no certificate code of this site" in response.text


@pytest.mark.parametrize(
    "garbage",
    [b"", b"%PDF-1.7\n", b"hello, world", bytes(range(256)) * 64, b"%PDF-1.7\n" + b"[" * 10_000],
    ids=["empty", "a header alone", "text", "binary", "nested arrays"],
)
def test_a_file_that_is_not_a_readable_pdf_is_unknown(client, garbage):
    response = upload(client, garbage)
    assert response.status_code == 200
    assert h1(response.text) == "Unknown"
    assert "it cannot be read as a PDF" in response.text


def test_a_qr_code_leading_to_another_site_is_read_for_its_code_only(app, issued):
    """A forger's QR code may lead to a site that says "valid": we look its code up here."""
    forged = html_pdf(qr_img(f"https://verify.evil.example/verify/{issued.code}"))
    html = upload(app.test_client(), forged).text
    assert h1(html) == "Altered file"
    assert "Its QR code leads to another site, verify.evil.example, not to this one" in html
    assert "Ada Learner" in html


def test_a_qr_code_holding_the_code_alone_is_read_too(app, issued):
    html = upload(app.test_client(), html_pdf(qr_img(issued.code))).text
    assert h1(html) == "Altered file" and "Ada Learner" in html
    assert "another site" not in html


# --- Bounded effort ------------------------------------------------------------------------


def raw_pdf(*objects: bytes) -> bytes:
    """A PDF of these objects (numbered from 1; 1 is the catalogue), with a correct xref."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n%s\nendstream" % (
        len(packed),
        extra,
        packed,
    )


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def page_pdf(content: bytes, xobjects: bytes = b"", *more: bytes) -> bytes:
    return raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 842 595] /Contents 4 0 R"
        b" /Resources << /Font << /F0 5 0 R >> %s >> >>" % xobjects,
        stream(content),
        FONT,
        *more,
    )


HOSTILE = {
    # 50 MB of page text, packed into 100 KB: a minute of text extraction unbounded. pypdf
    # refuses to expand the stream past verification.STREAM_MAX.
    "a content bomb": (
        lambda: page_pdf(b"BT /F0 12 Tf (A) Tj ET\n" * 2_200_000),
        "LimitReachedError",
    ),
    # A form of 200 KB of text drawn 30,000 times: minutes of text extraction unbounded.
    # Reading stops after verification.OPERATORS_READ operators.
    "a form drawn again and again": (
        lambda: page_pdf(
            b"/X0 Do\n" * 30_000,
            b"/XObject << /X0 6 0 R >>",
            stream(
                b"BT /F0 12 Tf (ABCD) Tj ET\n" * 8_000,
                b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /Font << /F0 5 0 R >> >>",
            ),
        ),
        "OutOfBudget",
    ),
    # An image that says it is 60,000 pixels square: not decoded at all.
    "a huge image": (
        lambda: page_pdf(
            b"q 100 0 0 100 0 0 cm /I0 Do Q",
            b"/XObject << /I0 6 0 R >>",
            stream(
                b"\xff" * 1000,
                b"/Type /XObject /Subtype /Image /Width 60000 /Height 60000"
                b" /ColorSpace /DeviceGray /BitsPerComponent 8",
            ),
        ),
        None,
    ),
}


@pytest.mark.parametrize(("make", "stopped_by"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_pdf_is_read_with_bounded_effort(client, caplog, make, stopped_by):
    """Each is cut short by a limit that counts (bytes, operators, pixels), never by a clock:
    the same upload gets the same answer on a busy server."""
    pdf = make()
    assert len(pdf) < 200_000
    with caplog.at_level(logging.INFO, logger="learnapp.verification"):
        response = upload(client, pdf)
    assert response.status_code == 200
    assert h1(response.text) == "Unknown"
    if stopped_by is not None:
        assert stopped_by in caplog.text
    assert "not readable" not in caplog.text  # the huge image was never decoded


# --- By code -------------------------------------------------------------------------------


def test_a_code_page_leads_with_the_verdict(app, issued, catalogue):
    html = app.test_client().get(f"/verify/{issued.code}").text
    assert h1(html) == "Valid" and '<div class="verdict valid">' in html
    assert "This certificate is genuine and valid." in html
    assert "Content version" in html and catalogue.version in html


def test_a_withdrawn_certificate_shows_no_name(app, issued, admin):
    admin.post(f"/admin/certificates/{issued.code}/withdraw", data={"confirm": "y"})
    public = app.test_client()
    for page in (public.get(f"/verify/{issued.code}").text, upload(public, issued.pdf).text):
        assert h1(page) == "Withdrawn" and '<div class="verdict withdrawn">' in page
        assert "Ada" not in page


def test_an_unknown_code_is_a_page_of_its_own(client):
    code = certificates.new_code()
    response = client.get(f"/verify/{code}")
    assert response.status_code == 404
    assert h1(response.text) == "Unknown"
    assert f"No certificate with the code {code} was issued here." in response.text


@pytest.mark.parametrize("typed", ["NOTACODE", "<b>1234", "U" * 26, "x" * 500])
def test_a_malformed_code_says_so_and_offers_the_code_form(client, typed):
    response = client.get(f"/verify/{typed}")
    assert response.status_code == 404
    html = response.text
    assert h1(html) == "Unknown"
    assert "that is not a certificate code (a code has 26 letters and digits" in html
    assert '<form method="get" action="/verify/"' in html and 'name="code"' in html
    assert "<b>" not in html
    assert "x" * 61 not in html  # repeated, but not at any length


# --- Reading codes -------------------------------------------------------------------------


def test_codes_are_found_in_text_however_they_are_printed():
    code = certificates.new_code()
    bare = code.replace("-", "")
    wrapped = f"https://learn.example.org/verify/{code[:20]}\n{code[20:]}"
    for text in (
        f"Certificate code\t{code}",
        f"Code: {code.lower()}.",
        wrapped,
        f"({code.replace('-', ' ')})",
        f"code {bare}",
    ):
        assert verification.codes_in_text(text) == [code], text
    assert verification.codes_in_text(f"X{bare}") == []  # part of a longer word
    assert verification.codes_in_text("Scope: this certificate covers the knowledge part.") == []


def test_a_code_is_taken_from_any_sites_verify_address():
    code = certificates.new_code()
    for link in (
        f"{PUBLIC_URL}/verify/{code}",
        f"https://evil.example/verify/{code.lower()}/",
        f"https://evil.example/x/verify/{code}?utm=1",
        code,
    ):
        assert verification.code_in_link(link) == code, link
    assert verification.code_in_link("https://evil.example/") is None
    assert verification.code_in_link(f"https://[::1/verify/{code}") is None  # no address
    assert verification.code_in_link(f"https://evil.example/verify/{code}/more") is None
