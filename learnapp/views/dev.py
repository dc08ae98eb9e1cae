"""Development only: the mail the site has written, as its readers would see it. Registered
only when ENV is not production (views.init_app), so production answers 404."""

from __future__ import annotations

import re

from flask import Blueprint, render_template
from markupsafe import Markup, escape
from sqlalchemy import select

from learnapp.db import get_session
from learnapp.models import OutboxMessage

bp = Blueprint("dev", __name__, url_prefix="/dev")
SHOWN = 100

# The links the site writes into mail (links.public_url_for): http(s) only, so that no
# other scheme in a mail's text becomes a link here.
_LINK = re.compile(r"https?://[^\s<>\"']+")


def linked(text: str) -> Markup:
    """`text` escaped, with its http(s) links made clickable."""
    parts: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        # Markup.format escapes what it inserts.
        link = Markup('<a href="{0}">{0}</a>').format(match.group())
        parts += [escape(text[last : match.start()]), link]
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


@bp.get("/mail")
def mail():
    """The newest mail first, sent or not: the worker need not be running to read it."""
    rows = get_session().scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "mail")
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(SHOWN)
    )
    return render_template(
        "dev/mail.html",
        messages=[(row, linked(row.payload["text"])) for row in rows],
        shown=SHOWN,
    )
