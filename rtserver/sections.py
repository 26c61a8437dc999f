"""The configuration as each part of the node reads it: one frozen section per feature.

``Settings`` (``config.py``) stays one flat surface, because that is what a command line and an
environment are (``--max-frame-bytes``, ``RTSERVER_MAX_FRAME_BYTES``; README's table). The
composition root turns it into ``Sections`` once, at start-up, and hands each service or feature
its own section, never the whole ``Settings`` (ion-sfu and LiveKit give each component its
config struct the same way):

=================  ==============================  =============================================
section            class                           read by
=================  ==============================  =============================================
``store``          ``StoreConfig`` (+ ``redis``)   ``stores.create_store_family``
``chat``           ``ChatConfig``                  ``services.ChatService``
``media``          ``media.MediaConfig``           ``media.MediaService``
``media_routing``  ``MediaRoutingConfig``          ``media.routing.MediaRouting``
``precall``        ``PrecallConfig``               ``media.MediaService`` (echo rooms)
``outcomes``       ``OutcomesConfig``              ``outcomes.OutcomeRecorder``
``retention``      ``retention.RetentionConfig``   ``retention.RetentionSweeper`` (docs/retention.md)
``workflow``       ``workflow.WorkflowConfig``     ``workflow.Workflow`` (``smtp``, ``webhooks``
                                                   nested: ``SmtpConfig``, ``WebhookConfig``)
=================  ==============================  =============================================

Each section is built from a view of ``Settings`` that holds only the fields ``FIELDS`` lists for
it, so a section that reads a setting it does not declare fails (a test builds every section);
and every setting is declared by a section or by the node's core (``CORE_FIELDS``: transport,
authentication and session limits, read by ``node/``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .services.chat import ChatConfig

if TYPE_CHECKING:
    from .config import Settings
    from .media.candidate_policy import Refusal
    from .media.participant import MediaConfig
    from .retention.config import RetentionConfig
    from .workflow.settings import WorkflowConfig

__all__ = ["CORE_FIELDS", "FIELDS", "ChatConfig", "MediaRoutingConfig", "OutcomesConfig", "PrecallConfig",
           "RedisConfig", "Sections", "StoreConfig", "settings_view"]


FIELDS: dict[str, tuple[str, ...]] = {
    "store": ("store", "sqlite_synchronous", "precall_history", "redis_retention_messages",
              "redis_idempotency_ttl_s", "redis_timeout_s", "presence_ttl_s", "node_heartbeat_s",
              "media_owner_lease_s"),
    "chat": ("max_rooms_per_connection", "resume_max_messages", "typing_ttl_s"),
    "media": ("media_listen_address", "media_announced_address", "media_port_range", "media_candidate_allow_private",
              "media_candidate_allow_hostnames", "media_candidate_min_port", "media_candidate_deny",
              "media_max_remote_candidates", "ice_servers", "turn_secret", "turn_ttl_s", "media_drop_timeout_s",
              "media_max_participants", "media_report_every_ms", "media_video_min_fps", "media_video_min_kbps",
              "media_video_max_loss", "media_fallback_after_s", "media_fallback_retry_s",
              "media_fallback_retry_max_s", "media_fallback_hold_s", "media_transport_cc",
              "media_retransmit_share"),
    "media_routing": ("media_forward_timeout_s", "node_heartbeat_s", "media_owner_lease_s"),
    "precall": ("precall_max_s", "precall_history"),
    "outcomes": ("interview_outcomes_retention_days", "interview_outcomes_checkpoint_s"),
    "audit": ("audit_retention_days",),  # read by rtserver/audit/install.py (the access journal)
    "privacy": ("person_export_page_max",),  # read by rtserver/privacy/install.py (export and erasure)
    "retention": ("retention_messages_days", "retention_callbacks_days", "retention_appointments_days",
                  "retention_precall_results_days", "retention_webhook_outbox_days", "redis_idempotency_ttl_s",
                  "interview_outcomes_retention_days", "retention_sweep_s", "retention_batch",
                  "retention_max_batches", "retention_batch_pause_s"),
    "workflow": ("portfolio_cap", "portfolio_near_cap_ratio", "callback_sla_s", "working_hours", "working_timezone",
                 "holidays", "callback_max_open", "callback_max_horizon_days", "cover_max_days", "reply_sla_s",
                 "digest_delay_s", "digest_max_messages", "mail_content", "appointment_reminders_s",
                 "appointment_missed_after_s",
                 "appointment_max_duration_min", "workflow_tick_s", "membership_repair_s", "figures_window_s",
                 "figures_refresh_s", "metrics_advisor_labels", "max_room_members",
                 "smtp_host", "smtp_port", "smtp_tls", "smtp_user", "smtp_password_file", "smtp_sender",
                 "smtp_timeout_s",
                 "webhook_urls", "webhook_secret_file", "webhook_max_attempts", "webhook_retry_base_s",
                 "webhook_retry_max_s", "webhook_timeout_s", "webhook_recover_s", "webhook_queue_max"),
}
"""The settings each section reads: its builder sees these and no others."""

CORE_FIELDS = (
    "host", "port", "secret", "secret_file", "jwt_algorithm", "jwt_leeway_s", "jwt_issuer", "jwt_max_lifetime_s",
    "max_name_chars", "api_key", "allowed_origins", "max_frame_bytes", "hard_max_frame_bytes", "max_text_chars",
    "max_messages_per_s", "burst_messages", "max_joins_per_s", "burst_joins", "max_violations", "max_connections",
    "max_connections_per_user", "max_outgoing_bytes", "history_page_max", "auth_timeout_s",
    "max_unauthenticated_per_address", "http_idle_timeout_s", "heartbeat_s", "shutdown_timeout_s", "log_level",
    "demo", "metrics_token", "max_room_members",
)
"""Settings of the node's core (``node/``: transport, authentication, session limits) and the process."""


