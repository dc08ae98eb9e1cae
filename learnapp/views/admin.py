"""Admins: the list of users, roles, and disabling an account."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from learnapp import accounts
from learnapp.db import get_session, writing
from learnapp.forms import UserAdminForm
from learnapp.models import User
from learnapp.security import login_manager

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
    page = max(1, request.args.get("page", 1, type=int))
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


@bp.post("/users/<int:user_id>")
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
