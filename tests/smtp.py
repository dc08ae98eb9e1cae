"""Real SMTP servers on loopback for the outbox tests (aiosmtpd): one that accepts, one that is
down (a closed port), one that is slow, one that refuses a recipient, one that stops mid-DATA.

Each server runs on aiosmtpd's own thread and event loop (its `Controller`); the handlers
are plain aiosmtpd handlers (`handle_RCPT`, `handle_DATA`), and what they received is kept
for the test to read.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A loopback port no one listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    """Poll `condition` until it is true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts.

    `refuse`: addresses answered 550 at RCPT. `delay`: seconds DATA waits before its
    answer (a slow server). `hold`: while this event is clear, the DATA of the message
    after `hold_after` accepted ones is kept (in `held`) and never answered, as a server
    does that stops mid-delivery.
    """

    def __init__(
        self,
        refuse: tuple[str, ...] = (),
        delay: float = 0.0,
        hold: threading.Event | None = None,
        hold_after: int = 0,
    ) -> None:
        self.refuse = set(refuse)
        self.delay = delay
        self.hold = hold
        self.hold_after = hold_after
        self.messages: list[EmailMessage] = []
        self.held: list[EmailMessage] = []
        self.connections = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        hold = self.hold
        if hold is not None and not hold.is_set() and len(self.messages) == self.hold_after:
            self.held.append(message)
            while not hold.is_set():  # the client waits for an answer that never comes
                await asyncio.sleep(0.05)
            return "451 4.3.0 Too late"
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(message)
        return "250 Message accepted for delivery"


class CountingController(Controller):
    """aiosmtpd's Controller, counting the SMTP sessions clients open (`factory` is called
    once per connection; the controller opens one itself to check it started)."""

    def __init__(self, handler: Inbox, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sessions = 0

    def factory(self) -> Any:
        self.sessions += 1
        return super().factory()


@contextmanager
def smtp_server(handler: Inbox) -> Iterator[CountingController]:
    """`handler` serving SMTP on a loopback port (controller.port) while the block runs."""
    controller = CountingController(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.sessions = 0  # the controller's own check that it started
    try:
        yield controller
    finally:
        if handler.hold is not None:
            handler.hold.set()  # let a held delivery end, so that the server can stop
        controller.stop()


def smtp_settings(port: int, timeout: float = 5) -> dict[str, Any]:
    """The app's settings for a plain SMTP server on loopback at `port`."""
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SMTP_HOST": "127.0.0.1",
        "MAIL_SMTP_PORT": port,
        "MAIL_SMTP_STARTTLS": False,
        "MAIL_SMTP_TIMEOUT": timeout,
    }
