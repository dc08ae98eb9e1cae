"""The certificate PDF: rendered with WeasyPrint from templates/certificates/certificate.html,
fetching only our own static files, with one font configuration and stylesheet per worker."""

from __future__ import annotations

import base64
import ctypes
import functools
import hashlib
import math
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import segno
from flask import current_app, has_request_context, render_template, request

from learnapp.db import local_date
from learnapp.models import Certificate

STATIC_BASE = "https://static.learnapp.invalid/"
QR_DATA_URI = "data:image/png;base64,"
# Every QR mask decodes alike; scoring all eight to pick the "best" was a sixth of a render.
# 4 is the one segno picked most often for our verify addresses.
QR_MASK = 4
# The white margin a reader needs around the code, in modules (ISO/IEC 18004): drawn in the
# image itself, so that no layout change can put text or the frame inside it.
QR_QUIET_ZONE = 4


class RenderError(ValueError):
    """A certificate that cannot be rendered as asked; the message is for the user."""


_font_config: Any = None


def _fonts() -> Any:
    # One FontConfiguration per worker: a new one per render leaks memory and time.
    global _font_config
    if _font_config is None:
        from weasyprint.text.fonts import FontConfiguration

        _unmap_large_blocks_when_freed()
        _font_config = FontConfiguration()
    return _font_config


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter
LARGE_BLOCK = 1 << 20


def _unmap_large_blocks_when_freed() -> None:
    """Have glibc map each block of 1 MB or more on its own, and unmap it when freed.

    A CJK name makes HarfBuzz subset a 16 MB font, with buffers of several MB. By default
    glibc raises its threshold once the first such block is freed, so that later ones come
    from the heap, whose freed memory stays with the process: a worker grew by some 15 MB at
    a random render and never shrank. Not glibc (musl, macOS): nothing to do."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)


@functools.lru_cache(maxsize=4)
def _stylesheet(path: Path, modified_ns: int, page_size: str) -> Any:
    """The certificate's stylesheet, parsed once per worker and page size (and again when the
    file changes): parsing it and compiling its selectors was a fifth of every render."""
    from weasyprint import CSS

    size = "letter" if page_size == "Letter" else "A4"
    css = f"{path.read_text(encoding='utf-8')}\n@page {{ size: {size} landscape; }}"
    return CSS(string=css, font_config=_fonts())


def _fetcher(static_dir: Path) -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    root = static_dir.resolve()

    class StaticOnlyFetcher(URLFetcher):
        """Serves our own static files and refuses everything else: no file:, no network."""

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            if url.startswith(QR_DATA_URI):  # the QR code we made: no file, no network
                png = base64.b64decode(url.removeprefix(QR_DATA_URI), validate=True)
                return URLFetcherResponse(url, png, {"Content-Type": "image/png"})
            if not url.startswith(STATIC_BASE):
                raise ValueError(
                    f"certificate rendering fetches only static files, not {url[:80]!r}"
                )
            path = (root / url.removeprefix(STATIC_BASE).split("?")[0].split("#")[0]).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise ValueError(f"no such static file: {url[:80]!r}")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})

    return StaticOnlyFetcher(allowed_protocols=("https",), allow_redirects=False)


def verification_url(code: str) -> str:
    base = current_app.config["PUBLIC_URL"]
    if not base and current_app.config["ENV"] != "production":
        # Development: wherever the site is being tried out (the CLI: `make run`'s address).
        base = request.host_url if has_request_context() else "http://127.0.0.1:5000"
    if not base:
        raise RenderError(
            "Certificates cannot be issued yet: the site's public address (PUBLIC_URL) is not configured."
        )
    return f"{base.rstrip('/')}/verify/{code}"


def render(fields: dict[str, Any]) -> bytes:
    """The certificate as PDF bytes, from templates/certificates/certificate.html."""
    from weasyprint import HTML

    page_size = current_app.config["CERTIFICATE_PAGE_SIZE"]
    qr = segno.make(fields["verify_url"], error="m", mask=QR_MASK)
    html = render_template(
        "certificates/certificate.html",
        # A PNG, not inline SVG: WeasyPrint draws an SVG path module by module (a fifth of
        # the render). Scaled up from one pixel per module, nearest-neighbour: crisp.
        qr_png=qr.png_data_uri(scale=1, border=QR_QUIET_ZONE, dark="#1d2327"),
        page_size="letter" if page_size == "Letter" else "a4",  # the body's class
        **fields,
    )
    static_dir = Path(current_app.static_folder)
    css_path = static_dir / "css" / "certificate.css"
    stylesheet = _stylesheet(css_path, css_path.stat().st_mtime_ns, page_size)
    document = HTML(string=html, base_url=STATIC_BASE, url_fetcher=_fetcher(static_dir)).render(
        stylesheets=[stylesheet], font_config=_fonts()
    )
    # The page is made for any name allowed; a name of stranger, wider characters that would
    # still push the QR code over is refused, not printed on two pages.
    if len(document.pages) != 1:
        raise RenderError(
            "This name is too wide to print on one certificate page: please shorten it."
        )
    return document.write_pdf()


def duration_text(minutes: int | None) -> str | None:
    """A course's length as printed: rounded up to 5 minutes, "45 min", "1 h 05 min", "2 h".
    None (nothing printed) for an unknown length, as certificates issued before 0009 have."""
    if minutes is None or minutes <= 0:
        return None
    hours, rest = divmod(math.ceil(minutes / 5) * 5, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def _lines(value: str | Iterable[str] | None) -> list[str]:
    """Configured text of several lines: one string with newlines, or a list (as JSON in a
    LEARNAPP_* variable, where a newline is awkward to write)."""
    if not value:
        return []
    raw = value.splitlines() if isinstance(value, str) else value
    return [line.strip() for line in raw if line.strip()]


def fields_of(certificate: Certificate, verify_url: str) -> dict[str, Any]:
    # Dates as the site's pages show them (TIME_ZONE), so the PDF and the verify page agree.
    config = current_app.config
    zone = config["TIME_ZONE"]
    return {
        "name": certificate.name,
        "lesson_title": certificate.lesson_title,
        "score": certificate.score_percent,
        "duration": duration_text(certificate.course_minutes),
        "issued_on": local_date(certificate.issued_at, zone),
        "valid_until": local_date(certificate.valid_until, zone),
        # The name as recorded on the certificate; the rest of the letterhead as configured now.
        "organisation": certificate.organisation,
        "issuer_address": _lines(config["ISSUER_ADDRESS"]),
        "issuer_logo": config["ISSUER_LOGO"] or None,
        "signatory": _lines(config["ISSUER_SIGNATORY"]),
        # Blended courses (later): the assessor who saw the practical skills signs too.
        "assessor": None,
        "code": certificate.code,
        "revision": certificate.revision,
        "verify_url": verify_url,
    }


def attach(certificate: Certificate) -> None:
    """Render the certificate and set its PDF bytes and their SHA-256."""
    certificate.pdf = render(fields_of(certificate, verification_url(certificate.code)))
    certificate.sha256 = hashlib.sha256(certificate.pdf).hexdigest()
