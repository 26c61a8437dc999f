"""Server settings: one dataclass, read from ``RTSERVER_*`` environment variables and CLI flags.

Each field's name gives both spellings: ``max_frame_bytes`` is ``--max-frame-bytes`` and
``RTSERVER_MAX_FRAME_BYTES``. Flags win over the environment, the environment over defaults.
The environment is injectable (``Settings.from_env(environ)``) so configuration is testable.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Settings", "add_arguments", "exposed_files", "load_secret", "settings_from_args", "warn_exposed_files"]

ENV_PREFIX = "RTSERVER_"

log = logging.getLogger(__name__)


def _opt(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(8080, "TCP port for HTTP and WebSocket")
    store: str = _opt("sqlite:rtserver.db", "where state lives: sqlite:PATH (embedded default), redis://HOST:PORT/DB or redis+cluster://HOST:PORT[,...]")
    secret: str = _opt("", "HS256 secret that signs tokens; when empty, read from secret_file (created if missing)")
    secret_file: str = _opt("rtserver.secret", "file holding the development secret when no secret is given")
    jwt_algorithm: str = _opt("HS256", "JWT signing algorithm")
    jwt_leeway_s: float = _opt(30.0, "clock skew tolerated when checking token expiry")
    jwt_issuer: str = _opt("", "required 'iss' claim when set")
    jwt_max_lifetime_s: float = _opt(86_400.0, "longest token lifetime accepted: a token whose exp - iat (exp - now "
                                     "without iat) exceeds it is refused (unauthorized)")
    max_name_chars: int = _opt(200, "longest display name (a token's 'name' claim) accepted")
    api_key: str = _opt("", "key for the server-to-server HTTP API (header X-Api-Key); API disabled when empty")
    allowed_origins: str = _opt("", "comma-separated Origins allowed to open /ws and to call the browser endpoints "
                                "(CORS, for portals embedding the pages); empty: same host only; * : any")
    max_frame_bytes: int = _opt(32_768, "largest client frame answered normally; larger gets message_too_large")
    hard_max_frame_bytes: int = _opt(1_048_576, "frames above this close the connection (1009)")
    max_text_chars: int = _opt(4_000, "longest chat message text, in characters")
    max_messages_per_s: float = _opt(20.0, "sustained requests per second per connection")
    burst_messages: int = _opt(40, "requests a connection may send at once before rate limiting")
    max_joins_per_s: float = _opt(20.0, "sustained room joins and leaves per second per connection (a budget "
                                  "apart from the requests')")
    burst_joins: int = _opt(500, "room joins and leaves a connection may send at once: a console joining a whole "
                            "portfolio, a reconnect rejoining every room")
    max_violations: int = _opt(50, "bad or rate-limited requests per minute before the connection is closed (4102)")
    max_connections: int = _opt(20_000, "WebSocket connections per node")
    max_connections_per_user: int = _opt(10, "simultaneous connections of one user (tabs, devices)")
    max_room_members: int = _opt(5_000, "members of one room")
    max_rooms_per_connection: int = _opt(500, "rooms one connection may join")
    max_outgoing_bytes: int = _opt(1_048_576, "unsent bytes buffered for one connection before it is cut off (4000)")
    history_page_max: int = _opt(200, "most messages returned by one history request")
    resume_max_messages: int = _opt(10_000, "most missed messages replayed on join; beyond, the client pages history")
    auth_timeout_s: float = _opt(10.0, "time a connection has to authenticate")
    max_unauthenticated_per_address: int = _opt(20, "WebSocket connections one client address may hold before "
                                                 "they authenticate; more get HTTP 429 (behind a proxy every "
                                                 "client has the proxy's address); 0: no limit")
    http_idle_timeout_s: float = _opt(15.0, "an HTTP connection idle between requests, or still sending a "
                                      "request's headers, is closed after this")
    heartbeat_s: float = _opt(10.0, "WebSocket ping interval; a peer that does not answer within half of it "
                              "is dropped and goes offline (within 15 s by default); told to clients")
    typing_ttl_s: float = _opt(6.0, "how long a typing indicator lasts without refresh (told to clients)")
    presence_ttl_s: float = _opt(20.0, "presence entries expire unless refreshed within this (multi-node)")
    sqlite_synchronous: str = _opt("full", "SQLite durability: full (fsync each group commit) or normal")
    shutdown_timeout_s: float = _opt(5.0, "time given to connections and the store to finish on shutdown")
    log_level: str = _opt("info", "debug, info, warning or error")
    redis_retention_messages: int = _opt(100_000, "messages kept per room in Redis (oldest trimmed first); 0 keeps all")
    redis_idempotency_ttl_s: float = _opt(86_400.0, "how long a send's idempotency key is remembered, on either "
                                          "store (Redis: the key's TTL; SQLite: cleared by the retention sweep)")
    redis_timeout_s: float = _opt(2.0, "a Redis call slower than this fails (clients get a retryable unavailable)")
    node_heartbeat_s: float = _opt(4.0, "multi-node presence beat; a dead node's users go offline within "
                                   "presence_ttl_s + this")
    media_listen_address: str = _opt("", "comma-separated addresses WebRTC media binds to; empty: every interface "
                                     "address except loopback (set 127.0.0.1 for loopback tests)")
    media_announced_address: str = _opt("", "address written in ICE candidates instead of the bound one "
                                        "(public IP behind 1:1 NAT, container host); empty: the bound one")
    demo: bool = _opt(False, "seed a demo advisor and jobseekers and serve a sign-in page at /demo that hands out "
                      "their tokens (refused when a production secret is set)")
    media_port_range: str = _opt("", "UDP ports media binds to, as FIRST-LAST (e.g. 40000-40999: two per "
                                 "participant); empty: any ephemeral port")
    media_candidate_allow_private: bool = _opt(True, "send ICE checks to remote candidates in private ranges "
                                               "(RFC 1918, 100.64/10, fc00::/7): clients on the node's LAN or "
                                               "VPN; turn off on an internet-facing node")
    media_candidate_allow_hostnames: bool = _opt(False, "accept remote candidates naming a host (mDNS .local): "
                                                 "the node then resolves them by multicast on its network")
    media_candidate_min_port: int = _opt(1024, "remote candidates on a lower port are refused (no browser, NAT "
                                         "or TURN relay uses one; DNS, NTP, SNMP live there)")
    media_candidate_deny: str = _opt("", "comma-separated CIDRs the node never sends ICE checks to, on top of "
                                     "loopback, link-local, multicast, reserved and its own addresses")
    media_max_remote_candidates: int = _opt(30, "remote ICE candidates one peer connection may pair with "
                                            "(a browser signals 2 to 10); more are ignored")
    ice_servers: str = _opt("", "comma-separated stun:/turn: URLs handed to clients; empty: none")
    turn_secret: str = _opt("", "coturn static-auth-secret: clients get TURN REST credentials computed from it")
    turn_ttl_s: float = _opt(3600.0, "lifetime of the TURN credentials handed to a client")
    media_drop_timeout_s: float = _opt(15.0, "a participant whose WebSocket dropped is removed from the "
                                       "interview after this, unless it joins again")
    media_max_participants: int = _opt(4, "participants in one interview (advisor, jobseeker, guests)")
    media_report_every_ms: int = _opt(2000, "how often each participant sends media_report (told in media_joined; "
                                      "500-60000)")
    media_video_min_fps: float = _opt(8.0, "video received below this frame rate for media_fallback_after_s "
                                      "switches that direction to audio only")
    media_video_min_kbps: float = _opt(100.0, "a bandwidth estimate below this (kbit/s) for media_fallback_after_s "
                                       "switches that direction to audio only")
    media_video_max_loss: float = _opt(0.15, "packet loss (fraction, before retransmission) from which video is "
                                       "switched off in that direction after media_fallback_after_s")
    media_fallback_after_s: float = _opt(4.0, "how long video must stay under the floors before that direction "
                                         "falls back to audio only")
    media_fallback_retry_s: float = _opt(10.0, "audio only this long before video is tried again; each failed "
                                         "trial doubles it")
    media_fallback_retry_max_s: float = _opt(160.0, "longest wait between two trials of video")
    media_fallback_hold_s: float = _opt(10.0, "a trial of video that holds this long keeps video")
    media_transport_cc: bool = _opt(True, "answer a publisher's transport-wide congestion control (browsers): "
                                    "the node reports every packet's arrival, and the browser paces its video "
                                    "to its uplink's queuing delay, not only to its losses")
    media_retransmit_share: float = _opt(0.25, "retransmissions the node sends a subscriber who asks for lost "
                                         "packets, at most this share of the video it forwards them over a second "
                                         "(each packet once a round trip); 0 sends none")
    precall_max_s: float = _opt(30.0, "a pre-call check's echo session (media room precall:<user>) closes after this")
    precall_history: int = _opt(20, "pre-call check results kept per user (older ones are deleted)")
    interview_outcomes_retention_days: int = _opt(400, "interview outcome summaries are deleted this many days "
                                                  "after the interview started (a year and its comparison month)")
    retention_messages_days: int = _opt(730, "chat messages are deleted this many days after they were written "
                                        "(each room's oldest first; offsets stay continuous); 0 keeps them")
    retention_callbacks_days: int = _opt(395, "callback requests (with their notes) are deleted this many days after "
                                         "they were made, once no longer open or claimed; 0 keeps them")
    retention_appointments_days: int = _opt(395, "appointments are deleted this many days after the time they were "
                                            "for; 0 keeps them")
    retention_precall_results_days: int = _opt(90, "pre-call check results are deleted this many days after the "
                                               "check (besides precall_history per user); 0 keeps them")
    retention_webhook_outbox_days: int = _opt(7, "webhook deliveries still in the outbox (their node died holding "
                                              "them) are deleted this many days after their event; 0 keeps them")
    retention_sweep_s: float = _opt(300.0, "how often a node runs the retention sweep (on several nodes one of them "
                                    "sweeps each kind per interval)")
    retention_batch: int = _opt(500, "items the retention sweep deletes per store call (one short transaction)")
    retention_max_batches: int = _opt(200, "store calls per kind per sweep; what is left is overdue until the next")
    retention_batch_pause_s: float = _opt(0.005, "pause between two store calls of the sweep, so chat writes go "
                                          "first")
    interview_outcomes_checkpoint_s: float = _opt(60.0, "a running interview's outcome so far is stored this often "
                                                  "(what remains, as host_lost, if its node dies)")
    # The access journal (rtserver/audit, docs/audit.md). A year: the upper end of the 6 to 12 months
    # the CNIL recommends for access logs, so that a person asking who read their file after a
    # follow-up of several months still gets the whole of it.
    audit_retention_days: int = _opt(365, "access journal entries (who opened whose conversation, portfolio, "
                                     "interview or export) are deleted this many days after they were recorded")
    # A page of a person's export (GET /api/users/{id}/data): 1,000 messages of at most 4,000
    # characters is at most a few MB of JSON, the bound of one answer (the portal pages on).
    person_export_page_max: int = _opt(1000, "most messages and access journal entries in one page of a person's "
                                       "export (GET /api/users/{id}/data); a larger limit asked is clamped to it")
    media_owner_lease_s: float = _opt(12.0, "multi-node: a node holds each interview it hosts by renewing a lease "
                                      "every node_heartbeat_s; a dead node's interviews move after this")
    media_forward_timeout_s: float = _opt(10.0, "multi-node: a media request forwarded to the node hosting the "
                                          "interview fails (unavailable) when not answered within this")
    # Follow-up workflow (rtserver/workflow, docs/workflow.md). The SMTP password and the webhook
    # secret are never settings: RTSERVER_SMTP_PASSWORD / RTSERVER_WEBHOOK_SECRET or the files below.
    portfolio_cap: int = _opt(150, "jobseekers one advisor follows at most; assigning past it is refused "
                              "(portfolio_full)")
    portfolio_near_cap_ratio: float = _opt(0.9, "advisors at or above this share of the cap are listed as near it")
    callback_sla_s: float = _opt(86_400.0, "a callback request still open this long after it was made (or after "
                                 "its first window ends, if later) is late")
    working_hours: str = _opt("", "when the service works, e.g. 'mon-fri 09:00-17:00': callback_sla_s and "
                              "reply_sla_s then count only these hours; empty: they count calendar time")
    working_timezone: str = _opt("Europe/Paris", "time zone of working_hours")
    holidays: str = _opt("", "comma-separated dates (2026-12-25,...) without working hours")
    callback_max_open: int = _opt(3, "open callback requests one jobseeker may have at once")
    callback_max_horizon_days: int = _opt(90, "a callback request's windows (asked for or rescheduled) must end "
                                          "within this many days from now (invalid_message beyond)")
    cover_max_days: int = _opt(31, "longest cover an advisor's colleague may be granted over their portfolio "
                               "(POST /api/advisors/{id}/cover)")
    reply_sla_s: float = _opt(86_400.0, "a jobseeker's message unanswered this long fires the "
                              "message.unanswered webhook")
    digest_delay_s: float = _opt(900.0, "a user offline when messages reach them gets one mail listing the "
                                 "unread ones after this (nothing if read meanwhile)")
    digest_max_messages: int = _opt(50, "most messages listed in one digest mail")
    mail_content: str = _opt("none", "what a digest mail says: none (how many unread messages wait on the web "
                             "page, no text: mailboxes are outside the service's control) or preview (each "
                             "message's sender and first 160 characters)")
    appointment_reminders_s: str = _opt("86400,900", "comma-separated lead times (s) of appointment reminders, "
                                        "in-app and by mail")
    appointment_missed_after_s: float = _opt(900.0, "an appointment nobody (or only one side) joined this long "
                                             "after its start is recorded as missed")
    appointment_max_duration_min: int = _opt(240, "longest appointment, in minutes")
    workflow_tick_s: float = _opt(1.0, "how often a node looks for due reminders, digests and deadlines")
    membership_repair_s: float = _opt(30.0, "an assignment or transfer interrupted (node crash) before the "
                                      "conversation's members were updated is completed by any node after this")
    figures_window_s: float = _opt(30 * 86_400.0, "reply times older than this leave the response-time figures")
    metrics_token: str = _opt("", "when set, /metrics needs Authorization: Bearer <this>; empty: open")
    metrics_advisor_labels: bool = _opt(False, "export the per-advisor figures on /metrics labelled by advisor "
                                        "id; off: totals over all advisors only")
    figures_refresh_s: float = _opt(15.0, "how often /metrics' per-advisor figures are recomputed")
    smtp_host: str = _opt("", "SMTP server for mails (digests, reminders); empty: no mail is sent")
    smtp_port: int = _opt(587, "SMTP port")
    smtp_tls: str = _opt("starttls", "starttls, tls (implicit, usually port 465) or none")
    smtp_user: str = _opt("", "SMTP login; the password comes from RTSERVER_SMTP_PASSWORD or smtp_password_file")
    smtp_password_file: str = _opt("", "file holding the SMTP password")
    smtp_sender: str = _opt("", "From address of the mails")
    smtp_timeout_s: float = _opt(10.0, "an SMTP exchange slower than this fails (retried at the next digest)")
    webhook_urls: str = _opt("", "comma-separated URLs that receive signed workflow events (POST); empty: none")
    webhook_secret_file: str = _opt("", "file holding the webhook HMAC secret (or RTSERVER_WEBHOOK_SECRET)")
    webhook_max_attempts: int = _opt(8, "deliveries of one event tried at most before it is dropped")
    webhook_retry_base_s: float = _opt(1.0, "first retry delay; doubled at each failure")
    webhook_retry_max_s: float = _opt(300.0, "longest delay between two attempts")
    webhook_timeout_s: float = _opt(5.0, "a webhook endpoint slower than this counts as failed")
    webhook_recover_s: float = _opt(60.0, "a delivery its node stopped retrying (it died) is taken over by another "
                                    "node after this; more than webhook_timeout_s")
    webhook_queue_max: int = _opt(1000, "events waiting for delivery (retries included) per node; beyond, "
                                  "new ones are dropped and counted")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = _convert(field, raw)
        values.update(overrides)
        return cls(**values)

    def origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip())

    def resolved_secret(self) -> str:
        return self.secret or load_secret(self.secret_file)

    def store_for_logs(self) -> str:
        """``store`` with any password in it replaced by ``***`` (redis://:PASSWORD@host): start-up lines
        go to logs that more people read than hold the password."""
        scheme, sep, rest = self.store.partition("://")
        userinfo, at, hostpart = rest.rpartition("@")
        if not sep or not at:
            return self.store
        user, colon, _ = userinfo.partition(":")
        return f"{scheme}://{user}:***@{hostpart}" if colon else self.store

    def sqlite_path(self) -> str | None:
        """The SQLite database file of a ``sqlite:PATH`` store; None for Redis."""
        if not self.store.startswith("sqlite:"):
            return None
        return self.store.removeprefix("sqlite:").removeprefix("//") or "rtserver.db"


_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}
_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _kind(field: dataclasses.Field[Any]) -> type:
    return field.type if isinstance(field.type, type) else _KINDS[str(field.type)]


def _convert(field: dataclasses.Field[Any], raw: str) -> Any:
    kind = _kind(field)
    try:
        if kind is bool:
            return _BOOLS[raw.strip().lower()]
        return kind(raw)
    except (KeyError, ValueError) as exc:
        expected = "true or false" if kind is bool else kind.__name__
        raise SystemExit(f"{ENV_PREFIX}{field.name.upper()}: expected {expected}, got {raw!r}") from exc


def load_secret(path: str) -> str:
    """Read the development secret, creating it (mode 0600) on first use."""
    file = Path(path)
    if file.exists():
        return file.read_text().strip()
    value = secrets.token_urlsafe(32)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def exposed_files(settings: Settings) -> list[tuple[str, int]]:
    """The files this node reads secrets or personal data from that other local users may read
    or write (any group or other permission bit), with their modes.

    Checked: the secret file (when no secret is given), the SMTP password and webhook secret
    files, and the SQLite database with its -wal and -shm files. The files the node creates are
    0600; these are ones that existed before, made by hand or by an older version.
    """
    paths = [settings.secret_file if not settings.secret else "", settings.smtp_password_file,
             settings.webhook_secret_file]
    db = settings.sqlite_path()
    if db is not None and db != ":memory:":
        paths += [db, db + "-wal", db + "-shm"]
    found = []
    for path in filter(None, paths):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue  # missing: created private, or reported by whatever needs it
        if mode & 0o077:
            found.append((path, mode))
    return found


def warn_exposed_files(settings: Settings) -> None:
    """Log a warning per file of ``exposed_files``: once, at start-up."""
    for path, mode in exposed_files(settings):
        log.warning("%s is readable or writable by other local users (mode %04o): chmod 600 it", path, mode)


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """Add one ``--flag`` per setting (or the named ones); defaults come from the environment later."""
    for field in dataclasses.fields(Settings):
        if names is not None and field.name not in names:
            continue
        kind = _kind(field)
        help_text = f"{field.metadata['help']} (env {ENV_PREFIX}{field.name.upper()}, default {field.default!r})"
        flag = "--" + field.name.replace("_", "-")
        if kind is bool:  # --demo / --no-demo
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=field.name, type=kind, default=None, help=help_text)


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    overrides = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if getattr(args, f.name, None) is not None
    }
    return Settings.from_env(environ, **overrides)


def settings_table() -> str:
    """The Markdown table of every setting, as README.md shows it (``rtserver settings``)."""
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(Settings):
        flag, env = "--" + field.name.replace("_", "-"), ENV_PREFIX + field.name.upper()
        lines.append(f"| `{flag}` | `{env}` | `{field.default!r}` | {field.metadata['help']} |")
    return "\n".join(lines)

