"""Who may open what: every route of the app, as every kind of person, against a table.

A route added without a row here fails `test_every_route_has_an_explicit_rule`. GET routes
are fetched; POST-only routes get an empty form with a valid CSRF token, so an allowed
person reaches the view's own validation (400) or its redirect (302).
"""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.security.world import LOGIN_PATH, ROLES, World, request_rule, rules, url_of

LOGIN = "login"  # a redirect to the login page
# The table's columns. Z, a co-instructor of X's cohort, has none of its own: each of a
# cohort's instructors has the same powers over it, so Z expects X's value on every row.
COLUMNS = ("anonymous", "A", "B", "X", "Y", "admin")
SAME_AS = {"Z": "X"}

# fmt: off
EXPECTED: dict[str, tuple[int | str, ...]] = {
    # endpoint                     anonymous  A    B    X    Y    admin
    "public.home":                 (200,     200, 200, 200, 200, 200),
    "public.healthz":              (200,     200, 200, 200, 200, 200),
    "public.privacy":              (200,     200, 200, 200, 200, 200),
    "public.favicon":              (200,     200, 200, 200, 200, 200),
    "auth.login":                  (200,     302, 302, 302, 302, 302),  # signed in: onwards
    "auth.register":               (200,     302, 302, 302, 302, 302),
    "auth.reset_request":          (200,     200, 200, 200, 200, 200),
    "auth.reset":                  (200,     200, 200, 200, 200, 200),  # the token is the key
    "auth.logout":                 (LOGIN,   302, 302, 302, 302, 302),
    "account.settings":            (LOGIN,   200, 200, 200, 200, 200),
    "account.download_data":       (LOGIN,   200, 200, 200, 200, 200),
    "account.data_page":           (LOGIN,   200, 200, 200, 200, 200),
    "account.change_name":         (LOGIN,   400, 400, 400, 400, 400),
    "account.instructor_profile":  (LOGIN,   403, 403, 302, 302, 302),  # empty: none given
    "account.change_email":        (LOGIN,   400, 400, 400, 400, 400),
    "account.send_confirmation":   (LOGIN,   302, 302, 302, 302, 302),  # a link mailed
    # A's link: others are sent to their account page with a message, and nothing changes
    "account.confirm_email":       (LOGIN,   200, 302, 302, 302, 302),
    "account.change_password":     (LOGIN,   400, 400, 400, 400, 400),
    "account.delete":              (LOGIN,   400, 400, 400, 400, 400),
    "lessons.index":               (302,     302, 302, 302, 302, 302),  # one lesson: to it
    "lessons.course":              (LOGIN,   200, 200, 200, 200, 200),
    "lessons.section":             (LOGIN,   200, 200, 200, 200, 200),
    "lessons.progress_page":       (LOGIN,   200, 200, 200, 200, 200),
    "lessons.mark_read":           (LOGIN,   302, 302, 302, 302, 302),
    "lessons.notice":              (LOGIN,   200, 200, 200, 200, 200),
    "lessons.acknowledge":         (LOGIN,   302, 302, 302, 302, 302),
    # A check's answers (none sent here) go to its feedback page; with none kept, its GET
    # leads back to the section's check
    "quizzes.check":               (LOGIN,   302, 302, 302, 302, 302),
    "quizzes.feedback":            (LOGIN,   302, 302, 302, 302, 302),
    "quizzes.final":               (LOGIN,   200, 200, 200, 200, 200),
    "quizzes.acknowledge":         (LOGIN,   302, 302, 302, 302, 302),
    "quizzes.start":               (LOGIN,   302, 302, 302, 302, 302),
    # A's attempt: nobody else's, not even an instructor's or admin's, to open or answer
    "quizzes.attempt":             (LOGIN,   200, 404, 404, 404, 404),
    "quizzes.submit":              (LOGIN,   302, 404, 404, 404, 404),
    # A's certificate: A, A's cohort instructor X and admins see it; B and Y do not
    "certificates.mine":           (LOGIN,   200, 200, 200, 200, 200),
    "certificates.claim":          (LOGIN,   302, 404, 404, 404, 404),  # already claimed
    "certificates.show":           (LOGIN,   200, 404, 200, 404, 200),
    "certificates.download":       (LOGIN,   200, 404, 200, 404, 200),
    "certificates.reissue":        (LOGIN,   403, 404, 302, 404, 302),  # holders cannot
    "certificates.revoke":         (LOGIN,   403, 404, 302, 404, 302),
    "certificates.reinstate":      (LOGIN,   403, 404, 302, 404, 302),  # no reason: back
    "certificates.unblock":        (LOGIN,   403, 404, 302, 404, 302),
    "verify.index":                (200,     200, 200, 200, 200, 200),
    "verify.show":                 (200,     200, 200, 200, 200, 200),
    "verify.upload":               (400,     400, 400, 400, 400, 400),  # no file sent
    # X's cohort, which A joined
    "cohorts.mine":                (LOGIN,   200, 200, 200, 200, 200),
    "cohorts.confirm":             (LOGIN,   200, 200, 200, 200, 200),  # the code is the key
    "cohorts.join":                (LOGIN,   400, 400, 400, 400, 400),
    "cohorts.leave":               (LOGIN,   200, 404, 404, 404, 404),  # members; asks first
    "instructor.index":            (LOGIN,   403, 403, 200, 200, 200),
    "instructor.create":           (LOGIN,   403, 403, 400, 400, 400),
    "instructor.add_instructor":   (LOGIN,   403, 403, 400, 404, 400),  # no e-mail given
    "instructor.all_items":        (LOGIN,   403, 403, 200, 200, 200),
    "instructor.dashboard":        (LOGIN,   403, 403, 200, 404, 200),
    "instructor.cohort_items":     (LOGIN,   403, 403, 200, 404, 200),
    "instructor.export":           (LOGIN,   403, 403, 200, 404, 200),
    "instructor.learner":          (LOGIN,   403, 403, 200, 404, 200),  # A, in X's cohort
    "instructor.attempt":          (LOGIN,   403, 403, 200, 404, 200),  # A's, closed
    "instructor.records":          (LOGIN,   403, 403, 200, 404, 200),
    "instructor.project":          (LOGIN,   403, 403, 200, 404, 200),
    "instructor.rotate_codes":     (LOGIN,   403, 403, 302, 404, 302),
    "instructor.archive":          (LOGIN,   403, 403, 302, 404, 302),
    "instructor.restore":          (LOGIN,   403, 403, 302, 404, 302),
    # A, in X's cohort, archived by then (POSTs go in name order): back to its dashboard
    "instructor.remove":           (LOGIN,   403, 403, 302, 404, 302),
    # A, not an instructor, of X's cohort, archived by then: back to its dashboard
    "instructor.remove_instructor": (LOGIN,  403, 403, 302, 404, 302),
    "admin.users":                 (LOGIN,   403, 403, 403, 403, 200),
    "admin.update_user":           (LOGIN,   403, 403, 403, 403, 302),
    "admin.create_user":           (LOGIN,   403, 403, 403, 403, 400),  # no name or e-mail
    "admin.send_reset":            (LOGIN,   403, 403, 403, 403, 302),  # A's link mailed
    "admin.delete_user":           (LOGIN,   403, 403, 403, 403, 200),  # A: asks first
    "admin.certificates":          (LOGIN,   403, 403, 403, 403, 200),
    "admin.withdraw_certificate":  (LOGIN,   403, 403, 403, 403, 302),  # unconfirmed: back
    "admin.outbox":                (LOGIN,   403, 403, 403, 403, 200),
    "admin.retry_outbox":          (LOGIN,   403, 403, 403, 403, 302),  # B's failed mail
    # Development only (ENV is not production here): production has no such route.
    "dev.mail":                    (200,     200, 200, 200, 200, 200),
}
# fmt: on


