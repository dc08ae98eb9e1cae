"""Static files under fingerprinted URLs: `url_for('static', ...)` adds each file's content
hash, computed once when the app is made, and the URL that carries the current hash is
cached for a year, immutable. Any other static URL gets a short cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, request, send_from_directory

# A URL whose hash names the file's current content never changes meaning: a year, and no
# revalidation (RFC 8246). A new file gets a new URL in every page that links it.
FINGERPRINTED_MAX_AGE = 365 * 24 * 3600
# The same file without its hash (or with an old one, from a page of an earlier release):
# five minutes, so that a change reaches such links soon.
UNFINGERPRINTED_MAX_AGE = 300
HASH_LENGTH = 12  # hex digits of SHA-256: 48 bits, to tell a file's versions apart
QUERY = "v"


def fingerprints(folder: Path) -> dict[str, str]:
    """Every file under `folder`, by its path relative to it ("css/app.css"), with the
    first HASH_LENGTH hex digits of the SHA-256 of its content."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[
            :HASH_LENGTH
        ]
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def init_app(app: Flask) -> None:
    """Hash the static folder now (not per request, not at import), add the hash to static
    URLs, and serve static files with the cache their URL deserves."""
    assert app.static_folder is not None
    folder = app.static_folder
    hashes = fingerprints(Path(folder))
    app.extensions["learnapp.static_fingerprints"] = hashes

    @app.url_defaults
    def add_fingerprint(endpoint: str | None, values: dict[str, str]) -> None:
        if endpoint == "static" and QUERY not in values:
            digest = hashes.get(values.get("filename", ""))
            if digest is not None:
                values[QUERY] = digest

    def static(filename: str) -> Response:
        """Flask's static view, with the max age chosen by the URL's hash."""
        current = hashes.get(filename)
        fingerprinted = current is not None and request.args.get(QUERY) == current
        response = send_from_directory(
            folder,
            filename,
            max_age=FINGERPRINTED_MAX_AGE if fingerprinted else UNFINGERPRINTED_MAX_AGE,
        )
        if fingerprinted:
            response.cache_control.immutable = True
        return response

    # The endpoint Flask registered for static_folder, now with this view.
    app.view_functions["static"] = static
