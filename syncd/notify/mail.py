"""Email: plain text, to a relay over SMTP or through the local sendmail program."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def message(sender: str, to: tuple[str, ...], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(body)
    return msg


def describe(cfg) -> str:
    return f"email via {cfg.smtp}" if cfg.smtp else f"email via {cfg.sendmail}"


def send(cfg, msg: EmailMessage, timeout: float) -> None:
    if cfg.smtp:
        from syncd.config.values import parse_host_port

        host, port = parse_host_port(cfg.smtp)
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.send_message(msg)
    else:
        from syncd.tools.sendmail import sendmail

        sendmail(cfg.sendmail, msg.as_bytes(), timeout=timeout)
