"""Admins: the list of users, roles, and disabling an account; withdrawing a certificate at
its holder's request; outgoing work (mail) that failed, and its retry."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from learnapp import accounts, certificates, outbox
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import RetryForm, UserAdminForm, WithdrawForm
from learnapp.models import Certificate, OutboxMessage, User
from learnapp.security import login_manager
from learnapp.views import page_number

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50


@bp.before_request
def admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


@bp.get("/users")
def users():
    search = request.args.get("q", "").strip()[:100].lower()
    page = request.args.get("page", 1, type=page_number)
    query = select(User, func.count().over().label("total")).order_by(
        func.lower(User.name), User.id
    )
    if search:
        query = query.where(
            or_(
                func.lower(User.name).contains(search, autoescape=True),
                User.email.contains(search, autoescape=True),
            )
        )
    rows = get_session().execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    total = rows[0].total if rows else 0
    forms = {
        user.id: UserAdminForm(prefix=f"u{user.id}", role=user.role, enabled=user.is_enabled)
        for user, _ in rows
    }
    return render_template(
        "admin/users.html",
        rows=[user for user, _ in rows],
        forms=forms,
        search=search,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


@bp.post("/users/<id:user_id>")
def update_user(user_id):
    user = get_session().get(User, user_id) or abort(404)
    form = UserAdminForm(prefix=f"u{user.id}")
    if not form.validate_on_submit():
        flash("Choose a role from the list.", "error")
    elif user.id == current_user.id and (form.role.data != "admin" or not form.enabled.data):
        flash(
            "You cannot remove your own admin role or disable yourself; ask another admin.", "error"
        )
    else:
        with writing():
            changed = user.role != form.role.data or user.is_enabled != form.enabled.data
            user.role = form.role.data
            if user.is_enabled and not form.enabled.data:
                accounts.end_sessions(user)  # a disabled account's sessions stop at once
            user.is_enabled = form.enabled.data
        if changed:
            flash(
                f"Saved: {user.email} is now {'an' if user.role in ('admin', 'instructor') else 'a'} {user.role}"
                f"{'' if user.is_enabled else ', disabled'}.",
                "success",
            )
    return redirect(url_for("admin.users", q=request.args.get("q", "")))


@bp.get("/certificates", endpoint="certificates")
def certificates_page():
    """Find a certificate by its code or the name on it, to withdraw it on request."""
    search = request.args.get("q", "").strip()[:100]
    db = get_session()
    found: list[tuple[Certificate, User | None]] = []
    if search:
        code = certificates.normalise_code(search)
        # Current revisions: one row per certificate, under the name it now bears.
        query = (
            select(Certificate, User)
            .outerjoin(User, User.id == Certificate.user_id)
            .where(Certificate.superseded_at.is_(None))
            .order_by(Certificate.issued_at.desc())
            .limit(PAGE_SIZE)
        )
        if code is not None:
            query = query.where(Certificate.code == code)
        else:
            term = search.lower()
            query = query.where(func.lower(Certificate.name).contains(term, autoescape=True))
        found = [(certificate, holder) for certificate, holder in db.execute(query)]
    now = utcnow()
    return render_template(
        "admin/certificates.html",
        search=search,
        found=[
            (
                certificate,
                holder,
                certificates.status_of(certificate, now),
            )
            for certificate, holder in found
        ],
        # One form for every row: they differ by URL only (the page gives each its own ids).
        form=WithdrawForm(),
    )


@bp.post("/certificates/<code>/withdraw")
def withdraw_certificate(code):
    certificate = certificates.current_revision(get_session(), code) or abort(404)
    form = WithdrawForm()
    back = redirect(url_for("admin.certificates", q=certificate.code))
    if not form.validate_on_submit():
        flash(next(iter(form.confirm.errors), "Please confirm the holder's request."), "error")
        return back
    try:
        with writing() as db:
            certificates.withdraw(db, certificate, current_user, utcnow())
    except certificates.CertificateError as error:
        flash(str(error), "error")
    else:
        flash(
            f"Certificate {certificate.code} is withdrawn: its PDF and the name on it are deleted.",
            "success",
        )
    return back


@bp.get("/outbox", endpoint="outbox")
def outbox_page():
    """The outgoing work that failed (the worker gave up: a day of retries, or a refusal
    no retry mends), with its error; and how much is waiting, so that an outage shows
    before anything fails."""
    db = get_session()
    waiting = (OutboxMessage.done_at.is_(None), OutboxMessage.failed_at.is_(None))
    queued = db.execute(
        select(
            func.count(),
            func.min(OutboxMessage.created_at),
            func.count(OutboxMessage.last_error),
        ).where(*waiting)
    ).one()
    failed = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.failed_at.is_not(None))
        .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
        .limit(PAGE_SIZE)
    ).all()
    return render_template(
        "admin/outbox.html",
        waiting=queued[0],
        oldest=queued[1],
        retrying=queued[2],
        failed=failed,
        # One form for every row: they differ by URL only.
        form=RetryForm(),
    )


@bp.post("/outbox/<id:row_id>/retry")
def retry_outbox(row_id):
    form = RetryForm()
    if not form.validate_on_submit():
        flash("That form expired: please try again.", "error")
    else:
        with writing() as db:
            retried = outbox.retry(db, row_id)
        if retried:
            flash(f"Outbox row {row_id} will be sent again by the worker shortly.", "success")
        else:
            flash(f"Outbox row {row_id} is not failed (already retried or sent).", "error")
    return redirect(url_for("admin.outbox"))
