"""Public verification: by code, or by uploading the PDF. Rate-limited per address."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from learnapp import certificate_pdf, certificates, verification
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
            code_error=f"That is not a certificate code: {verification.CODE_FORMAT}",
        ), 400
    return render_template("verify/index.html", form=VerifyUploadForm())


@bp.get("/<code>")
def show(code):
    canonical = certificates.normalise_code(code)
    if canonical is not None and canonical != code:
        return redirect(url_for("verify.show", code=canonical))
    verdict = verification.verdict_for_code(get_session(), code, utcnow())
    page = render_template("verify/show.html", code=canonical, typed=code, verdict=verdict)
    return page, 404 if verdict.kind == "unknown" else 200


@bp.post("/upload")
@takes_files("pdf")
def upload():
    form = VerifyUploadForm()
    if not form.validate_on_submit():
        return render_template("verify/index.html", form=form), 400
    verdict = verification.verdict_for_file(
        get_session(), form.pdf.data.read(), utcnow(), certificate_pdf.verification_url("")
    )
    # 200 whatever the verdict, Unknown for a file that is no PDF too: the question was
    # well asked (the form's own checks answer 400), and this is its answer.
    return render_template("verify/upload.html", verdict=verdict)
