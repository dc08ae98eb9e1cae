"""Certificates for their holders and managers: claim, list, download, and for managers
revoke (after a confirmation page), reinstate, lift a block and reissue."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from learnapp import certificates
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import (
    CertificateNameForm,
    ReinstateForm,
    ReissueForm,
    RevokeForm,
    UnblockForm,
)
from learnapp.models import Certificate, User
from learnapp.security import manages_certificate, manages_learner
from learnapp.views import catalogue

bp = Blueprint("certificates", __name__, url_prefix="/certificates")


def _passed_attempt(attempt_id: int):
    return certificates.passed_attempt(get_session(), current_user.id, attempt_id) or abort(404)


def _may_see(holder_id: int | None) -> bool:
    """A certificate is for its holder, their cohort's instructors and admins only."""
    return holder_id == current_user.id or manages_learner(get_session(), current_user, holder_id)


def _visible(code: str) -> tuple[Certificate, bool]:
    """The current revision, to those who may see it (404 to anyone else), and whether the
    viewer may change it (an instructor sees a learner's certificates, but changes only
    those earned in their cohort)."""
    db = get_session()
    certificate = certificates.current_revision(db, code)
    if certificate is None:
        abort(404)
    holder = certificate.user_id == current_user.id
    if not holder and not manages_learner(db, current_user, certificate.user_id):
        abort(404)
    return certificate, manages_certificate(db, current_user, certificate)


def _managed(code: str) -> Certificate:
    certificate, manager = _visible(code)
    if not manager:
        abort(403)
    return certificate


@bp.get("/")
@login_required
def mine():
    db = get_session()
    held = certificates.history(db, current_user.id)
    now = utcnow()
    return render_template(
        "certificates/mine.html",
        held=[(c, certificates.status_of(c, now, certificates.renewal_code(db, c))) for c in held],
    )


@bp.route("/claim/<id:attempt_id>", methods=["GET", "POST"])
@login_required
def claim(attempt_id):
    db = get_session()
    attempt = _passed_attempt(attempt_id)
    existing = certificates.for_attempt(db, attempt.id)
    if existing is not None:
        return redirect(url_for("certificates.show", code=existing.code))
    if certificates.blocks_attempt(db, attempt, catalogue()):
        # The page says why, and how the block ends; a form sent anyway changes nothing.
        return render_template(
            "certificates/claim.html", attempt=attempt, blocked=True
        ), 400 if request.method == "POST" else 200
    form = CertificateNameForm(name=certificates.name_to_offer(db, current_user.id))
    if form.validate_on_submit():
        try:
            # Rendered before the write transaction: no database lock is held meanwhile.
            draft = certificates.draft(
                db, current_user, attempt, form.name.data, catalogue(), utcnow()
            )
        except certificates.CertificateError as error:
            form.name.errors.append(str(error))
        else:
            try:
                with writing() as db:
                    kept = certificates.save_issued(db, draft)
            except certificates.AlreadyCertified as error:  # another claim won the race
                flash(str(error), "info")
                return redirect(url_for("certificates.show", code=error.code))
            except certificates.CertificateError as error:
                form.name.errors.append(str(error))
            else:
                flash("Your certificate is ready.", "success")
                return redirect(url_for("certificates.show", code=kept.code))
    return render_template(
        "certificates/claim.html", form=form, attempt=attempt
    ), 400 if form.errors else 200


@bp.get("/<code>")
@login_required
def show(code):
    db = get_session()
    certificate, manager = _visible(code)
    return render_template(
        "certificates/show.html",
        certificate=certificate,
        status=certificates.status_of(
            certificate, utcnow(), certificates.renewal_code(db, certificate)
        ),
        manager=manager,
        # an instructor of the learner's cohort, for a certificate earned before they joined
        earned_elsewhere=not manager and certificate.user_id != current_user.id,
        revoked_by=(
            db.get(User, certificate.revoked_by_id)
            if certificate.revoked_by_id and manager
            else None
        ),
        block=certificates.block_set_by(db, certificate.code),
        log=certificates.log_of(db, certificate.code) if manager else [],
        revoke_form=RevokeForm(),
        reinstate_form=ReinstateForm(),
        unblock_form=UnblockForm(),
        reissue_form=ReissueForm(name=certificate.name),
    )


