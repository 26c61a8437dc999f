"""Storage and fan-out backends; ``create_backends`` is the one place that picks a family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    AppendResult,
    Backends,
    Broker,
    BrokerHandler,
    MediaDirectory,
    MemberRole,
    PresenceBackend,
    PresenceInfo,
    Room,
    RoomKind,
    RoomSummary,
    Store,
    StoredMessage,
)
from .local import LocalBroker, LocalMediaDirectory, LocalPresence
from .redis_broker import RedisBroker
from .redis_directory import RedisMediaDirectory
from .redis_link import RedisLink, is_redis_url
from .redis_presence import RedisPresence
from .redis_store import RedisStore
from .sqlite_store import SqliteStore

if TYPE_CHECKING:
    from ..config import Settings
    from ..metrics import Metrics

__all__ = [
    "AppendResult", "Backends", "Broker", "BrokerHandler", "LocalBroker", "LocalMediaDirectory", "LocalPresence",
    "MediaDirectory", "MemberRole", "PresenceBackend", "PresenceInfo", "RedisBroker", "RedisMediaDirectory",
    "RedisPresence", "RedisStore", "Room", "RoomKind",
    "RoomSummary", "SqliteStore", "Store", "StoredMessage", "create_backends",
]


def create_backends(settings: Settings, *, metrics: Metrics | None = None) -> Backends:
    """``sqlite:PATH`` (the embedded default, single node) or a Redis URL (several nodes).

    Redis: ``redis://host:port/db``, ``rediss://`` (TLS), ``unix:///path.sock`` for one server;
    ``redis+cluster://host:port[,host:port...]`` for Redis Cluster. The three Redis backends share
    one client; Redis metrics go to ``metrics.registry``. A setting that cannot work raises
    ``ValueError``.
    """
    url = settings.store
    if (path := settings.sqlite_path()) is not None:
        return Backends(SqliteStore(path, synchronous=settings.sqlite_synchronous), LocalBroker(), LocalPresence(),
                        LocalMediaDirectory())
    if is_redis_url(url):
        registry = None if metrics is None else metrics.registry
        link = RedisLink(url, timeout_s=settings.redis_timeout_s, registry=registry)
        store = RedisStore(link, retention_messages=settings.redis_retention_messages,
                           idempotency_ttl_s=settings.redis_idempotency_ttl_s)
        broker = RedisBroker(link, ping_interval_s=settings.node_heartbeat_s)
        presence = RedisPresence(link, store=store, broker=broker, ttl_s=settings.presence_ttl_s,
                                 heartbeat_s=settings.node_heartbeat_s)
        directory = RedisMediaDirectory(link, lease_s=settings.media_owner_lease_s)
        return Backends(store, broker, presence, directory)
    raise SystemExit(f"unknown store {url!r}: expected sqlite:PATH, redis://HOST:PORT/DB or "
                     "redis+cluster://HOST:PORT[,HOST:PORT...]")
