"""Mail backends: the console or a folder by default, SMTP by configuration.

Called by the outbox worker alone (outbox.HANDLERS["mail"]): a request enqueues a mail with
`outbox.enqueue_mail` and never talks to a mail server itself.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import current_app

from learnapp.outbox import PermanentFailure


def message_for(payload: dict[str, Any], sender: str) -> EmailMessage:
    """The message of an outbox row: its text as written at enqueue, its Message-ID and Date
    fixed then, so that every delivery of the row sends the same message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = payload["date"]
    message["Message-ID"] = payload["message_id"]
    message.set_content(payload["text"])
    return message


def deliver(payload: dict[str, Any]) -> None:
    """Send an outbox row's mail through MAIL_BACKEND; raise if it did not go."""
    config = current_app.config
    message = message_for(payload, config["MAIL_FROM"])
    backend = config["MAIL_BACKEND"]
    if backend == "smtp":
        _smtp(message, config)
    elif backend == "folder":
        folder = Path(config["MAIL_FOLDER"] or Path(current_app.instance_path) / "mail")
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob("*.eml")))
        while True:
            number += 1
            try:
                # "x": two workers writing at once never overwrite each other's file.
                with open(folder / f"{number:06d}.eml", "xb") as file:
                    file.write(bytes(message))
                return
            except FileExistsError:
                continue
    else:
        # The decoded text, not the wire form: quoted-printable would cut long links in two.
        headers = "".join(f"{name}: {message[name]}\n" for name in ("To", "Subject", "Message-ID"))
        current_app.logger.warning(
            "e-mail (console backend):\n%s\n%s", headers, message.get_content()
        )


def _smtp(message: EmailMessage, config: Any) -> None:
    with smtplib.SMTP(
        config["MAIL_SMTP_HOST"], config["MAIL_SMTP_PORT"], timeout=config["MAIL_SMTP_TIMEOUT"]
    ) as smtp:
        if config["MAIL_SMTP_STARTTLS"]:
            smtp.starttls()
        if config["MAIL_SMTP_USER"]:
            smtp.login(config["MAIL_SMTP_USER"], config["MAIL_SMTP_PASSWORD"])
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            # A 5xx answer to RCPT is the server's final word on that address; a 4xx one
            # (greylisting, a full mailbox) is worth the retries.
            answers = error.recipients.values()
            if all(500 <= code < 600 for code, _text in answers):
                said = "; ".join(
                    f"{code} {text.decode(errors='replace')}" for code, text in answers
                )
                raise PermanentFailure(f"the server refused the recipient: {said}") from error
            raise
