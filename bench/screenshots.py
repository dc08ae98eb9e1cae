"""`make screenshots` (`python -m bench.screenshots`): the README's pictures in
docs/screenshots/, which change only when the pages do.

Whatever else would differ between two runs is fixed here:
- time: the app runs in this process (werkzeug's server, in a thread) on a clock that this
  script sets and moves. `learnapp.db.utcnow`, through which the app reads the time (column
  defaults included), reads that clock; the browser's clock is frozen at the same moment
  (Playwright's `clock.set_fixed_time`);
- chance: the certificate and join codes, and the final quiz's draw, come from a seeded
  `random.Random` instead of `secrets`, in this process only;
- data: a new SQLite database each run, the demo's seeded cohort (`flask demo --learners 24`,
  itself deterministic but for the time and the codes above), and learners walked through the
  app's own routes by bench/pages.py;
- the browser: Debian's chromium as the browser tests launch it, a fixed viewport and scale,
  animations off, the caret hidden.
The certificate's picture is the first page of its stored PDF, drawn by pdftoppm.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from bench import ROOT
from bench.fixtures import INSTRUCTOR_EMAIL, LESSON, Login, login
from bench.pages import Visitor, account, walk
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

OUT = ROOT / "docs" / "screenshots"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
SEED = 22
VIEWPORT = {"width": 1100, "height": 860}
PUBLIC_URL = "https://learn.example.org"
DEMO_LEARNERS = 24
PDF_DPI = 80  # an A4 landscape page at about 930 pixels wide


class Clock:
    """The time the app reads in this process: set by the script, never by the wall."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def move(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def install(self) -> None:
        """learnapp.db.utcnow() is `datetime.now(UTC)` on learnapp.db's `datetime`: that
        name, and so every time the app takes, now reads this clock."""
        import learnapp.db

        clock = self

        class ClockTime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> datetime:
                return clock.now.astimezone(tz) if tz else clock.now.replace(tzinfo=None)

        learnapp.db.datetime = ClockTime  # type: ignore[misc]


def seed_chance(seed: int) -> None:
    """Codes and the quiz's draw from one seeded generator, in this process only."""
    import learnapp.certificates
    import learnapp.cohorts
    import learnapp.grading

    rng = random.Random(seed)  # pictures of demo data, not security
    seeded = types.SimpleNamespace(
        **{**vars(secrets), "randbits": rng.getrandbits, "choice": rng.choice}
    )
    learnapp.certificates.secrets = seeded  # type: ignore[attr-defined]
    learnapp.cohorts.secrets = seeded  # type: ignore[attr-defined]
    draw = learnapp.grading.draw_questions

    def seeded_draw(quiz: Any, chance: random.Random) -> list[dict[str, Any]]:
        return draw(quiz, rng if isinstance(chance, random.SystemRandom) else chance)

    learnapp.grading.draw_questions = seeded_draw  # type: ignore[assignment]


