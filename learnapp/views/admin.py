"""Admins: the list of users, roles, and disabling an account; adding a user, mailing one a
reset link, deleting one; withdrawing a certificate at its holder's request; outgoing work
(mail) that failed, and its retry."""

from __future__ import annotations

import secrets

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
from flask_login import current_user
from sqlalchemy import func, or_, select

from learnapp import accounts, certificates, outbox
from learnapp.db import get_session, utcnow, writing
from learnapp.forms import (
    DeleteUserForm,
    ResetLinkForm,
    RetryForm,
    UserAdminForm,
    UserCreateForm,
    WithdrawForm,
)
from learnapp.links import public_url_for
from learnapp.models import Certificate, Enrolment, OutboxMessage, User
from learnapp.plurals import counted
from learnapp.security import login_manager
from learnapp.views import page_number
from learnapp.views.auth import reset_mail

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
    return _users_page()


def _users_page(create_form: UserCreateForm | None = None, status: int = 200):
    """The list of users (searched and paged by the query string), with the form that adds
    one: `create_form` when it is shown again with its errors."""
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
        create_form=create_form or UserCreateForm(),
        # One form each for every row: they differ by URL only.
        reset_form=ResetLinkForm(),
        delete_form=DeleteUserForm(),
        search=search,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        reset_minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
    ), status


# Messages for an admin, where the account service speaks to the person registering.
ADMIN_WORDING = {
    accounts.TAKEN: "An account with this e-mail already exists: search for it in the list below.",
    accounts.LOOKS_TAKEN: (
        "This e-mail looks like the address of an existing account (some characters look"
        " alike): check it, or search for that account in the list below."
    ),
}


def _welcome_mail(user: User) -> tuple[str, str]:
    """The mail that tells a person an admin made them an account, with the password-reset
    link (accounts.reset_token: once used, or once it expires, it no longer works) as the way
    to choose their first password."""
    config = current_app.config
    site = config["SITE_NAME"]
    link = public_url_for("auth.reset", token=accounts.reset_token(user, current_app.secret_key))
    within = counted(config["PASSWORD_RESET_MAX_AGE"] // 60, "minute")
    article = "an" if user.role[0] in "aeiou" else "a"
    return f"Your {site} account: choose your password", (
        f"Hello {user.name},\n\nAn administrator of {site} made you an account, as {article}"
        f" {user.role}, with this e-mail address. To choose your password, open this link"
        f" within {within}:\n\n{link}\n\nThe link works once. If it has expired, ask for a new"
        ' one on the login page ("Forgot your password?") with this address. A second'
        " message brings a link to confirm that the address is yours: follow it once you have"
        " logged in.\n\nIf you did not expect this, ignore this message: nobody can use the"
        " account without a password.\n"
    )


@bp.post("/users/new")
def create_user():
    """Add an account: the person is mailed a link to choose their password, and one to
    confirm their address (as registration does). Both mails and the account are written
    in one transaction, or nothing is."""
    form = UserCreateForm()
    if not form.validate_on_submit():
        return _users_page(create_form=form, status=400)
    # A password nobody knows, hashed before the write (no lock is held for the hash): the
    # person chooses their own through the link.
    password_hash = accounts.hash_password(secrets.token_urlsafe(32))
    try:
        with writing() as db:
            user = accounts.create_user(
                db,
                email=form.email.data,
                name=form.name.data,
                password_hash=password_hash,
                role=form.role.data,
            )
            outbox.enqueue_mail(db, user.email, *_welcome_mail(user))
            accounts.send_confirmation(db, user)
    except accounts.AccountError as error:
        form.email.errors.append(ADMIN_WORDING.get(str(error), str(error)))
        return _users_page(create_form=form, status=400)
    flash(
        f"Created {user.name} ({user.email}), {'an' if user.role[0] in 'aeiou' else 'a'}"
        f" {user.role}. A link to choose a password is on its way to them.",
        "success",
    )
    return redirect(url_for("admin.users", q=user.email))


@bp.post("/users/<id:user_id>/reset")
def send_reset(user_id):
    """Mail the user a password-reset link, the same one the login page's "Forgot your
    password?" sends."""
    user = get_session().get(User, user_id) or abort(404)
    form = ResetLinkForm()
    back = redirect(url_for("admin.users", q=request.args.get("q", "")))
    if not form.validate_on_submit():
        flash("That form expired: please try again.", "error")
    elif not user.is_enabled:
        flash(
            f"{user.email} is disabled, and a reset link works only for an enabled account:"
            " enable it first.",
            "error",
        )
    else:
        subject, text = reset_mail(user)
        with writing() as db:
            outbox.enqueue_mail(db, user.email, subject, text)
        within = counted(current_app.config["PASSWORD_RESET_MAX_AGE"] // 60, "minute")
        flash(
            f"A reset link is on its way to {user.email}. It works once, within {within}.",
            "success",
        )
    return back


@bp.post("/users/<id:user_id>/delete")
def delete_user(user_id):
    """Delete a user's account, as its owner's own deletion does (retention.py keeps what
    cohorts keep): the first submission says what that means and asks to confirm."""
    db = get_session()
    user = db.get(User, user_id) or abort(404)
    form = DeleteUserForm()
    back = redirect(url_for("admin.users", q=request.args.get("q", "")))
    if not form.validate_on_submit():
        flash("That confirmation was not understood, so nothing was deleted.", "error")
        return back
    refusal = accounts.deletion_refused(db, user, current_user)
    if refusal is not None:
        flash(refusal, "error")
        return back
    if form.confirmed.data != "yes":
        return render_template(
            "admin/confirm_delete.html",
            user=user,
            certificates=db.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.user_id == user.id, Certificate.superseded_at.is_(None))
            ),
            cohorts=db.scalar(
                select(func.count()).select_from(Enrolment).where(Enrolment.user_id == user.id)
            ),
        )
    name, email = user.name, user.email
    try:
        with writing() as db:
            accounts.delete_account(db, user, by_admin=current_user)
    except accounts.AccountError as error:
        flash(str(error), "error")
        return back
    flash(
        f"The account of {name} ({email}) is deleted, with its progress. Its certificates stay"
        " verifiable, and its cohorts keep their completion records.",
        "success",
    )
    return redirect(url_for("admin.users"))


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
