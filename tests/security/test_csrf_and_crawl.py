"""No state change without a CSRF token, and none from any GET.

The database is compared whole: every table's row count and a digest of all its rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from tests.conftest import PASSWORD
from tests.security.world import (
    LESSON,
    LOGIN_PATH,
    ROLES,
    World,
    opened,
    request_rule,
    rules,
    snapshot,
    url_of,
)

NEW_PASSWORD = "a brand new passphrase"


def pdf_of(world: World) -> Any:
    from learnapp.certificates import current_revision

    with opened(world.app) as db:
        pdf = current_revision(db, world.certificate).pdf
    return {"pdf": (io.BytesIO(pdf), "certificate.pdf")}


# endpoint: (who posts, the form that works with a token, whether it then writes rows).
# URL values come from the world (A's attempt and certificate, X's cohort); the admin edits Y.
# Listed in an order in which each one, sent with its token, still works after those before.
Form = Callable[[World], dict[str, Any]]
CASES: dict[str, tuple[str, Form, bool]] = {
    "auth.register": (
        "anonymous",
        lambda w: {
            "name": "New Person",
            "email": "new.person@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
        True,
    ),
    "auth.login": ("anonymous", lambda w: {"email": w.emails["A"], "password": PASSWORD}, False),
    "auth.reset_request": ("anonymous", lambda w: {"email": w.emails["B"]}, True),  # outbox
    "verify.upload": ("anonymous", pdf_of, False),
    "account.change_name": ("B", lambda w: {"name": "Mallory"}, True),
    "account.change_email": (
        "B",
        lambda w: {"email": "mallory@example.com", "current": PASSWORD},
        True,
    ),
    "account.change_password": (
        "B",
        lambda w: {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        True,
    ),
    "account.send_confirmation": ("B", lambda w: {}, True),  # a mail in the outbox
    "account.confirm_email": ("A", lambda w: {}, True),  # A's address, confirmed
    "lessons.mark_read": ("B", lambda w: {}, True),
    # X, who has not acknowledged the notice yet (B does so through the quiz's page below).
    "lessons.acknowledge": ("X", lambda w: {"section": "spine-and-spasm"}, True),
    "quizzes.check": ("B", lambda w: {}, False),
    "quizzes.acknowledge": ("B", lambda w: {}, True),
    "quizzes.start": ("B", lambda w: {}, False),  # B has not read every section yet
    "quizzes.submit": ("A", lambda w: {}, False),  # A's attempt is already submitted
    "certificates.claim": ("A", lambda w: {"name": "A"}, False),  # and claimed
    "cohorts.join": ("B", lambda w: {"code": w.join_codes["X"]}, True),
    "instructor.create": (
        "Y",
        lambda w: {"name": "Osprey class", "session_date": "2025-05-06", "lesson": LESSON},
        True,
    ),
    # After B joined X's cohort by its code: B is removed, then new codes, archive, restore.
    "instructor.remove": ("X", lambda w: {"confirmed": "yes"}, True),
    "instructor.rotate_codes": ("X", lambda w: {}, True),
    "instructor.archive": ("X", lambda w: {}, True),
    "instructor.restore": ("X", lambda w: {}, True),
    # Running again: Z, X's co-instructor, adds Y as an instructor too, then removes Y.
    "instructor.add_instructor": ("Z", lambda w: {"email": w.emails["Y"]}, True),
    "instructor.remove_instructor": ("Z", lambda w: {}, True),
    "account.instructor_profile": (
        "X",
        lambda w: {
            "instructor_name": "Xavier K. Kestrel",
            "instructor_number": "WSI-0042",
            "issuing_body": "Canadian Red Cross",
        },
        True,
    ),
    "admin.create_user": (
        "admin",
        lambda w: {"name": "Nia Newcomer", "email": "nia.new@example.com", "role": "learner"},
        True,  # the account and its two mails
    ),
    "admin.send_reset": ("admin", lambda w: {}, True),  # Y's reset link, in the outbox
    "admin.update_user": (
        "admin",
        lambda w: {f"u{w.ids['Y']}-role": "admin", f"u{w.ids['Y']}-enabled": "y"},
        True,
    ),
    "certificates.reissue": ("X", lambda w: {"name": "Zelda Q. Fixed"}, True),
    "certificates.revoke": ("X", lambda w: {"reason": "Issued in error", "confirmed": "yes"}, True),
    # The revocation just made: lift the block it set, then undo it.
    "certificates.unblock": ("X", lambda w: {"reason": "Requirements now met"}, True),
    "certificates.reinstate": ("X", lambda w: {"reason": "Revoked in error"}, True),
    "admin.withdraw_certificate": ("admin", lambda w: {"confirm": "y"}, True),
    "admin.retry_outbox": ("admin", lambda w: {}, True),  # B's failed mail, due again
    "cohorts.leave": ("A", lambda w: {"confirmed": "yes"}, True),
    "account.delete": ("B", lambda w: {"current": NEW_PASSWORD}, True),
    "auth.logout": ("A", lambda w: {}, True),  # ends A's sessions: a row changes
    # A's reset link: it ends A's sessions too, so it comes after A's own posts.
    "auth.reset": (
        "anonymous",
        lambda w: {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        True,
    ),
    # Last: A's account, which every case before may still need.
    "admin.delete_user": ("admin", lambda w: {"confirmed": "yes"}, True),
}


# Whose id a POST route's user_id is: Y's role changes, Y is mailed a reset link and Y, added
# as an instructor of X's cohort, is removed from it; B, who joined X's cohort, is removed;
# A's account is deleted.
PERSON_CHANGED = {"admin.update_user": "Y", "instructor.remove": "B", "admin.delete_user": "A"}


def post_url(world: World, endpoint: str) -> str:
    rule = next(rule for rule in rules(world.app) if rule.endpoint == endpoint)
    return url_of(world, rule, user_id=world.ids[PERSON_CHANGED.get(endpoint, "Y")])


def test_every_post_route_has_a_csrf_case(app):
    posts = {rule.endpoint for rule in rules(app) if "POST" in rule.methods}
    assert posts == CASES.keys()


def test_no_post_route_works_without_a_csrf_token(world):
    clients = {role: world.client(role) for role in ROLES}
    foreign = world.client("anonymous").csrf_token()  # valid, but for another session
    before = snapshot(world.app)
    for endpoint, (role, form, _writes) in CASES.items():
        for token in ({}, {"csrf_token": foreign}, {"csrf_token": "forged"}):
            data = form(world) | token
            response = clients[role].post(post_url(world, endpoint), data=data, csrf=False)
            assert response.status_code == 400, (endpoint, token)
            assert "This form has expired" in response.text, endpoint
            assert snapshot(world.app) == before, f"{endpoint} {token} changed rows"


def test_the_same_posts_work_with_a_token(world):
    """The cases above are live: with the token each one is accepted, and the writers write."""
    clients = {role: world.client(role) for role in ROLES}
    for endpoint, (role, form, writes) in CASES.items():
        before = snapshot(world.app)
        response = clients[role].post(post_url(world, endpoint), data=form(world))
        assert response.status_code in (200, 302), (endpoint, response.status_code)
        if role != "anonymous":  # still signed in
            assert not (response.location or "").startswith(LOGIN_PATH), endpoint
        assert (snapshot(world.app) != before) == writes, endpoint


def test_crawling_every_get_route_as_everyone_changes_nothing(world):
    gets = [rule for rule in rules(world.app) if "GET" in rule.methods]
    extra = [  # query strings the pages themselves send
        "/verify/?code=" + world.certificate.lower(),
        f"/instructor/cohorts/{world.x_cohort}?q=zel&state=passed&sort=name&order=desc&page=2",
        f"/instructor/cohorts/{world.x_cohort}/items?attempts=all",
        "/admin/users?q=zel&page=1",
        "/admin/certificates?q=zelda",
        "/admin/certificates?q=" + world.certificate,
    ]
    before = snapshot(world.app)
    changed = []
    for role in ROLES:
        client = world.client(role)
        for rule in gets:
            request_rule(client, world, rule)
            if snapshot(world.app) != before:
                changed.append(f"{role}: GET {url_of(world, rule)}")
                before = snapshot(world.app)
        for url in extra:
            client.get(url)
            if snapshot(world.app) != before:
                changed.append(f"{role}: GET {url}")
                before = snapshot(world.app)
    assert not changed, "GET requests changed rows:\n" + "\n".join(changed)
