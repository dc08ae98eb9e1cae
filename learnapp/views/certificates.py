"""Certificates for their holders and managers: claim, list, download, revoke, reissue."""

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

from learnapp import certificates
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import CertificateNameForm, ReissueForm, RevokeForm
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
    form = CertificateNameForm(name=current_user.name)
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
    revoked_by = (
        db.get(User, certificate.revoked_by_id) if certificate.revoked_by_id and manager else None
    )
    return render_template(
        "certificates/show.html",
        certificate=certificate,
        status=certificates.status_of(
            certificate, utcnow(), certificates.renewal_code(db, certificate)
        ),
        manager=manager,
        # an instructor of the learner's cohort, for a certificate earned before they joined
        earned_elsewhere=not manager and certificate.user_id != current_user.id,
        revoked_by=revoked_by,
        revoke_form=RevokeForm(),
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
        # No reason from the list, or a note too long: the form's own message says which.
        errors = [*form.reason.errors, *form.note.errors]
        flash(next(iter(errors), "Please choose the public reason from the list."), "error")
        return redirect(url_for("certificates.show", code=certificate.code))
    try:
        with writing() as db:
            certificates.revoke(
                db, certificate, current_user, form.reason.data, utcnow(), form.note.data
            )
    except certificates.CertificateError as error:
        flash(str(error), "error")
    else:
        flash("The certificate is revoked.", "success")
    return redirect(url_for("certificates.show", code=certificate.code))


@bp.post("/<code>/reissue")
@login_required
def reissue(code):
    db = get_session()
    certificate = _managed(code)
    form = ReissueForm()
    if not form.validate_on_submit():
        flash(next(iter(form.name.errors), "Please give the corrected name."), "error")
        return redirect(url_for("certificates.show", code=certificate.code))
    try:
        # Rendered before the write transaction: no database lock is held meanwhile.
        revision = certificates.reissue(db, certificate, form.name.data, utcnow())
    except certificates.CertificateError as error:
        flash(str(error), "error")
        return redirect(url_for("certificates.show", code=certificate.code))
    with writing() as db:
        saved = certificates.save_revision(db, certificate, revision, utcnow())
    if saved:
        flash("The certificate was reissued with the corrected name.", "success")
    else:
        flash(
            "Someone corrected or revoked this certificate meanwhile; please check it and try again.",
            "warning",
        )
    return redirect(url_for("certificates.show", code=certificate.code))
