"""Appointment times as people read them in mails and stored notices.

A time in a mail is read by someone with no page to convert it: it is given on the service's
clock (``working_timezone``) and names it, "le 02/12/2026 à 11:44 (heure de Europe/Paris)".
In UTC, as before, a jobseeker in Paris read 10:44 for an 11:44 interview (two hours off in
summer). Pages do not read these texts' times: a notice carries its instant in ``data``
(docs/workflow.md#notices) and the page writes it in its reader's zone and language.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["service_time"]


def service_time(ms: int, zone: ZoneInfo) -> str:
    """``ms`` (since the epoch) on the service's clock, with the zone named."""
    local = dt.datetime.fromtimestamp(ms / 1000, tz=zone)
    return f"{local:%d/%m/%Y à %H:%M} (heure de {zone.key})"
