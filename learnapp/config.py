"""Configuration: defaults, then instance/config.py, then LEARNAPP_* environment, then overrides."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "LESSONS_DIR": str(ROOT / "lessons"),
    "QUIZZES_DIR": str(ROOT / "quizzes"),
    "DATABASE_URL": None,  # None: SQLite file in the instance folder
    # false behind a pooler in transaction mode that cannot keep prepared statements
    # (PgBouncer before 1.21, or any that runs DEALLOCATE ALL): see docs/deployment.md.
    "DATABASE_PREPARED_STATEMENTS": True,
    # Flask-Caching: rendered fragments and counts, each keyed by all it depends on
    # (learnapp/caching.py). CACHE_REDIS_URL set: one Redis cache shared by every worker.
    "CACHE_TYPE": "SimpleCache",
    "CACHE_THRESHOLD": 5000,
    "CACHE_DEFAULT_TIMEOUT": 3600,
    "CACHE_KEY_PREFIX": "learnapp:",
    "CACHE_REDIS_URL": None,
    # OWASP: scrypt N=2^15 (here 2^16), r=8, p=1. Tests lower it; see tests/conftest.py.
    "PASSWORD_HASH_METHOD": "scrypt:65536:8:1",
    "RATELIMIT_STORAGE_URL": "memory://",
    "LOGIN_FAILURES_PER_ACCOUNT": "5 per 15 minutes",
    "LOGIN_FAILURES_PER_ADDRESS": "30 per 15 minutes",
    "QUIZ_RETAKE_COOLDOWN_MINUTES": 0,
    "QUIZ_ATTEMPTS_PER_DAY": None,  # a daily cap delays a learner; it never locks them out
    "CERTIFICATE_VALIDITY_YEARS": 3,  # as first-aid certificates usually are
    "RECERTIFY_WINDOW_DAYS": 90,
    "CERTIFICATE_PAGE_SIZE": "A4",  # or "Letter"
    "VERIFY_RATE_LIMIT": "60 per minute",
    "JOIN_CODE_FAILURES": "10 per 15 minutes",
    "DASHBOARD_PAGE_SIZE": 50,
    # Item analysis flags, as Moodle suggests reading its statistics (percent).
    "ITEM_MIN_ATTEMPTS": 10,
    "ITEM_TOO_EASY": 90,
    "ITEM_TOO_HARD": 20,
    "ITEM_WEAK_DISCRIMINATION": 20,
    "MAIL_BACKEND": "console",  # console | folder | smtp
    "MAIL_FROM": "learnapp <no-reply@localhost>",
    "MAIL_FOLDER": None,  # folder backend: defaults to instance/mail
    "MAIL_SMTP_HOST": "localhost",
    "MAIL_SMTP_PORT": 587,
    "MAIL_SMTP_STARTTLS": True,
    "MAIL_SMTP_USER": None,
    "MAIL_SMTP_PASSWORD": None,
    "PASSWORD_RESET_MAX_AGE": 3600,  # seconds a reset link stays valid
    "PASSWORD_RESETS_PER_ADDRESS": "5 per hour",
    "SITE_NAME": "learnapp",
    "ORGANISATION": "learnapp first-aid training",
    "PUBLIC_URL": None,
    "TIME_ZONE": "UTC",
    "TRUSTED_HOSTS": None,
    "PROXY_FIX": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
}

# Environment variables read as LEARNAPP_<KEY>; values that look like JSON (numbers,
# booleans, lists) are decoded so that LEARNAPP_PROXY_FIX=true means True.
ENV_PREFIX = "LEARNAPP_"


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def from_environment(environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """The LEARNAPP_* variables as configuration keys."""
    return {
        key.removeprefix(ENV_PREFIX): _decode(value)
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX)
    }


def secret_key_for(instance_path: Path) -> str:
    """Read the instance's generated secret key, creating it once when absent."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: two workers starting at once agree on one
        # key, and neither can read a half-written file.
        draft = instance_path / f"secret_key.{os.getpid()}"
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def database_url_for(instance_path: Path) -> str:
    """The default database: a SQLite file inside the instance folder."""
    instance_path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance_path / 'learnapp.sqlite3'}"
