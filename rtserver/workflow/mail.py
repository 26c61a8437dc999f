"""Outgoing mail through SMTP (aiosmtplib): digests and appointment reminders.

Mail is best effort: a failure is logged and counted (``rtserver_workflow_mails{outcome}``)
and the caller decides whether to try again later; nothing waits on SMTP while handling a
client's request. Replies are made on the web, so mails carry no reply address of their own.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib
from prometheus_client import CollectorRegistry, Counter

from .settings import SmtpConfig

__all__ = ["Mailer"]

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, config: SmtpConfig, *, registry: CollectorRegistry):
        self._config = config
        self.sent = Counter("rtserver_workflow_mails", "mails handed to the SMTP server, by outcome", ["outcome"],
                            registry=registry)

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    async def send(self, to: str, subject: str, body: str) -> bool:
        """True once the SMTP server accepted the mail; False (logged) when it did not or mail is off."""
        c = self._config
        if not c.enabled or not to:
            return False
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = c.sender, to, subject
        message.set_content(body)
        try:
            await aiosmtplib.send(message, hostname=c.host, port=c.port, username=c.user or None,
                                  password=c.password or None, use_tls=c.tls == "tls",
                                  start_tls=True if c.tls == "starttls" else False, timeout=c.timeout_s)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Neither the address nor the server's text (which often quotes it) goes to the log: personal
            # data stays out of logs by default. The exception's class and SMTP code say what went wrong.
            log.warning("a mail failed: %s %s", type(exc).__name__, getattr(exc, "code", ""))
            self.sent.labels("failed").inc()
            return False
        self.sent.labels("sent").inc()
        return True
