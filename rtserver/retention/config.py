"""The retention section of the configuration: each kind's rule, the sweep's interval and budget.

Built from the flat settings (``retention_*_days``, ``redis_idempotency_ttl_s``,
``interview_outcomes_retention_days``, ``retention_sweep_s``, ``retention_batch``, ``retention_max_batches``,
``retention_batch_pause_s``: ``sections.FIELDS["retention"]``) by ``RetentionConfig.from_settings``.
The anchors are fixed per kind, and justified in docs/retention.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .policy import Anchor, Kind, PassBudget, Rule

__all__ = ["ANCHORS", "RetentionConfig"]

DAY_S = 86_400.0

ANCHORS: dict[Kind, Anchor] = {
    Kind.MESSAGES: Anchor.CREATED, Kind.IDEMPOTENCY_KEYS: Anchor.CREATED, Kind.PRECALL_RESULTS: Anchor.CREATED,
    Kind.CALLBACKS: Anchor.CREATED, Kind.APPOINTMENTS: Anchor.SCHEDULED, Kind.WEBHOOK_OUTBOX: Anchor.CREATED,
    Kind.INTERVIEW_OUTCOMES: Anchor.CREATED,  # the interview's start
}


@dataclasses.dataclass(frozen=True, slots=True)
class RetentionConfig:
    rules: Mapping[Kind, Rule]
    budget: PassBudget
    sweep_s: float

    @classmethod
    def from_settings(cls, s: Any) -> RetentionConfig:
        """Raises ValueError for a negative retention or an empty budget."""
        keep_s = {Kind.MESSAGES: s.retention_messages_days * DAY_S,
                  Kind.CALLBACKS: s.retention_callbacks_days * DAY_S,
                  Kind.APPOINTMENTS: s.retention_appointments_days * DAY_S,
                  Kind.PRECALL_RESULTS: s.retention_precall_results_days * DAY_S,
                  Kind.WEBHOOK_OUTBOX: s.retention_webhook_outbox_days * DAY_S,
                  Kind.IDEMPOTENCY_KEYS: s.redis_idempotency_ttl_s,
                  Kind.INTERVIEW_OUTCOMES: s.interview_outcomes_retention_days * DAY_S}
        if s.retention_sweep_s <= 0:
            raise ValueError("retention_sweep_s must be above 0")
        return cls({kind: Rule(kind, float(v), ANCHORS[kind]) for kind, v in keep_s.items()},
                   PassBudget(s.retention_batch, s.retention_max_batches, s.retention_batch_pause_s),
                   s.retention_sweep_s)
