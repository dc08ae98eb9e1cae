"""Public verification: by code, or by uploading the PDF. Rate-limited per address."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from learnapp import certificates
from learnapp.db import get_session, utcnow
from learnapp.forms import VerifyUploadForm
from learnapp.security import client_address, takes_files, throttle

bp = Blueprint("verify", __name__, url_prefix="/verify")


@bp.before_request
def limit_lookups():
    limit = current_app.config["VERIFY_RATE_LIMIT"]
    if not throttle().allows(limit, "verify", client_address()):
        abort(429)
    throttle().record(limit, "verify", client_address())


@bp.get("/")
def index():
    raw = request.args.get("code")
    if raw is not None:
        code = certificates.normalise_code(raw)
        if code is not None:
            return redirect(url_for("verify.show", code=code))
        return render_template(
            "verify/index.html",
            form=VerifyUploadForm(),
            code_error="That is not a certificate code: a code has 26 letters and digits, like 1A2B-3C4D-…",
        ), 400
    return render_template("verify/index.html", form=VerifyUploadForm())


@bp.get("/<code>")
def show(code):
    canonical = certificates.normalise_code(code)
    if canonical is None:
        abort(404)
    if canonical != code:
        return redirect(url_for("verify.show", code=canonical))
    db = get_session()
    certificate = certificates.current_revision(db, canonical)
    if certificate is None:
        return render_template("verify/show.html", code=canonical, certificate=None), 404
    status = certificates.status_of(
        certificate, utcnow(), certificates.renewal_code(db, certificate)
    )
    return render_template(
        "verify/show.html", code=canonical, certificate=certificate, status=status
    )


@bp.post("/upload")
@takes_files("pdf")
def upload():
    form = VerifyUploadForm()
    if not form.validate_on_submit():
        return render_template("verify/index.html", form=form), 400
    db = get_session()
    certificate = certificates.by_pdf(db, form.pdf.data.read())
    status = None
    if certificate is not None:
        status = certificates.status_of(
            certificate, utcnow(), certificates.renewal_code(db, certificate)
        )
    return render_template("verify/upload.html", certificate=certificate, status=status)
