"""Absolute links that leave the site (e-mails): built from PUBLIC_URL, never from the Host
header a request happened to carry."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request


class NoPublicURL(RuntimeError):
    """Production has no PUBLIC_URL, so no link to the site can be written."""


def public_base() -> str:
    """PUBLIC_URL; in development, when unset, the address the site is being tried at."""
    base = current_app.config["PUBLIC_URL"]
    if base:
        return base
    if current_app.config["ENV"] == "production":
        raise NoPublicURL("PUBLIC_URL is not configured: links to the site cannot be written.")
    return request.url_root if has_request_context() else "http://127.0.0.1:5000/"


def public_url_for(endpoint: str, **values: Any) -> str:
    """The absolute address of `endpoint` under PUBLIC_URL (its scheme, host and path)."""
    parts = urlsplit(public_base())
    # Werkzeug's URL map bound to PUBLIC_URL alone: nothing of the request goes into it.
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
