"""A test that prints a name in some script needs a system font for it (learnapp/fonts.py).
Without one the test skips, naming the package and the apt command; under CI (CI=true, as
.ci/run sets) it fails instead, since there every test must run."""

from __future__ import annotations

import os

import pytest

from learnapp import fonts


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_fonts_for(text: str) -> None:
    """Skip (fail under CI) unless fontconfig has a font for every letter of `text`."""
    reasons = fonts.missing_for(text)
    if not reasons:
        return
    reason = "; ".join(reasons)
    if in_ci():
        pytest.fail(f"{reason} (under CI a missing font is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)
