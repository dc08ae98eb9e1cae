"""Public verification: the verdict on a certificate code, or on an uploaded file read as hostile input."""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pypdf
import zxingcpp
from PIL import Image, ImageOps
from pypdf import PageObject
from pypdf.generic import StreamObject
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnapp import certificates
from learnapp.certificates import Status
from learnapp.models import Certificate, CertificateEvent

log = logging.getLogger(__name__)

# What the page's h1 says: the verdict comes first, in words (and in colour, app.css).
WORDS = {
    "valid": "Valid",
    "expired": "Expired",
    "revoked": "Revoked",
    "superseded": "Superseded",
    "renewed": "Renewed",
    "withdrawn": "Withdrawn",
    "altered": "Altered file",
    "unknown": "Unknown",
}

# A code looked up by itself: what the certificate with that code is now.
CODE_SENTENCES = {
    "valid": "This certificate is genuine and valid.",
    "expired": "This certificate is genuine but has expired.",
    "revoked": "This certificate was revoked and is no longer valid.",
    "withdrawn": "Withdrawn at the holder's request: this certificate is no longer valid, and its details were deleted.",
    "renewed": "This certificate was renewed: the newer certificate replaces it.",
    "superseded": "This revision was corrected: the current revision replaces it.",
}

# A file that is byte for byte one issued here: what that certificate is now.
FILE_SENTENCES = {
    "valid": "This file is exactly a certificate issued here, and the certificate is valid.",
    "expired": "This file is exactly a certificate issued here, but the certificate has expired.",
    "revoked": "This file is exactly a certificate issued here, but the certificate was revoked: it is no longer valid.",
    "withdrawn": "This file was a certificate issued here, withdrawn at the holder's request: it is no longer valid, and its details were deleted.",
    "renewed": "This file is exactly a certificate issued here, but it was renewed: the newer certificate replaces it.",
    "superseded": "This file is an earlier revision of a certificate issued here, since corrected: the current revision, below, replaces it.",
}

CODE_FORMAT = "a code has 26 letters and digits, like 1A2B-3C4D-…"
TYPED_SHOWN = 40  # characters of an ill-formed code repeated on its page


@dataclass(frozen=True)
class Verdict:
    """What a verify page leads with (`word`, `sentence`), and the record it then shows."""

    kind: str  # a key of WORDS
    sentence: str
    certificate: Certificate | None = None  # the record shown: the code's certificate as issued
    status: Status | None = None  # that record's status
    file_status: Status | None = None  # an exact file of a superseded revision: its own status
    issued: Verdict | None = None  # an altered file: the verdict on the code found in it
    qr_elsewhere: str | None = None  # an altered file: the other site its QR code leads to
    ill_formed: bool = False  # a code that cannot be one of ours
    # The record's latest reinstatement, if it was revoked and then reinstated: its date and
    # public reason, so that someone who saw it revoked learns why it is valid again.
    reinstated: CertificateEvent | None = None

    @property
    def word(self) -> str:
        return WORDS[self.kind]


def verdict_for_code(session: Session, raw: str, now: datetime) -> Verdict:
    """The verdict on a code as typed: its certificate's status now, or Unknown."""
    code = certificates.normalise_code(raw)
    if code is None:
        shown = raw if len(raw) <= TYPED_SHOWN else raw[:TYPED_SHOWN] + "…"
        return Verdict(
            "unknown",
            f"No certificate has the code “{shown}”: that is not a certificate code ({CODE_FORMAT}).",
            ill_formed=True,
        )
    certificate = certificates.current_revision(session, code)
    if certificate is None:
        return Verdict(
            "unknown",
            f"No certificate with the code {code} was issued here. Check the code for typing mistakes.",
        )
    status = _status(session, certificate, now)
    return Verdict(
        status.kind,
        CODE_SENTENCES[status.kind],
        certificate,
        status,
        reinstated=certificates.reinstatement(session, certificate),
    )


def verdict_for_file(session: Session, data: bytes, now: datetime, our_prefix: str) -> Verdict:
    """The verdict on an uploaded file. `our_prefix` starts every verify address our QR codes
    hold (certificate_pdf.verification_url("")), to tell a QR code leading elsewhere."""
    exact = certificates.by_pdf(session, data)
    if exact is not None:
        return _exact(session, exact, now)
    scan = scan_pdf(data)
    if not scan.readable:
        return Verdict(
            "unknown",
            "No certificate issued here matches this file: it cannot be read as a PDF (it may be damaged, password-protected or not a PDF at all).",
        )
    known = _known(session, scan.codes)
    if known is None:
        if scan.codes:
            sentence = f"No certificate issued here matches this file, and no certificate with the code it names ({scan.codes[0]}) was issued here."
        else:
            sentence = "No certificate issued here matches this file, and it holds no certificate code of this site."
        return Verdict("unknown", sentence)
    issued = verdict_for_code(session, known, now)
    elsewhere = next(
        (
            host
            for link, code in scan.links
            if code == known and not link.startswith(our_prefix) and (host := _host(link))
        ),
        None,
    )
    return Verdict(
        "altered",
        f"This file is not the one issued here with the code {known}: it was changed, or damaged, after it was issued. Rely on the certificate as issued, below, not on what the file says.",
        issued.certificate,
        issued.status,
        issued=issued,
        qr_elsewhere=elsewhere[:80] if elsewhere else None,
        reinstated=issued.reinstated,
    )


