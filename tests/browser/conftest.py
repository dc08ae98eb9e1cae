"""Browser fixtures: the real app under gunicorn, Debian's chromium driven by Playwright, axe-core.

The browser tests are skipped when chromium is missing or cannot start, unless
LEARNAPP_REQUIRE_BROWSER=1 or CI=true says they must run: then that is a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 20.0  # seconds; gunicorn with two workers starts in about one
ACTION_TIMEOUT_MS = 10_000  # a local page that takes longer than this is a failure, not a wait


def browser_required() -> bool:
    return os.environ.get("LEARNAPP_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true"


def browser_unavailable(reason: str) -> None:
    """Skip, or fail where the browser tests are mandatory."""
    if browser_required():
        pytest.fail(f"{reason} (browser tests are required here)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """The app under gunicorn on a fixed port and database, which can be restarted."""

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        # memory:// throttles count per worker: a test of a throttle's count needs one.
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        # Only our LEARNAPP_* settings: none leak in from the shell running the tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNAPP_")}
        env.update(
            LEARNAPP_INSTANCE_PATH=str(workdir / "instance"),
            LEARNAPP_DATABASE_URL=f"sqlite:///{workdir / 'browser.sqlite3'}",
            LEARNAPP_SECRET_KEY=f"browser-tests-{secrets.token_hex(16)}",
            LEARNAPP_PASSWORD_ARGON2_MEMORY_KIB="8",  # the lowest cost: tests hash many
            LEARNAPP_PASSWORD_ARGON2_TIME_COST="1",
            LEARNAPP_RATELIMIT_STORAGE_URL="memory://",
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def flask(self, *args: str) -> str:
        """Run a `flask --app learnapp` command against this server's database and settings
        (`users create ...`); returns its output, fails the test if the command fails."""
        result = subprocess.run(  # noqa: S603 (our own CLI, arguments from the tests)
            [str(VENV_BIN / "flask"), "--app", "learnapp", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def migrate(self) -> None:
        self.flask("db", "upgrade")

    def start(self) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (fixed arguments)
                [
                    str(VENV_BIN / "gunicorn"),
                    "--workers",
                    str(self.workers),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--graceful-timeout",
                    "5",
                    "learnapp:create_app()",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310 (our own http URL)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as problem:
                error = problem
            # Waiting on the process is the pause between polls, and notices a crash at once.
            try:
                code = self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            self.process = None
            pytest.fail(f"gunicorn exited with {code} at start-up:\n{self.log_tail()}")
        self.stop()
        pytest.fail(
            f"gunicorn did not answer /healthz within {SERVER_START_TIMEOUT} s ({error}):\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same port and database."""
        self.stop()
        self.start()


def serve(tmp_path_factory: pytest.TempPathFactory, workers: int = 2) -> Iterator[LiveServer]:
    """A migrated, started LiveServer in a folder of its own, stopped after its test module."""
    server = LiveServer(tmp_path_factory.mktemp("live_server"), workers=workers)
    server.migrate()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app under gunicorn, with its own instance folder and SQLite database."""
    yield from serve(tmp_path_factory)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        browser_unavailable(f"{CHROMIUM} is missing: sudo apt-get install chromium")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except PlaywrightError as error:
        playwright.stop()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        browser_unavailable(f"Playwright cannot launch {CHROMIUM}: {first_line}")
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: new_page(**context_options) -> a page in a fresh context, closed at teardown.

    Pages whose context enforces our CSP fail the test at teardown if the browser reported a
    CSP violation (inline script or style sneaking into a template)."""
    contexts: list[Any] = []
    violations: list[str] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if not options.get("bypass_csp"):
            page.on(
                "console",
                lambda message: (
                    violations.append(f"{page.url}: {message.text}")
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, "CSP violations:\n" + "\n".join(violations)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page in a fresh context (no cookies), with our CSP enforced."""
    return new_page()


SERIOUS_IMPACTS = ("serious", "critical")


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"    at {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = node.get("failureSummary")
            if summary:
                lines.extend(f"      {line}" for line in summary.splitlines())
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe() -> Callable[[Page], None]:
    """axe(page): axe-core on the current page; fails on a serious or critical violation.

    The page's context needs bypass_csp=True: our CSP forbids the script axe injects."""
    from axe_playwright_python.sync_playwright import Axe

    runner = Axe()

    def check(page: Page) -> None:
        results = runner.run(page)
        serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS_IMPACTS]
        if serious:
            pytest.fail(
                f"axe-core found serious or critical violations on {page.url}:\n"
                f"{format_violations(serious)}",
                pytrace=False,
            )

    return check
