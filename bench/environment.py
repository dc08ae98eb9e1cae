"""The environment the benchmark's and the soak's servers and commands run in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Per-address limits are lifted: all the traffic of a run comes from 127.0.0.1.
UNLIMITED = "1000000 per minute"


def app_environment(url: str, workdir: Path, **settings: str) -> dict[str, str]:
    """learnapp as `make run` configures it, on this run's database and instance folder,
    with a fresh secret key and the per-address limits lifted; `settings` (LEARNAPP_*
    names) add to it or override it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNAPP_", "FLASK_"))}
    env.update(
        {
            "LEARNAPP_DATABASE_URL": url,
            "LEARNAPP_INSTANCE_PATH": str(workdir / "instance"),
            "LEARNAPP_SECRET_KEY": secrets.token_hex(32),
            "LEARNAPP_ENV": "development",
            "LEARNAPP_PUBLIC_URL": "http://127.0.0.1",
            "LEARNAPP_RATELIMIT_STORAGE_URL": "memory://",
            "LEARNAPP_VERIFY_RATE_LIMIT": UNLIMITED,
            "LEARNAPP_LOGIN_FAILURES_PER_ACCOUNT": UNLIMITED,
            "LEARNAPP_LOGIN_FAILURES_PER_ADDRESS": UNLIMITED,
            "LEARNAPP_JOIN_CODE_FAILURES": UNLIMITED,
            "LEARNAPP_REGISTRATIONS_PER_ADDRESS": UNLIMITED,
            "LEARNAPP_REGISTRATIONS_SITE_WIDE": UNLIMITED,
            **settings,
        }
    )
    return env