def make_app(workdir: Path) -> Flask:
    for name in [name for name in os.environ if name.startswith(("LEARNAPP_", "FLASK_"))]:
        del os.environ[name]  # only the settings below: none leak in from the shell
    os.environ["LEARNAPP_INSTANCE_PATH"] = str(workdir / "instance")
    from learnapp import create_app

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'screenshots.sqlite3'}",
            "SECRET_KEY": "screenshots-" + "0" * 52,
            "PUBLIC_URL": PUBLIC_URL,
            "TIME_ZONE": "UTC",
        }
    )
    runner = app.test_cli_runner()
    for command in (["db", "upgrade"], ["demo", "--learners", str(DEMO_LEARNERS)]):
        result = runner.invoke(args=command)
        if result.exit_code != 0:
            raise RuntimeError(f"flask {' '.join(command)} failed:\n{result.output}")
    return app


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, in this process (and so on its clock). Every
    request names PUBLIC_URL's host, so that the links a page shows in full (a cohort's join
    link) do not carry the port of the day. (Not its https: Flask-WTF would then want a
    Referer on each form post.)"""
    host = urlsplit(PUBLIC_URL).netloc

    def public_host(environ: dict[str, Any], start_response: Any) -> Any:
        environ["HTTP_HOST"] = host
        return app.wsgi_app(environ, start_response)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, public_host, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def instructor_login(app: Flask) -> tuple[Login, int]:
    """The demo instructor's login, and their demo cohort's id."""
    from learnapp.models import Cohort, User

    with app.app_context():
        session = app.extensions["learnapp.sessionmaker"]()
        try:
            instructor = session.scalar(select(User).where(User.email == INSTRUCTOR_EMAIL))
            cohort = session.scalar(select(Cohort.id).where(Cohort.instructor_id == instructor.id))
            return login(app, session, instructor.id), cohort
        finally:
            session.close()


def shoot(browser: Any, clock: Clock, base: str, path: str, out: Path, cookie: str = "") -> None:
    context = browser.new_context(
        viewport=VIEWPORT,
        device_scale_factor=1,
        locale="en-GB",
        timezone_id="UTC",
        color_scheme="light",
        reduced_motion="reduce",
    )
    try:
        if cookie:
            name, _, value = cookie.partition("=")
            context.add_cookies([{"name": name, "value": value, "url": base}])
        page = context.new_page()
        page.clock.set_fixed_time(clock.now)
        response = page.goto(base + path, wait_until="networkidle")
        if response is None or response.status != 200:
            raise RuntimeError(f"{path}: {response.status if response else 'no response'}")
        page.screenshot(path=str(out), animations="disabled", caret="hide")
    finally:
        context.close()


def certificate_picture(visitor: Visitor, code: str, out: Path, workdir: Path) -> None:
    source = workdir / "certificate.pdf"
    source.write_bytes(visitor.get(f"/certificates/{code}/pdf"))
    subprocess.run(
        [
            *("pdftoppm", "-png", "-r", str(PDF_DPI), "-f", "1", "-l", "1", "-singlefile"),
            str(source),
            str(out.with_suffix("")),  # pdftoppm adds .png
        ],
        check=True,
        timeout=60,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = parser.parse_args(argv)
    for needed in (CHROMIUM, "/usr/bin/pdftoppm"):
        if not Path(needed).exists():
            print(f"{needed} is missing: sudo apt-get install chromium poppler-utils")
            return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    clock = Clock(START)
    clock.install()
    seed_chance(SEED)
    with tempfile.TemporaryDirectory(prefix="learnapp-screenshots-") as tmp:
        workdir = Path(tmp)
        app = make_app(workdir)  # the demo, at 09:00
        with serving(app) as base:
            clock.move(hours=1)
            journey = walk(app, base)  # read, passed and certified at 10:00
            clock.move(hours=1)
            reader = Visitor(base, account(app, "sam.okafor@example.com", "Sam Okafor"))
            lesson = app.extensions["learnapp.content"].lessons[LESSON]
            for section in lesson.sections[:3]:
                clock.move(minutes=6)
                reader.post(f"/lessons/{LESSON}/sections/{section.slug}/read")
            clock.move(minutes=20)
            instructor, cohort = instructor_login(app)
            graduate = journey.pages[0].cookie
            pictures = [
                ("learner.png", f"/lessons/{LESSON}/", reader.login.cookie),
                ("instructor.png", f"/instructor/cohorts/{cohort}", instructor.cookie),
                ("verify.png", f"/verify/{journey.certificate_code}", ""),
            ]
            written = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    for name, path, cookie in pictures:
                        shoot(browser, clock, base, path, args.out / name, cookie)
                        written.append(args.out / name)
                finally:
                    browser.close()
            certificate = args.out / "certificate.png"
            certificate_picture(
                Visitor(base, Login(0, graduate, "")),
                journey.certificate_code,
                certificate,
                workdir,
            )
            written.append(certificate)
        from learnapp.db import dispose

        dispose(app)
    for path in written:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
