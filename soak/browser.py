"""A small browser on http.client: cookies, CSRF tokens scraped from forms, requests spread
over the instances, and a retry on another instance when a connection fails."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlencode, urlsplit

from soak import HOST

TRIES = 12  # per request: enough to outlast an instance's restart, still a bound
TIMEOUT = 60  # seconds per try
CSRF_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*>')
VALUE = re.compile(r'\bvalue="([^"]*)"')


class JourneyError(RuntimeError):
    """A learner could not go on: an unexpected answer, or none after every retry."""


class Stopped(RuntimeError):
    """The run's time limit passed."""


def post_kind(path: str) -> str:
    """What a POST does, for the figures: register, read, acknowledge, start, submit, claim."""
    parts = path.strip("/").split("/")
    if parts[-1].isdigit():
        return "submit" if parts[-2] == "attempts" else parts[-2]
    return "start" if parts[-1] == "attempts" else parts[-1]


@dataclass
class Traffic:
    """What every browser sent and got, shared by all threads."""

    ports: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    by_port: Counter[int] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    by_port_after_restart: Counter[int] = field(default_factory=Counter)
    restarted_at: float | None = None
    retries: int = 0
    retried_posts: int = 0
    retry_causes: Counter[str] = field(default_factory=Counter)
    retried_post_kinds: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def answered(self, port: int, status: int, seconds: float, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.by_port[port] += 1
            self.by_status[status] += 1
            self.latencies.append(seconds)
            if self.restarted_at is not None:
                self.by_port_after_restart[port] += 1
            if status >= 500:
                self.server_errors.append(f"{status} {what} on :{port}")

    def failed(self, method: str, path: str, error: BaseException) -> None:
        with self.lock:
            self.retries += 1
            self.retry_causes[type(error).__name__] += 1
            if method == "POST":
                self.retried_posts += 1
                self.retried_post_kinds[post_kind(path)] += 1


@dataclass
class Page:
    status: int
    location: str | None
    body: bytes
    port: int
    tries: int  # 1 unless a connection failed and the request was sent again

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def path(self) -> str | None:
        """The redirect target as a local path."""
        if self.location is None:
            return None
        parts = urlsplit(self.location)
        return parts.path + (f"?{parts.query}" if parts.query else "")


class Browser:
    """One learner's browser: its own cookies, sending each request to the next instance."""

    def __init__(self, traffic: Traffic, first: int = 0) -> None:
        self.traffic = traffic
        self.cookies: dict[str, str] = {}
        self.turn = first
        self.csrf_token: str | None = None

    def get(self, path: str) -> Page:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, list[str] | str] | None = None) -> Page:
        if self.csrf_token is None:
            raise JourneyError(f"POST {path} before any page gave a CSRF token")
        return self.request("POST", path, {"csrf_token": self.csrf_token, **(form or {})})

    def request(
        self, method: str, path: str, form: dict[str, list[str] | str] | None = None
    ) -> Page:
        body = urlencode(form, doseq=True).encode() if form is not None else None
        last: BaseException | None = None
        for tries in range(1, TRIES + 1):
            if self.traffic.stop.is_set():
                raise Stopped(f"{method} {path}: the run's time limit passed")
            port = self.traffic.ports[self.turn % len(self.traffic.ports)]
            self.turn += 1
            headers = {"Connection": "close"}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            started = time.monotonic()
            connection = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                # Refused (instance down) or cut off (instance killed mid-request): send it
                # again, to the other instance, after a pause that grows.
                last = error
                self.traffic.failed(method, path, error)
                time.sleep(min(0.05 * 2**tries, 2.0))
                continue
            finally:
                connection.close()
            self.traffic.answered(
                port, response.status, time.monotonic() - started, f"{method} {path}"
            )
            for header in response.msg.get_all("Set-Cookie") or []:
                self._keep(header)
            page = Page(response.status, response.getheader("Location"), data, port, tries)
            if response.getheader("Content-Type", "").startswith("text/html"):
                field_ = CSRF_INPUT.search(page.text)
                value = VALUE.search(field_.group(0)) if field_ else None
                if value:
                    self.csrf_token = unescape(value.group(1))
            return page
        raise JourneyError(f"{method} {path}: no answer after {TRIES} tries ({last!r})")

    def _keep(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        attrs = {a.strip().split("=", 1)[0].lower(): a.strip() for a in attributes}
        expired = "max-age" in attrs and attrs["max-age"].lower() == "max-age=0"
        expired = expired or "1970" in attrs.get("expires", "")
        if expired or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def expect(self, page: Page, status: int, what: str, location: str | None = None) -> Page:
        if page.status != status or (location is not None and page.path != location):
            raise JourneyError(
                f"{what}: expected {status}{' to ' + location if location else ''}, "
                f"got {page.status} {page.path or ''} on :{page.port}"
            )
        return page
