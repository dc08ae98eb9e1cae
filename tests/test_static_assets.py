"""Static files: fingerprinted URLs with a year's immutable cache, a short cache otherwise,
the favicon, and pages that still carry no inline script or style."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Flask, render_template_string, url_for

from learnapp import assets, create_app
from learnapp.assets import FINGERPRINTED_MAX_AGE, UNFINGERPRINTED_MAX_AGE, fingerprints
from learnapp.config import STATIC_DIR
from tests.conftest import SECTIONS
from tests.security.test_headers import assert_baseline, inline_code

LESSON = "spinal-muscle-spasm"
LINKED = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def digest_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[: assets.HASH_LENGTH]


def static_links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in LINKED.findall(html)]


def max_age(response) -> int | None:
    return response.cache_control.max_age


@pytest.mark.parametrize(
    ("signed_in", "path"),
    [
        (False, "/"),
        (False, "/auth/login"),
        (True, f"/lessons/{LESSON}/"),
        (True, f"/lessons/{LESSON}/sections/summary"),
        (True, "/no/such/page"),
    ],
)
def test_pages_link_static_files_by_their_hash(client, request, signed_in, path):
    if signed_in:
        request.getfixturevalue("learner")
    html = client.get(path).text
    links = static_links(html)
    assert f"/static/css/app.css?v={digest_of(STATIC_DIR / 'css/app.css')}" in links
    assert f"/static/img/favicon.svg?v={digest_of(STATIC_DIR / 'img/favicon.svg')}" in links
    assert '<link rel="icon"' in html
    for link in links:
        assert re.search(r"\?v=[0-9a-f]{12}$", link), link


def test_the_hashed_url_is_cached_for_a_year_immutable(client, learner):
    for link in static_links(client.get(f"/lessons/{LESSON}/").text):
        response = client.get(link)
        assert response.status_code == 200, link
        control = response.cache_control
        assert control.public and control.immutable, (link, response.headers["Cache-Control"])
        assert max_age(response) == FINGERPRINTED_MAX_AGE == 31_536_000
        assert not control.no_cache and not control.no_store, link  # signed in, and still cached
        response.close()


@pytest.mark.parametrize(
    "query", ["", "?v=000000000000", "?v=stale"], ids=["no hash", "another hash", "not a hash"]
)
def test_other_static_urls_get_a_short_cache(client, query):
    response = client.get(f"/static/css/app.css{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert max_age(response) == UNFINGERPRINTED_MAX_AGE
    assert not response.cache_control.immutable
    response.close()


def test_a_hashed_url_is_conditional_too(client):
    url = f"/static/css/app.css?v={digest_of(STATIC_DIR / 'css/app.css')}"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.cache_control.immutable
    first.close()


def test_favicon_ico_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert response.data == (STATIC_DIR / "favicon.ico").read_bytes()
    assert max_age(response) == UNFINGERPRINTED_MAX_AGE
    assert_baseline(response, "favicon")
    response.close()


def test_the_svg_favicon_is_an_svg(client):
    response = client.get("/static/img/favicon.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data
    response.close()


def test_a_missing_static_file_is_still_a_404(client):
    assert client.get("/static/css/none.css").status_code == 404
    assert client.get("/static/../learnapp/__init__.py").status_code == 404


def small_app(folder) -> Flask:
    app = Flask("static_assets_test", static_folder=str(folder), static_url_path="/static")
    assets.init_app(app)
    return app


def linked(app: Flask, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_a_changed_file_gets_a_new_hash(tmp_path):
    css = tmp_path / "css" / "app.css"
    css.parent.mkdir()
    css.write_text("body { color: black; }")
    before = small_app(tmp_path)
    first = linked(before, "css/app.css")
    assert first == f"/static/css/app.css?v={digest_of(css)}"

    css.write_text("body { color: navy; }")
    # Hashed once, when the app was made (a release restarts it): a running app keeps its
    # URLs, the next start links the new content under a new one.
    assert linked(before, "css/app.css") == first
    after = small_app(tmp_path)
    second = linked(after, "css/app.css")
    assert second != first and second == f"/static/css/app.css?v={digest_of(css)}"
    with after.test_client() as client:
        response = client.get(second)
        assert response.text == "body { color: navy; }"
        assert response.cache_control.immutable


def test_fingerprints_name_every_file_by_its_path(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "b.svg").write_text("two")
    assert fingerprints(tmp_path) == {
        "a.txt": hashlib.sha256(b"one").hexdigest()[:12],
        "img/b.svg": hashlib.sha256(b"two").hexdigest()[:12],
    }


def test_an_unknown_static_file_has_no_hash(app):
    with app.test_request_context():
        assert render_template_string("{{ url_for('static', filename='nothing.css') }}") == (
            "/static/nothing.css"
        )


def test_the_hashes_are_made_when_the_app_is(app_config, tmp_path, monkeypatch):
    """create_app hashes the static folder; a request only looks the hash up."""
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    calls = []
    real = assets.fingerprints
    monkeypatch.setattr(assets, "fingerprints", lambda folder: calls.append(folder) or real(folder))
    app = create_app(app_config)
    assert len(calls) == 1
    with app.test_client() as client:
        client.get("/")
        client.get("/auth/login")
    assert len(calls) == 1
    assert app.extensions["learnapp.static_fingerprints"]["css/app.css"] == digest_of(
        STATIC_DIR / "css/app.css"
    )


def test_pages_keep_the_content_security_policy(client, learner):
    """The new links are files of our own: no inline script or style, and the policy stands."""
    for path in (
        "/",
        f"/lessons/{LESSON}/",
        *(f"/lessons/{LESSON}/sections/{slug}" for slug in SECTIONS[:2]),
        "/account/",
        "/favicon.ico",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_baseline(response, path)
        if response.mimetype == "text/html":
            assert not inline_code(response.text), path
        response.close()
    for link in static_links(client.get("/").text):
        response = client.get(link)
        assert_baseline(response, link)
        response.close()
