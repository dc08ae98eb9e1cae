"""Blueprints, error pages and template helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, current_app, g, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

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
}


def catalogue() -> Catalogue:
    return current_app.extensions["learnapp.content"]


def lesson_or_404(slug: str) -> Lesson:
    lesson = catalogue().lessons.get(slug)
    if lesson is None:
        abort(404)
    return lesson


# url_for arguments that make a URL depend on more than the endpoint, its values and the
# mount point (host, scheme, anchor): such URLs are built every time.
_UNCACHED_ARGUMENTS = frozenset({"_external", "_scheme", "_anchor", "_method"})
URL_CACHE_SIZE = 4096


def cached_url_for() -> Callable[..., str]:
    """url_for for templates, remembered per app: a page builds a dozen or more URLs
    (navigation, section links), each a walk of the URL map. The same endpoint and values
    under the same mount point always give the same path (the app registers no
    url_defaults), so a built URL is kept in a bounded cache."""
    cache: dict[tuple[Any, ...], str] = {}

    def template_url_for(endpoint: str, **values: Any) -> str:
        if endpoint.startswith(".") or not _UNCACHED_ARGUMENTS.isdisjoint(values):
            return url_for(endpoint, **values)
        key = (request.root_path, endpoint, *values.items())
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # a value that cannot be a key (a list): build as usual
            return url_for(endpoint, **values)
        if len(cache) >= URL_CACHE_SIZE:
            cache.clear()  # rare: thousands of distinct links (ids) since the last clear
        url = cache[key] = url_for(endpoint, **values)
        return url

    return template_url_for


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
    return render_template("errors/error.html", code=code, title=title, advice=advice), code


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
    for blueprint in (module.bp for module in blueprints):
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, error_page)
    # Anything unexpected: a plain page, never a traceback.
    app.register_error_handler(Exception, _unexpected)

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["url_for"] = cached_url_for()
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


def _unexpected(error: Exception) -> tuple[str, int]:
    current_app.logger.exception("unhandled error", exc_info=error)
    # The page itself may read the database (the signed-in user): start from a clean session.
    if "db_session" in g:
        g.db_session.rollback()
    return error_page(error)
