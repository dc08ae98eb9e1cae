"""Configuration: defaults, then instance/config.py, then LEARNAPP_* environment, then overrides."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "learnapp" / "static"  # the only files a certificate may show

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
    # Argon2id at OWASP's first recommendation: 19 MiB, 2 passes, 1 lane (about 33 ms of
    # CPU). Tests lower it; see tests/conftest.py. Older hashes (werkzeug's scrypt) are
    # checked as they are and replaced at the next successful login.
    "PASSWORD_ARGON2_MEMORY_KIB": 19 * 1024,
    "PASSWORD_ARGON2_TIME_COST": 2,
    "PASSWORD_ARGON2_PARALLELISM": 1,
    # Password hashes computed at once per worker; a request that finds them all busy for
    # PASSWORD_HASH_WAIT_SECONDS is refused (503), so a flood is turned away, not queued.
    "PASSWORD_HASHES_AT_ONCE": 2,
    "PASSWORD_HASH_WAIT_SECONDS": 0.5,
    # Shared by all workers: production refuses memory:// (see production_problems).
    "RATELIMIT_STORAGE_URL": "memory://",
    # Several limits separated by ";": the wait grows with the failures. They delay devices
    # that have not signed in to the account before; such a device (a signed cookie kept
    # LOGIN_DEVICE_DAYS) answers only to its own failures, so no one else can lock its
    # owner out (OWASP's device cookies).
    "LOGIN_FAILURES_PER_ACCOUNT": "5 per minute; 10 per 15 minutes; 20 per hour; 50 per day",
    "LOGIN_FAILURES_PER_ADDRESS": "100 per 15 minutes; 300 per day",
    "LOGIN_FAILURES_PER_DEVICE": "10 per 15 minutes",
    "LOGIN_DEVICE_DAYS": 365,
    # A class of 30 on one network, each with a retry; and a ceiling for the whole site.
    "REGISTRATIONS_PER_ADDRESS": "60 per hour",
    "REGISTRATIONS_SITE_WIDE": "1000 per hour",
    "QUIZ_RETAKE_COOLDOWN_MINUTES": 0,
    "QUIZ_ATTEMPTS_PER_DAY": None,  # a daily cap delays a learner; it never locks them out
    "CERTIFICATE_VALIDITY_YEARS": 3,  # as first-aid certificates usually are
    "RECERTIFY_WINDOW_DAYS": 90,
    # After an account is deleted (or a certificate withdrawn), each cohort keeps its
    # completion record until this many days after the certificate's validity ends; then
    # `flask retention purge` deletes it. The privacy notice states the period.
    "COMPLETION_RECORDS_KEPT_DAYS": 365,
    "CERTIFICATE_PAGE_SIZE": "A4",  # or "Letter"
    "VERIFY_RATE_LIMIT": "60 per minute",
    # Wrong short codes (a room's 8 characters), per account and site-wide; a join link's
    # code is never refused. 500 guesses in every 15 minutes, against 32**8 codes, find one of a
    # thousand running cohorts about once in 60 years.
    "JOIN_CODE_FAILURES": "10 per 15 minutes",
    "JOIN_CODE_FAILURES_SITE_WIDE": "500 per 15 minutes",
    "DASHBOARD_PAGE_SIZE": 50,
    # Item analysis flags, as Moodle suggests reading its statistics (percent).
    "ITEM_MIN_ATTEMPTS": 10,
    "ITEM_TOO_EASY": 90,
    "ITEM_TOO_HARD": 20,
    "ITEM_WEAK_DISCRIMINATION": 20,
    "ITEM_LOW_FACILITY": 30,  # highlighted on the page, however few the attempts
    "MAIL_BACKEND": "console",  # console | folder | smtp
    "MAIL_FROM": "learnapp <no-reply@localhost>",
    "MAIL_FOLDER": None,  # folder backend: defaults to instance/mail
    "MAIL_SMTP_HOST": "localhost",
    "MAIL_SMTP_PORT": 587,
    "MAIL_SMTP_STARTTLS": True,
    "MAIL_SMTP_USER": None,
    "MAIL_SMTP_PASSWORD": None,
    "MAIL_SMTP_TIMEOUT": 20,  # seconds the worker waits on each SMTP step
    # Outgoing work (learnapp/outbox.py): a claimed row is a worker's for this long, far
    # longer than a delivery takes, so that a row whose worker died is claimed again after it.
    "OUTBOX_LEASE_SECONDS": 300,
    "OUTBOX_KEPT_DAYS": 7,  # done rows (a mail's text, its links) are deleted after this
    "PASSWORD_RESET_MAX_AGE": 3600,  # seconds a reset link stays valid
    "PASSWORD_RESETS_PER_ADDRESS": "5 per hour",
    # Links that confirm an address (registration, "send again", an e-mail change).
    "EMAIL_CONFIRMATION_MAX_AGE": 48 * 3600,
    # Confirmation mails asked for ("send again", e-mail changes), counted per account and
    # per address mailed: no one can use them to flood a mailbox.
    "CONFIRMATION_MAILS": "3 per hour; 10 per day",
    "SITE_NAME": "learnapp",
    # The issuer of certificates. ORGANISATION is its name, copied onto each certificate at
    # issue (the verify page shows it). The rest is the PDF's letterhead and signature block,
    # as configured when a certificate (or a corrected revision) is rendered: the address,
    # one line per line (a string with newlines, or a JSON list in LEARNAPP_ISSUER_ADDRESS);
    # the logo, a file under learnapp/static/ ("" for none: the renderer fetches nothing
    # else); the signatory, printed under the signature line (lines as the address).
    "ORGANISATION": "learnapp first-aid training",
    "ISSUER_ADDRESS": "",
    "ISSUER_LOGO": "img/issuer-logo.svg",
    "ISSUER_SIGNATORY": "For the issuing organisation",
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


class ConfigurationError(RuntimeError):
    """The configuration cannot be served safely; the message says what to set."""


# At least this long, as `secrets.token_hex(32)` makes it: a short key can be guessed offline
# from any signed cookie.
SECRET_KEY_MIN_LENGTH = 32


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """Why this configuration must not serve production, one sentence each (none: it may).

    Checked by create_app before anything is built, so that a mistake stops the server
    instead of weakening it silently.
    """
    problems = []
    if str(config.get("RATELIMIT_STORAGE_URL") or "memory://").startswith("memory://"):
        problems.append(
            "LEARNAPP_RATELIMIT_STORAGE_URL is memory://, which counts per worker: with 3 "
            "workers a throttle lets through about 3 times its limit. Set it to Redis, e.g. "
            "redis://127.0.0.1:6379/0."
        )
    if config.get("MAIL_BACKEND") == "console":
        problems.append(
            "LEARNAPP_MAIL_BACKEND is console, which writes live password-reset links into the "
            "log. Set it to smtp (with LEARNAPP_MAIL_SMTP_*)."
        )
    if not str(config.get("PUBLIC_URL") or "").startswith("https://"):
        problems.append(
            "LEARNAPP_PUBLIC_URL is not set to the site's https:// address; links in e-mails "
            "and certificate QR codes are built from it, e.g. https://learn.example.org."
        )
    if len(config.get("SECRET_KEY") or "") < SECRET_KEY_MIN_LENGTH:
        problems.append(
            f"LEARNAPP_SECRET_KEY is not set, or shorter than {SECRET_KEY_MIN_LENGTH} characters; "
            "it signs sessions and reset links, and every server must share it. Make one with "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'."
        )
    logo = config.get("ISSUER_LOGO")
    if logo and not is_static_file(str(logo)):
        problems.append(
            f"LEARNAPP_ISSUER_LOGO is {str(logo)[:80]!r}, which is no file under learnapp/static/: "
            "certificates would print without the logo. Name one there, e.g. img/logo.png, "
            'or set it to "" for none.'
        )
    return problems


def is_static_file(path: str) -> bool:
    """Whether `path`, relative to learnapp/static/, names a file there (and not outside)."""
    root = STATIC_DIR.resolve()
    target = (root / path).resolve()
    return target.is_relative_to(root) and target.is_file()


def refuse_unsafe_production(config: Mapping[str, Any]) -> None:
    """Raise ConfigurationError naming every problem when ENV is production."""
    if config.get("ENV") != "production":
        return
    problems = production_problems(config)
    if problems:
        raise ConfigurationError(
            "learnapp refuses to start in production:\n" + "\n".join(f"- {p}" for p in problems)
        )


def database_url_for(instance_path: Path) -> str:
    """The default database: a SQLite file inside the instance folder."""
    instance_path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance_path / 'learnapp.sqlite3'}"