@bp.get("/<code>/pdf")
@login_required
def download(code):
    stored = certificates.stored_pdf(get_session(), code)
    if stored is None or stored.pdf is None or not _may_see(stored.user_id):
        abort(404)  # no PDF once withdrawn: it was deleted
    # A stored PDF never changes: its hash is its ETag, and a repeat download is a 304.
    if stored.sha256 in request.if_none_match:
        return current_app.response_class(status=304, headers={"ETag": f'"{stored.sha256}"'})
    return current_app.response_class(
        stored.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{stored.code}.pdf"',
            "ETag": f'"{stored.sha256}"',
        },
    )


@bp.post("/<code>/revoke")
@login_required
def revoke(code):
    certificate = _managed(code)
    form = RevokeForm()
    if not form.validate_on_submit():
        return _refused(certificate, form)
    if form.confirmed.data != "yes":
        # The first submission shows what the public will read, and asks again.
        return render_template(
            "certificates/confirm_revoke.html", certificate=certificate, form=form
        )
    try:
        with writing() as db:
            certificates.revoke(
                db, certificate, current_user, form.reason.data, utcnow(), form.note.data
            )
    except certificates.CertificateError as error:
        flash(str(error), "error")
    else:
        flash(
            "The certificate is revoked, and the learner cannot be certified for this lesson"
            " again until the block is lifted.",
            "success",
        )
    return redirect(url_for("certificates.show", code=certificate.code))


@bp.post("/<code>/reinstate")
@login_required
def reinstate(code):
    certificate = _managed(code)
    form = ReinstateForm()
    if not form.validate_on_submit():
        return _refused(certificate, form)
    try:
        with writing() as db:
            certificates.reinstate(
                db, certificate, current_user, form.reason.data, utcnow(), form.note.data
            )
    except certificates.CertificateError as error:
        flash(str(error), "error")
    else:
        flash("The certificate is valid again.", "success")
    return redirect(url_for("certificates.show", code=certificate.code))


@bp.post("/<code>/unblock")
@login_required
def unblock(code):
    certificate = _managed(code)
    form = UnblockForm()
    if not form.validate_on_submit():
        return _refused(certificate, form)
    try:
        with writing() as db:
            block = certificates.block_set_by(db, certificate.code)
            if block is None:
                raise certificates.CertificateError("This block was already lifted.")
            certificates.unblock(
                db, block, current_user, form.reason.data, utcnow(), form.note.data
            )
    except certificates.CertificateError as error:
        flash(str(error), "error")
    else:
        flash("The block is lifted: the learner can be certified for this lesson again.", "success")
    return redirect(url_for("certificates.show", code=certificate.code))


def _refused(certificate: Certificate, form: FlaskForm):
    """Back to the certificate's page, with the form's first message (no reason from the
    list, or a note too long)."""
    errors = [error for field in form for error in field.errors]
    flash(next(iter(errors), "Please choose the public reason from the list."), "error")
    return redirect(url_for("certificates.show", code=certificate.code))


@bp.post("/<code>/reissue")
@login_required
def reissue(code):
    db = get_session()
    certificate = _managed(code)
    form = ReissueForm()
    if not form.validate_on_submit():
        return _refused(certificate, form)
    try:
        # Rendered before the write transaction: no database lock is held meanwhile.
        revision = certificates.reissue(db, certificate, form.name.data, utcnow())
    except certificates.CertificateError as error:
        flash(str(error), "error")
        return redirect(url_for("certificates.show", code=certificate.code))
    with writing() as db:
        saved = certificates.save_revision(db, certificate, revision, current_user, utcnow())
    if saved:
        flash(
            "The certificate was reissued with the corrected name; the learner's later"
            " certificates will use it too.",
            "success",
        )
    else:
        flash(
            "Someone corrected, revoked or reinstated this certificate meanwhile; please check it and try again.",
            "warning",
        )
    return redirect(url_for("certificates.show", code=certificate.code))
