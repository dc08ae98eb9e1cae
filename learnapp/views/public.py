"""Pages for everyone: home, health check, privacy notice and the favicon."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory
from sqlalchemy import text

from learnapp.assets import UNFINGERPRINTED_MAX_AGE
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


@bp.get("/favicon.ico")
def favicon():
    """Pages link img/favicon.svg; browsers and feed readers that do not read the link (or
    do not draw SVG) still ask for /favicon.ico: the same picture, not a 404."""
    return send_from_directory(
        current_app.static_folder, "favicon.ico", max_age=UNFINGERPRINTED_MAX_AGE
    )
