"""Signed-in pages rendered once per state and personalised per request.

A lesson section is the busiest page, and its template cost more than the rest of its
request. Two learners who see the same section in the same state (read or not, how many
sections read) get the same page but for their name and the CSRF token in its forms. So the
page is rendered once per state with placeholders in those two places (a skeleton), and each
request fills them in: escaped name, fresh token.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from learnapp.caching import LESSON_SKELETON, remembered

# NUL never occurs in a page otherwise: requests carrying it are refused, content has none.
NAME_HOLE = "\x00learnapp:name\x00"
TOKEN_HOLE = "\x00learnapp:csrf\x00"  # noqa: S105 (a placeholder, not a secret)


@dataclass(frozen=True)
class _Anyone:
    """`current_user` while a skeleton renders: signed in, with a role and a placeholder
    name. Any other attribute would make the page differ between users in a way the
    skeleton's key does not know, so asking for one is an error, not an empty string."""

    role: str
    name: str = NAME_HOLE
    is_authenticated: bool = True

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"a page rendered as a skeleton cannot show current_user.{attribute}")


def skeleton_key(template: str, state: Hashable) -> tuple[Hashable, ...]:
    """What a skeleton of `template` is kept under: `state` must hold everything the
    template receives besides the user's role, name and CSRF token, the values named
    `personal` (see render_personal) and the mount point."""
    return (template, request.root_path, current_user.role, state)


def _hole(name: str) -> str:
    return f"\x00learnapp:personal:{name}\x00"


def render_personal(
    template: str, state: Hashable, *, personal: Collection[str] = (), **context: Any
) -> str:
    """`template` for the signed-in user, from the skeleton kept for `state` (see
    `skeleton_key`), its holes filled with this user's name, a fresh CSRF token and the
    context values named in `personal` (text that differs per request, escaped here)."""
    if "_flashes" in session:
        # Messages to show once: this request's own page, which takes them from the session.
        return render_template(template, **context)
    skeleton = remembered(
        LESSON_SKELETON,
        skeleton_key(template, state),
        lambda: render_template(
            template,
            **{
                **context,
                **{name: _hole(name) for name in personal},
                "current_user": _Anyone(current_user.role),
                "csrf_token": lambda: TOKEN_HOLE,
            },
        ),
    )
    page = skeleton.replace(NAME_HOLE, str(escape(current_user.name))).replace(
        TOKEN_HOLE, generate_csrf()
    )
    for name in personal:
        page = page.replace(_hole(name), str(escape(context[name])))
    return page
