"""The app factory, configuration, health check and error pages."""

from __future__ import annotations

import pytest

from learnapp import create_app
from tests.conftest import production_config


def test_healthz_answers_when_the_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_home_page_explains_the_course_to_a_visitor(client):
    html = client.get("/").text
    assert "Spinal muscle spasm: what are the causes?" in html
    assert 'href="/auth/register"' in html


def test_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "We could not find that page" in response.text


def test_unexpected_error_shows_a_plain_500_page(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    app.testing = False  # let the error handler run as in production
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "secret detail" not in response.text and "Traceback" not in response.text


def test_secret_key_is_generated_once_and_reused(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("LEARNAPP_SECRET_KEY", raising=False)
    first = create_app({"DATABASE_URL": database_url})
    second = create_app({"DATABASE_URL": database_url})
    assert len(first.secret_key) == 64
    assert first.secret_key == second.secret_key
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0


def test_configuration_layers(tmp_path, monkeypatch, database_url):
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "config.py").write_text(
        'SITE_NAME = "from instance"\nORGANISATION = "from instance"\n'
    )
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("LEARNAPP_ORGANISATION", "from environment")
    monkeypatch.setenv("LEARNAPP_SECRET_KEY", "from environment")
    monkeypatch.setenv("LEARNAPP_PROXY_FIX", "true")
    app = create_app({"DATABASE_URL": database_url})
    assert app.config["SITE_NAME"] == "from instance"
    assert app.config["ORGANISATION"] == "from environment"
    assert app.secret_key == "from environment"
    assert app.config["PROXY_FIX"] is True
    assert (
        create_app({"DATABASE_URL": database_url, "SITE_NAME": "override"}).config["SITE_NAME"]
        == "override"
    )


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("LEARNAPP_DATABASE_URL", raising=False)
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'inst' / 'learnapp.sqlite3'}"


def test_production_cookies_are_secure(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app(production_config({"DATABASE_URL": database_url}))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        # memory:// counts per worker: with 3 workers, the 42nd of 200 lookups was refused
        ({"RATELIMIT_STORAGE_URL": "memory://"}, "LEARNAPP_RATELIMIT_STORAGE_URL"),
        ({"MAIL_BACKEND": "console"}, "LEARNAPP_MAIL_BACKEND"),  # live reset links in the log
        ({"PUBLIC_URL": None}, "LEARNAPP_PUBLIC_URL"),
        ({"PUBLIC_URL": "http://learn.example.org"}, "LEARNAPP_PUBLIC_URL"),
        ({"SECRET_KEY": None}, "LEARNAPP_SECRET_KEY"),
        ({"SECRET_KEY": "changeme"}, "LEARNAPP_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_misconfigured(change, named, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    settings = {**production_config({"DATABASE_URL": "sqlite://"}), **change}
    with pytest.raises(RuntimeError, match="refuses to start in production") as refused:
        create_app({key: value for key, value in settings.items() if value is not None})
    assert named in str(refused.value)
    assert not (tmp_path / "inst" / "secret_key").exists()  # nor does it make one up


def test_production_names_every_problem_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("LEARNAPP_ENV", "production")
    with pytest.raises(RuntimeError) as refused:
        create_app({"DATABASE_URL": "sqlite://"})
    for key in ("RATELIMIT_STORAGE_URL", "MAIL_BACKEND", "PUBLIC_URL", "SECRET_KEY"):
        assert f"LEARNAPP_{key}" in str(refused.value)


def test_development_starts_with_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app({"DATABASE_URL": "sqlite://"})
    assert app.config["RATELIMIT_STORAGE_URL"] == "memory://"
    assert app.config["MAIL_BACKEND"] == "console"


def test_serving_refuses_invalid_content(tmp_path, monkeypatch, database_url):
    from learnapp.content import ContentError

    (tmp_path / "lessons" / "broken").mkdir(parents=True)
    monkeypatch.setenv("LEARNAPP_INSTANCE_PATH", str(tmp_path / "inst"))
    with pytest.raises(ContentError, match=r"lesson\.yaml"):
        create_app(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "x",
                "LESSONS_DIR": str(tmp_path / "lessons"),
            }
        )


def test_links_follow_the_mount_point_of_each_request(client):
    """Template URLs are cached per process: a site mounted under a prefix (SCRIPT_NAME)
    must still get its own links, and the plain mount its own."""
    mounted = client.get("/", base_url="http://localhost/learn/").text
    assert 'href="/learn/auth/register"' in mounted
    plain = client.get("/").text
    assert 'href="/auth/register"' in plain
    assert "/learn/" not in plain
    assert 'href="/learn/auth/register"' in client.get("/", base_url="http://localhost/learn/").text
