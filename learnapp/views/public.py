"""Pages for everyone: home and health check."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import text

from learnapp.db import get_session
from learnapp.models import REVOKE_REASONS, WITHDRAWN

bp = Blueprint("public", __name__)


@bp.get("/")
def home():
    return render_template("public/home.html")


@bp.get("/healthz")
def healthz():
    get_session().execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/privacy")
def privacy():
    return render_template("public/privacy.html", withdrawn=WITHDRAWN, reasons=REVOKE_REASONS)