def _status(session: Session, certificate: Certificate, now: datetime) -> Status:
    return certificates.status_of(certificate, now, certificates.renewal_code(session, certificate))


def _exact(session: Session, certificate: Certificate, now: datetime) -> Verdict:
    status = _status(session, certificate, now)
    if status.kind != "superseded":
        return Verdict(
            status.kind,
            FILE_SENTENCES[status.kind],
            certificate,
            status,
            reinstated=certificates.reinstatement(session, certificate),
        )
    # An older revision: the record shown is the corrected one, as the code's page shows it.
    current = certificates.current_revision(session, certificate.code)
    return Verdict(
        "superseded",
        FILE_SENTENCES["superseded"],
        current,
        _status(session, current, now),
        file_status=status,
        reinstated=certificates.reinstatement(session, current),
    )


def _known(session: Session, codes: tuple[str, ...]) -> str | None:
    """The first of `codes` issued here, in the order the file gives them."""
    if not codes:
        return None
    found = set(session.scalars(select(Certificate.code).where(Certificate.code.in_(codes))))
    return next((code for code in codes if code in found), None)


# --- Reading an uploaded PDF -------------------------------------------------------------

PAGES_READ = 2  # a certificate is one page; a cover page added in front still leaves it here
CODES_KEPT = 8  # codes looked up per file
TEXT_SEARCHED = 20_000  # characters of a page's text searched for codes
IMAGES_TRIED = 8  # images per page tried as QR codes
XOBJECTS_SEEN = 64  # images and forms looked at per page
IMAGE_SIDE_MAX = 1024  # pixels; our QR code is embedded at one pixel per module (21 to 177)
QUIET_ZONE = 4  # modules of light margin a QR reader expects around the code
DECODED_SIDE = 300  # pixels: the QR image is scaled up to about this before decoding
LOSSLESS = {"/FlateDecode", "/Fl"}  # or no filter at all: we never store a QR code lossy

# Operators visited while reading the text of all pages read: our certificate has about 250.
# A count, not a clock, so that an upload gets the same answer on a busy server as on a quiet one.
OPERATORS_READ = 10_000

# pypdf's limits while it reads an upload (pypdf.Configuration). A certificate's streams are a
# few kilobytes (its page's text, its QR code); with the defaults (75 MB a stream) one upload of
# 5 MB expanded into minutes of text extraction. pypdf parses about 1 MB of page content a
# second, so a stream takes at most a quarter of a second before OPERATORS_READ is checked.
STREAM_MAX = 256_000
PDF_LIMITS: dict[str, Any] = {
    "maximum_declared_stream_length": STREAM_MAX,
    "array_based_stream_maximum_output_length": STREAM_MAX,
    "zlib_maximum_output_length": STREAM_MAX,
    "lzw_maximum_output_length": STREAM_MAX,
    "run_length_maximum_output_length": STREAM_MAX,
    "jbig2_maximum_output_length": STREAM_MAX,
    "image_maximum_buffer_size": STREAM_MAX,
    "page_tree_maximum_entries": 1_000,
    "xform_maximum_invocations_per_extraction": 50,
    "jbig2dec_binary": None,  # never start another program for an upload
}

# Groups of 4 (hyphens, spaces, or a line break after a hyphen between them) or 26 in a row;
# normalise_code then decides.
_GROUP = "[0-9A-Z]"
_SEPARATOR = r"(?:-\s*|\s+)?"
CODE_SHAPED = re.compile(
    rf"(?<![0-9A-Z]){_GROUP}{{4}}(?:{_SEPARATOR}{_GROUP}{{4}}){{5}}{_SEPARATOR}{_GROUP}{{2}}(?![0-9A-Z])",
    re.IGNORECASE,
)
VERIFY_PATH = re.compile(r"/verify/([^/]+)/?$")


