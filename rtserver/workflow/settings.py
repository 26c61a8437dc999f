"""The workflow's view of the configuration, validated once, with its two secrets.

The SMTP password and the webhook secret are not ``Settings`` fields (every field is also a
command-line flag, and flags show in ``ps``): they come from ``RTSERVER_SMTP_PASSWORD`` and
``RTSERVER_WEBHOOK_SECRET``, or from the files named by ``smtp_password_file`` and
``webhook_secret_file``. There is no default for either.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import Settings
from .working_time import WorkingCalendar, service_zone

__all__ = ["SmtpConfig", "WebhookConfig", "WorkflowConfig"]

TLS_MODES = ("starttls", "tls", "none")
MAIL_CONTENTS = ("none", "preview")
MIN_WEBHOOK_SECRET_CHARS = 16
DAY_MS = 86_400_000


def _secret(environ: Mapping[str, str], name: str, path: str) -> str:
    value = environ.get(name, "")
    if not value and path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    tls: str
    user: str
    password: str
    sender: str
    timeout_s: float

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookConfig:
    urls: tuple[str, ...]
    secret: str
    max_attempts: int
    retry_base_s: float
    retry_max_s: float
    timeout_s: float
    queue_max: int
    recover_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowConfig:
    portfolio_cap: int
    near_cap_ratio: float
    callback_sla_ms: int
    calendar: WorkingCalendar | None  # None: service levels count calendar time
    callback_max_open: int
    callback_max_horizon_ms: int
    cover_max_ms: int
    reply_sla_ms: int
    digest_delay_ms: int
    digest_max_messages: int
    mail_preview: bool  # mail_content=preview: digests quote the start of each message
    reminder_leads_s: tuple[int, ...]  # largest first
    missed_after_ms: int
    max_duration_min: int
    tick_s: float
    membership_repair_ms: int
    figures_window_ms: int
    figures_refresh_s: float
    smtp: SmtpConfig
    webhooks: WebhookConfig
    zone: ZoneInfo  # working_timezone: the service's clock, in which mails give times

    def deadline_ms(self, start_ms: int, sla_ms: int) -> int:
        """When a service level of ``sla_ms`` started at ``start_ms`` runs out (in working time
        when ``working_hours`` is set)."""
        return start_ms + sla_ms if self.calendar is None else self.calendar.add(start_ms, sla_ms)

    @classmethod
    def from_settings(cls, s: Settings, environ: Mapping[str, str] | None = None) -> WorkflowConfig:
        """Raises ValueError for settings that cannot work."""
        environ = os.environ if environ is None else environ
        try:
            leads = sorted({int(float(x)) for x in s.appointment_reminders_s.split(",") if x.strip()}, reverse=True)
        except ValueError:
            raise ValueError("appointment_reminders_s: expected comma-separated seconds, e.g. 86400,900") from None
        if any(lead <= 0 for lead in leads):
            raise ValueError("appointment_reminders_s: lead times must be positive")
        if s.mail_content not in MAIL_CONTENTS:
            raise ValueError(f"mail_content must be one of {', '.join(MAIL_CONTENTS)}")
        if s.smtp_tls not in TLS_MODES:
            raise ValueError(f"smtp_tls must be one of {', '.join(TLS_MODES)}")
        if (s.portfolio_cap < 1 or s.callback_max_open < 1 or s.webhook_max_attempts < 1 or s.webhook_queue_max < 1
                or s.callback_max_horizon_days < 1 or s.cover_max_days < 1):
            raise ValueError("portfolio_cap, callback_max_open, webhook_max_attempts, webhook_queue_max, "
                             "callback_max_horizon_days, cover_max_days: at least 1")
        if s.workflow_tick_s <= 0 or s.figures_refresh_s <= 0 or s.membership_repair_s <= 0:
            raise ValueError("workflow_tick_s, figures_refresh_s and membership_repair_s must be positive")
        urls = tuple(u.strip() for u in s.webhook_urls.split(",") if u.strip())
        if any(not u.startswith(("http://", "https://")) for u in urls):
            raise ValueError("webhook_urls must be http:// or https:// URLs")
        secret = _secret(environ, "RTSERVER_WEBHOOK_SECRET", s.webhook_secret_file)
        if urls and len(secret) < MIN_WEBHOOK_SECRET_CHARS:
            raise ValueError(f"webhooks need a secret of at least {MIN_WEBHOOK_SECRET_CHARS} characters: set "
                             "RTSERVER_WEBHOOK_SECRET or webhook_secret_file")
        if s.smtp_host and not s.smtp_sender:
            raise ValueError("smtp_host is set: smtp_sender (the From address) is required too")
        smtp = SmtpConfig(s.smtp_host, s.smtp_port, s.smtp_tls, s.smtp_user,
                          _secret(environ, "RTSERVER_SMTP_PASSWORD", s.smtp_password_file), s.smtp_sender,
                          s.smtp_timeout_s)
        if s.webhook_recover_s <= s.webhook_timeout_s:
            raise ValueError("webhook_recover_s must be longer than webhook_timeout_s (an attempt in flight "
                             "would be taken over)")
        hooks = WebhookConfig(urls, secret, s.webhook_max_attempts, s.webhook_retry_base_s, s.webhook_retry_max_s,
                              s.webhook_timeout_s, s.webhook_queue_max, s.webhook_recover_s)
        return cls(
            portfolio_cap=s.portfolio_cap, near_cap_ratio=s.portfolio_near_cap_ratio,
            callback_sla_ms=int(s.callback_sla_s * 1000),
            calendar=WorkingCalendar.parse(s.working_hours, s.working_timezone, s.holidays),
            callback_max_open=s.callback_max_open, callback_max_horizon_ms=s.callback_max_horizon_days * DAY_MS,
            cover_max_ms=s.cover_max_days * DAY_MS,
            reply_sla_ms=int(s.reply_sla_s * 1000), digest_delay_ms=int(s.digest_delay_s * 1000),
            digest_max_messages=s.digest_max_messages, mail_preview=s.mail_content == "preview",
            reminder_leads_s=tuple(leads),
            missed_after_ms=int(s.appointment_missed_after_s * 1000), max_duration_min=s.appointment_max_duration_min,
            tick_s=s.workflow_tick_s, membership_repair_ms=int(s.membership_repair_s * 1000),
            figures_window_ms=int(s.figures_window_s * 1000),
            figures_refresh_s=s.figures_refresh_s, smtp=smtp, webhooks=hooks, zone=service_zone(s.working_timezone))
