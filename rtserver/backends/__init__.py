"""Storage and fan-out backends; ``rtserver/stores.py`` is the one place that picks a family."""

from __future__ import annotations

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
from .redis_presence import RedisPresence
from .redis_store import RedisStore
from .sqlite_store import SqliteStore

__all__ = [
    "AppendResult", "Backends", "Broker", "BrokerHandler", "LocalBroker", "LocalMediaDirectory", "LocalPresence",
    "MediaDirectory", "MemberRole", "PresenceBackend", "PresenceInfo", "RedisBroker", "RedisMediaDirectory",
    "RedisPresence", "RedisStore", "Room", "RoomKind",
    "RoomSummary", "SqliteStore", "Store", "StoredMessage",
]