@dataclass(frozen=True)
class Scan:
    """What a file says about itself: codes from its QR codes, then from its text."""

    readable: bool
    codes: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (a QR code's text, the code in it)


def codes_in_text(text: str) -> list[str]:
    """The certificate codes in a text, canonical, in order, each once."""
    found = (
        certificates.normalise_code("".join(m.group().split())) for m in CODE_SHAPED.finditer(text)
    )
    return list(dict.fromkeys(code for code in found if code is not None))


def code_in_link(text: str) -> str | None:
    """The code of a verify address (any site's: only the code is looked up), or a bare code."""
    try:
        path = urlsplit(text.strip()).path
    except ValueError:  # not an address at all (e.g. "http://[" is an unclosed IPv6 host)
        path = ""
    match = VERIFY_PATH.search(path)
    return certificates.normalise_code(unquote(match.group(1)) if match else text.strip())


def _host(link: str) -> str | None:
    """The host a QR code's address leads to; None for text that is not an address."""
    try:
        return urlsplit(link.strip()).hostname
    except ValueError:
        return None


def scan_pdf(data: bytes) -> Scan:
    """The codes an uploaded PDF holds, read with bounded effort from its first pages."""
    links: list[tuple[str, str]] = []
    texts: list[str] = []
    with pypdf.apply_configuration(**PDF_LIMITS):
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            pages = [reader.pages[i] for i in range(min(PAGES_READ, len(reader.pages)))]
        # pypdf raises more than its own errors on a malformed file (KeyError, TypeError,
        # struct.error, ...): any of them means the file cannot be read.
        except Exception as error:
            log.info("an uploaded file is not a readable PDF: %r", error)
            return Scan(readable=False)
        budget = _OperatorBudget(OPERATORS_READ)
        for page in pages:
            for image in _images(page):
                links.extend(
                    (text, code) for text in _qr_texts(image) if (code := code_in_link(text))
                )
            texts.append(_text(page, budget))
    codes = [code for _, code in links] + [c for text in texts for c in codes_in_text(text)]
    return Scan(True, tuple(dict.fromkeys(codes))[:CODES_KEPT], tuple(links))


class OutOfBudget(Exception):
    """Reading an upload's text visited more than OPERATORS_READ operators."""


class _OperatorBudget:
    def __init__(self, operators: int) -> None:
        self.left = operators

    def spend(self, *_: Any) -> None:
        # Called before each operator, nested forms' too: a page drawing a form ten
        # thousand times stops here, not after all of them.
        self.left -= 1
        if self.left < 0:
            raise OutOfBudget


def _text(page: PageObject, budget: _OperatorBudget) -> str:
    try:
        return page.extract_text(visitor_operand_before=budget.spend)[:TEXT_SEARCHED]
    except Exception as error:  # as in scan_pdf: a damaged page has no text to give
        log.info("no text from an uploaded page: %r", error)
        return ""


def _images(page: PageObject) -> Iterator[Image.Image]:
    """Small, losslessly stored images of a page and of its forms one level down, decoded;
    anything larger, or stored otherwise, is not decoded at all."""
    decoded = 0
    for xobject in _xobjects(page):
        if decoded == IMAGES_TRIED:
            return
        if xobject.get("/Subtype") != "/Image" or not _small(xobject):
            continue
        decoded += 1
        try:
            image = xobject.decode_as_image()
        except Exception as error:  # as in scan_pdf: a damaged image is skipped
            log.info("an uploaded image is not readable: %r", error)
            continue
        if image is not None:
            yield image


def _xobjects(page: PageObject) -> Iterator[StreamObject]:
    """The page's XObjects, then those of its forms, at most XOBJECTS_SEEN in all."""
    seen = 0
    queue: list[tuple[Any, bool]] = [(page, True)]
    while queue:
        holder, on_page = queue.pop(0)
        for xobject in _xobjects_of(holder):
            yield xobject
            seen += 1
            if seen == XOBJECTS_SEEN:
                return
            if on_page and xobject.get("/Subtype") == "/Form":
                queue.append((xobject, False))


def _xobjects_of(holder: Any) -> list[StreamObject]:
    try:
        resources = holder.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return []
        entries = list(xobjects.get_object().values())[:XOBJECTS_SEEN]
        resolved = (entry.get_object() for entry in entries)
        return [xobject for xobject in resolved if isinstance(xobject, StreamObject)]
    except Exception as error:  # as in scan_pdf: damaged resources hold nothing to read
        log.info("unreadable resources in an uploaded file: %r", error)
        return []


def _small(image: StreamObject) -> bool:
    width, height, filters = image.get("/Width"), image.get("/Height"), image.get("/Filter")
    if isinstance(filters, list) and len(filters) == 1:
        filters = filters[0]
    return (
        isinstance(width, int)
        and isinstance(height, int)
        and 0 < width <= IMAGE_SIDE_MAX
        and 0 < height <= IMAGE_SIDE_MAX
        and (filters is None or (isinstance(filters, str) and filters in LOSSLESS))
    )


def _qr_texts(image: Image.Image) -> list[str]:
    """The texts of the QR codes in an image, whatever its size, colours or transparency."""
    try:
        if "A" in image.getbands() or "transparency" in image.info:
            white = Image.new("RGBA", image.size, "white")
            image = Image.alpha_composite(white, image.convert("RGBA"))
        # Embedded at one pixel per module with no margin: give it the light margin a printed
        # QR code has, then scale it up, pixel for pixel, to what a reader expects of a photo.
        framed = ImageOps.expand(image.convert("L"), border=QUIET_ZONE, fill=255)
        scale = math.ceil(DECODED_SIDE / max(framed.size))
        framed = framed.resize(
            (framed.width * scale, framed.height * scale), Image.Resampling.NEAREST
        )
        found = zxingcpp.read_barcodes(framed, formats=zxingcpp.BarcodeFormat.QRCode)
    except Exception as error:  # as in scan_pdf: a hostile image decodes to nothing
        log.info("an uploaded image holds no readable QR code: %r", error)
        return []
    return [barcode.text for barcode in found]
