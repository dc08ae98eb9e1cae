"""Outgoing e-mail: to the console or a folder by default, to SMTP by configuration."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

from flask import current_app


def send(to: str, subject: str, body: str) -> None:
    """Send a plain-text message through the configured MAIL_BACKEND."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    backend = config["MAIL_BACKEND"]
    if backend == "smtp":
        with smtplib.SMTP(config["MAIL_SMTP_HOST"], config["MAIL_SMTP_PORT"], timeout=20) as smtp:
            if config["MAIL_SMTP_STARTTLS"]:
                smtp.starttls()
            if config["MAIL_SMTP_USER"]:
                smtp.login(config["MAIL_SMTP_USER"], config["MAIL_SMTP_PASSWORD"])
            smtp.send_message(message)
    elif backend == "folder":
        folder = Path(config["MAIL_FOLDER"] or Path(current_app.instance_path) / "mail")
        folder.mkdir(parents=True, exist_ok=True)
        count = len(list(folder.glob("*.eml")))
        (folder / f"{count + 1:06d}.eml").write_bytes(bytes(message))
    else:
        current_app.logger.warning("e-mail (console backend):\n%s", message)
