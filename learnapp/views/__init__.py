"""Blueprints, error pages and template helpers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, current_app, g, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, SecurityError, ServiceUnavailable
from werkzeug.routing import IntegerConverter, Map

from learnapp.content import Catalogue, Lesson
from learnapp.db import local_date, long_date

ERROR_MESSAGES = {
    400: (
        "Something in that request was not right",
        "Please go back, reload the page and try again.",
    ),
    403: (
        "This page is not for your account",
        "If you think you should see it, ask your instructor.",
    ),
    404: ("We could not find that page", "The address may be mistyped, or the page has moved."),
    405: ("That action is not available here", "Please use the buttons on the page."),
    413: ("That upload is too large", "Please choose a smaller file."),
    429: ("Too many tries", "Please wait a little and try again."),
    500: (
        "Something went wrong on our side",
        "Nothing you did caused this. Please try again in a moment.",
    ),
    503: (
        "We lost the connection to our database",
        "Nothing was half-saved: what you sent was recorded whole or not at all. "
        "Please go back and send it again; if it was already recorded, the page will say so.",
    ),
}


# Ids are INTEGER columns, which PostgreSQL holds up to 2^31 - 1 (SQLite up to 2^63 - 1): a
# larger number in a query is a database error there, not "no such row". This one bound, for
# every database, holds every id in a URL (`<id:...>`) and every page number.
ID_MAX = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to ID_MAX; any other number is a 404."""

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=ID_MAX)


def page_number(raw: str) -> int:
    """A `?page=` value, for `request.args.get("page", 1, type=page_number)`: 1 to ID_MAX, or
    ValueError, on which args.get gives the first page. (A larger page makes an OFFSET past
    the database's integers, and int() refuses strings of over 4,300 digits.)"""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(ID_MAX)):
        raise ValueError(f"not a page number: {raw[:20]!r}")
    page = int(raw)
    if not 1 <= page <= ID_MAX:
        raise ValueError(f"no such page: {page}")
    return page


def catalogue() -> Catalogue:
    return current_app.extensions["learnapp.content"]


def lesson_or_404(slug: str) -> Lesson:
    lesson = catalogue().lessons.get(slug)
    if lesson is None:
        abort(404)
    return lesson


def error_page(error: HTTPException | Exception) -> tuple[str, int] | Response:
    code = error.code if isinstance(error, HTTPException) and error.code else 500
    title, advice = ERROR_MESSAGES.get(code, (getattr(error, "name", "Error"), ""))
    if isinstance(error, SecurityError):
        # A Host outside TRUSTED_HOSTS: Flask builds no URLs for it, so the page template
        # (all url_for) would fail and turn the 400 into a 500. Plain text, host not echoed.
        return Response(f"{title}\n\n{advice}\n", status=code, mimetype="text/plain")
    description = getattr(error, "description", None)
    if code in (400, 409) and description and not description.startswith("The browser (or proxy)"):
        advice = description  # our own message, written for the user
    if isinstance(error, CSRFError):
        title, advice = (
            "This form has expired",
            "Please go back, reload the page and submit it again.",
        )
    try:
        return render_template("errors/error.html", code=code, title=title, advice=advice), code
    except Exception:  # the page needs the database (who is signed in), which just failed
        return Response(f"{title}\n\n{advice}\n", status=code, mimetype="text/plain")


def init_app(app: Flask) -> None:
    from learnapp.views import (
        account,
        admin,
        auth,
        certificates,
        cohorts,
        instructor,
        lessons,
        public,
        quizzes,
        verify,
    )

    blueprints = (
        public,
        auth,
        account,
        lessons,
        quizzes,
        certificates,
        verify,
        cohorts,
        instructor,
        admin,
    )
    # Before the blueprints: their routes' `<id:...>` parts are compiled as they register.
    app.url_map.converters["id"] = IdConverter
    for blueprint in (module.bp for module in blueprints):
        app.register_blueprint(blueprint)
    if app.config["ENV"] != "production":
        from learnapp.views import dev

        app.register_blueprint(dev.bp)  # the development mailbox: no route in production
    app.register_error_handler(HTTPException, error_page)
    # Anything unexpected: a plain page, never a traceback.
    app.register_error_handler(Exception, _unexpected)

    app.jinja_env.add_extension("jinja2.ext.do")
    zone = ZoneInfo(app.config["TIME_ZONE"])

    @app.template_filter("when")
    def when(moment: datetime | None, fmt: str = "%d %B %Y, %H:%M") -> str:
        """A stored UTC time as the site's readers expect it."""
        return "" if moment is None else moment.astimezone(zone).strftime(fmt).lstrip("0")

    @app.template_filter("day")
    def day(moment: date | datetime | None) -> str:
        """A day (a cohort's session), or a stored UTC time's day where the readers are."""
        if moment is None:
            return ""
        return long_date(
            local_date(moment, app.config["TIME_ZONE"]) if isinstance(moment, datetime) else moment
        )

    @app.context_processor
    def site() -> dict[str, Any]:
        return {
            "site_name": app.config["SITE_NAME"],
            "catalogue": app.extensions["learnapp.content"],
        }


def _unexpected(error: Exception) -> tuple[str, int] | Response:
    current_app.logger.exception("unhandled error", exc_info=error)
    # The page itself may read the database (the signed-in user): start from a clean session.
    if "db_session" in g:
        g.db_session.rollback()
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        # A database restart or a pooler dropped the connection mid-request: the pool has
        # discarded it, and a transaction cut short is rolled back whole by the database.
        return error_page(ServiceUnavailable())
    return error_page(error)
