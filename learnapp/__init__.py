"""learnapp: a first-aid course on spinal muscle spasm. create_app is the only wiring point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from learnapp import config as configuration
from learnapp.content import ContentError, load_content

ROOT = configuration.ROOT


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, database, content, security, blueprints, commands."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("LEARNAPP_INSTANCE_PATH", str(ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    app.config.from_mapping(configuration.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(configuration.from_environment(os.environ))
    app.config.from_mapping(config or {})
    # Before any default is filled in: production names its secret key, it is not made up.
    configuration.refuse_unsafe_production(app.config)
    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = configuration.secret_key_for(instance)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = configuration.database_url_for(instance)
    if app.config["ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    if app.config["TRUSTED_HOSTS"]:
        app.config["TRUSTED_HOSTS"] = list(app.config["TRUSTED_HOSTS"])
    elif app.config["ENV"] == "production" and app.config["PUBLIC_URL"]:
        # Answer only under the public name: a request naming another Host gets 400.
        app.config["TRUSTED_HOSTS"] = [urlsplit(app.config["PUBLIC_URL"]).hostname]
    if app.config["PROXY_FIX"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    _load_content(app)

    from learnapp import accounts, assets, caching, cli, db, security, views

    assets.init_app(app)
    db.init_app(app)
    accounts.init_app(app)
    caching.init_app(app)
    security.init_app(app)
    CSRFProtect(app)
    views.init_app(app)
    cli.init_app(app)
    return app


def _load_content(app: Flask) -> None:
    """Content is read and rendered once per process: apps made from the same unchanged
    folders (as the tests make them) share one Catalogue. Invalid content stops a server from
    starting; a command-line call other than `run` still gets an app, so `content check` can
    report."""
    try:
        app.extensions["learnapp.content"] = load_content(
            app.config["LESSONS_DIR"], app.config["QUIZZES_DIR"], cached=True
        )
    except ContentError as error:
        context = click.get_current_context(silent=True)
        if context is None or context.info_name == "run":
            raise
        app.extensions["learnapp.content"] = None
        app.extensions["learnapp.content_error"] = error