def settings_view(settings: Settings, names: Iterable[str]) -> Any:
    """``settings`` with only ``names`` readable: reading any other field raises AttributeError."""
    return types.SimpleNamespace(**{name: getattr(settings, name) for name in names})


@dataclasses.dataclass(frozen=True, slots=True)
class RedisConfig:
    url: str
    timeout_s: float
    retention_messages: int
    idempotency_ttl_s: float
    presence_ttl_s: float
    heartbeat_s: float
    media_owner_lease_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str
    sqlite_path: str | None  # the file of a sqlite: URL; None for Redis
    sqlite_synchronous: str
    precall_history: int  # pre-call results kept per user, in either family
    redis: RedisConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreConfig:
        s = settings_view(settings, FIELDS["store"])
        url = s.store
        return cls(url, settings.sqlite_path(), s.sqlite_synchronous, s.precall_history,
                   RedisConfig(url, s.redis_timeout_s, s.redis_retention_messages, s.redis_idempotency_ttl_s,
                               s.presence_ttl_s, s.node_heartbeat_s, s.media_owner_lease_s))


@dataclasses.dataclass(frozen=True, slots=True)
class MediaRoutingConfig:
    forward_timeout_s: float
    heartbeat_s: float
    lease_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class PrecallConfig:
    max_s: float  # an echo session's longest life
    history: int  # results kept per user


@dataclasses.dataclass(frozen=True, slots=True)
class OutcomesConfig:
    retention_days: int
    checkpoint_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class Sections:
    store: StoreConfig
    chat: ChatConfig
    media: MediaConfig
    media_routing: MediaRoutingConfig
    precall: PrecallConfig
    outcomes: OutcomesConfig
    retention: RetentionConfig
    workflow: WorkflowConfig
    max_room_members: int  # the chat's bound, which the workflow's assignments respect too
    metrics_advisor_labels: bool

    @classmethod
    def from_settings(cls, settings: Settings, *, environ: Mapping[str, str] | None = None,
                      on_refused_candidate: Callable[[Refusal], None] | None = None) -> Sections:
        """Every section, validated: raises ValueError naming the settings that cannot work."""
        # Imported here: this module is imported by the backends, below the media and the workflow.
        from .media.signalling import media_config
        from .retention.config import RetentionConfig
        from .workflow.settings import WorkflowConfig

        def view(section: str) -> Any:
            return settings_view(settings, FIELDS[section])

        chat, routing, precall, outcomes, workflow = (view(name) for name in (
            "chat", "media_routing", "precall", "outcomes", "workflow"))
        return cls(store=StoreConfig.from_settings(settings),
                   chat=ChatConfig(chat.max_rooms_per_connection, chat.resume_max_messages, chat.typing_ttl_s),
                   media=media_config(view("media"), on_refused_candidate=on_refused_candidate),
                   media_routing=MediaRoutingConfig(routing.media_forward_timeout_s, routing.node_heartbeat_s,
                                                    routing.media_owner_lease_s),
                   precall=PrecallConfig(precall.precall_max_s, precall.precall_history),
                   outcomes=OutcomesConfig(outcomes.interview_outcomes_retention_days,
                                           outcomes.interview_outcomes_checkpoint_s),
                   retention=RetentionConfig.from_settings(view("retention")),
                   workflow=WorkflowConfig.from_settings(workflow, environ),
                   max_room_members=workflow.max_room_members, metrics_advisor_labels=workflow.metrics_advisor_labels)
