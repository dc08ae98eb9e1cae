"""docs/reliability.md: how reliability is tested, and the latest soak run's figures."""

from __future__ import annotations

from pathlib import Path

from soak.checks import Check

METHOD = """\
# Reliability

What happens when something fails half-way, and how we know. Three layers:

- **Faults injected in the unit suite** (`tests/test_reliability.py`, SQLite and PostgreSQL).
  A fault while a quiz is graded (before the atomic close, while the answer rows are built,
  when the database refuses their INSERT, at the flush) gives a plain 500 page and leaves the
  attempt `in_progress` with no answers; the same answers then submit normally, once. A fault
  while a certificate is issued (the render, the INSERT after it, the commit) leaves no
  certificate row; a retry issues exactly one, with its PDF. `flask backup` of a SQLite
  database that another thread keeps writing to gives a copy that passes
  `PRAGMA integrity_check`, and `flask restore --yes` brings those rows back.
- **Accounts** (`tests/test_accounts.py`): fresh login for e-mail, password and deletion,
  single-use and expiring reset links, sessions ended by a password change, remember-me,
  the data download and deletion.
- **The soak run** (`make soak`, below): a few minutes of whole learner journeys against two
  gunicorn instances sharing one PostgreSQL database, with one instance killed midway.

## The soak run

`make soak` (`python -m soak`; `--help` for the knobs) creates a database of its own
(`learnapp_soak_<random>`) on the PostgreSQL server at `postgresql+psycopg://postgres@127.0.0.1:5432/test`
(`--database` for another), runs `flask db upgrade`, and starts two gunicorn instances of
`learnapp:create_app()`, 2 sync workers each, on two free ports of 127.0.0.1. They share the
database, the secret key and, when Redis answers on 127.0.0.1:6379, the rate-limit storage
(login limits are lifted: every learner comes from 127.0.0.1).

Each simulated learner is a thread with its own cookie jar (stdlib `http.client`), sending
each request to the next instance in turn and taking the CSRF token from the last form it
was shown. It registers, reads the 7 sections, acknowledges the notice, starts the final
quiz, fails it on purpose (every field of the attempt form answered wrong), starts again,
passes (the keys come from `learnapp.content.load_content`, mapped to the display positions
by matching the option texts on the page), claims its certificate and downloads the PDF.

When 40% of the learners have finished, one instance is killed with SIGKILL (master and
workers at once) and started again on the same port. A request whose connection is refused
or cut off is sent again to the other instance (at most 12 tries, growing pauses), POSTs
included: the atomic close of an attempt, unique constraints and "issue once" make a
repeated POST safe, and the run records when a retry found its work already done.

Afterwards the database is checked row by row: every submission a learner got a success
answer for is stored exactly once, closed, with the intended result, and the learner has
no other graded attempt; no attempt is half-written (closed ones have exactly `draw`
answers, open ones none); every learner who passed holds exactly one valid certificate whose
stored PDF matches its SHA-256 and the PDF the learner downloaded. The database is dropped
and every process stopped at the end, whatever happened; the run exits non-zero when any
check fails.

Passwords are hashed at the production cost, Argon2id with m=19 MiB, t=2, p=1 (about 33 ms
of CPU a registration); the registration limits per address and site-wide are lifted, since
every learner registers from 127.0.0.1.

Every loop is bounded (learners, tries per request, a time limit for the whole run), and all
traffic stays on 127.0.0.1.
"""


def write(path: Path, figures: list[tuple[str, str]], checks: list[Check]) -> None:
    lines = [METHOD, "## Latest run", "", "| Figure | Value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in figures]
    lines += ["", "| Check | Result | Detail |", "|---|---|---|"]
    lines += [
        f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail.replace('|', '/')} |"
        for c in checks
    ]
    path.write_text("\n".join(lines) + "\n")