def test_every_route_has_an_explicit_rule(app):
    routes = {rule.endpoint for rule in rules(app)}
    assert not routes - EXPECTED.keys(), "new route without an explicit rule in EXPECTED"
    assert not EXPECTED.keys() - routes, "EXPECTED names routes the app no longer has"
    assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())
    assert set(ROLES) == {*COLUMNS, *SAME_AS}


def expected_of(endpoint: str, role: str) -> int | str:
    return EXPECTED[endpoint][COLUMNS.index(SAME_AS.get(role, role))]


def outcome_matches(response, expected: int | str) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response.location.startswith(LOGIN_PATH)
    if expected == 302 and response.location and response.location.startswith(LOGIN_PATH):
        return False  # an allowed person is not sent to log in
    return response.status_code == expected


FLASHES = re.compile(r'<div class="flashes" role="status">.*?</div>', re.S)


def leaked(world: World, role: str, response) -> list[str]:
    """A's data or X's cohort name on a page that refused someone else."""
    if role == "A" or response.status_code not in (403, 404):
        return []
    private = [*world.secrets_of_a(), world.cohort_names["X"]]
    # Not the person's own messages: a flash from their earlier request (X archiving its
    # cohort, say) shows on the next page rendered, whichever that is.
    body = FLASHES.sub("", response.get_data(as_text=True))
    return [text for text in private if text in body]


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(world, role):
    client = world.client(role)
    wrong = []
    for rule in rules(world.app):
        expected = expected_of(rule.endpoint, role)
        response = request_rule(client, world, rule)
        if not outcome_matches(response, expected):
            wrong.append(
                f"{rule.endpoint} {url_of(world, rule)}: expected {expected}, "
                f"got {response.status_code} {response.location or ''}"
            )
        if leaks := leaked(world, role, response):
            wrong.append(f"{rule.endpoint}: the {response.status_code} page shows {leaks}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


def test_get_on_a_post_only_route_is_405_for_everyone(world):
    adapter = world.app.url_map.bind("localhost")
    post_only = []
    for rule in rules(world.app):
        url = url_of(world, rule)
        try:
            adapter.match(url, method="GET")
        except MethodNotAllowed:
            post_only.append(url)
        except NotFound:  # e.g. /verify/upload is, for GET, a (malformed) certificate code
            pass
    assert len(post_only) > 10
    for role in ("anonymous", "A"):
        client = world.client(role)
        for url in post_only:
            assert client.get(url).status_code == 405, (role, url)


def test_other_peoples_objects_do_not_exist(world):
    """Beyond the table: objects that belong to someone else answer 404, showing nothing."""
    a, x_cohort, y_cohort = world.ids["A"], world.x_cohort, world.y_cohort
    cases = [
        ("X", f"/instructor/cohorts/{y_cohort}"),  # Y's cohort
        ("Z", f"/instructor/cohorts/{y_cohort}"),  # a co-instructor of X's cohort only
        ("Z", f"/instructor/cohorts/{y_cohort}/learners/{a}"),
        ("X", f"/instructor/cohorts/{y_cohort}/export.csv"),
        ("X", f"/instructor/cohorts/{y_cohort}/learners/{a}"),
        ("Y", f"/instructor/cohorts/{y_cohort}/learners/{a}"),  # A is not in Y's cohort
        ("X", f"/instructor/cohorts/{x_cohort}/learners/{world.ids['B']}"),  # nor B in X's
        ("Y", f"/instructor/cohorts/{y_cohort}/learners/{a}/attempts/{world.attempt}"),
        # A's attempt under B's name: the attempt must be the member's own
        ("X", f"/instructor/cohorts/{x_cohort}/learners/{world.ids['B']}/attempts/{world.attempt}"),
        ("X", f"/instructor/cohorts/{x_cohort}/learners/{a}/attempts/999999"),
        ("Y", f"/certificates/{world.certificate}/pdf"),
        ("B", f"/certificates/claim/{world.attempt}"),
        ("A", f"/cohorts/{y_cohort}/leave"),
        ("admin", "/instructor/cohorts/999999"),
        ("A", "/quizzes/attempts/999999"),
    ]
    clients = {role: world.client(role) for role in {role for role, _ in cases}}
    for role, url in cases:
        client = clients[role]
        response = client.post(url) if url.endswith("/leave") else client.get(url)
        assert response.status_code == 404, (role, url, response.status_code)
        assert not leaked(world, role, response), (role, url)
