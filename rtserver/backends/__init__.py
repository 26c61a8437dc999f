"""Storage and fan-out backends; ``family.create_store_family`` is the one place that picks a family."""

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
    """The chat's part of the store family (``family.create_store_family``: ``sqlite:PATH`` or a
    Redis URL). A setting that cannot work raises ``ValueError``."""
    from ..sections import StoreConfig
    from .family import create_store_family  # it imports the features' stores, which import this package

    return create_store_family(StoreConfig.from_settings(settings), metrics=metrics).backends
