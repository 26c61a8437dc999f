"""Storage and fan-out backends; ``create_backends`` is the one place that picks a family."""

from __future__ import annotations

from .base import (
    AppendResult,
    Backends,
    Broker,
    BrokerHandler,
    MemberRole,
    PresenceBackend,
    PresenceInfo,
    Room,
    RoomKind,
    RoomSummary,
    Store,
    StoredMessage,
)
from .local import LocalBroker, LocalPresence
from .sqlite_store import SqliteStore

__all__ = [
    "AppendResult", "Backends", "Broker", "BrokerHandler", "LocalBroker", "LocalPresence", "MemberRole",
    "PresenceBackend", "PresenceInfo", "Room", "RoomKind", "RoomSummary", "SqliteStore", "Store",
    "StoredMessage", "create_backends",
]


def create_backends(store_url: str, *, sqlite_synchronous: str = "full") -> Backends:
    """``sqlite:PATH`` (the embedded default, single node) or ``redis://...`` (several nodes)."""
    if store_url.startswith("sqlite:"):
        path = store_url.removeprefix("sqlite:").removeprefix("//") or "rtserver.db"
        return Backends(SqliteStore(path, synchronous=sqlite_synchronous), LocalBroker(), LocalPresence())
    if store_url.startswith(("redis://", "rediss://", "unix://")):
        raise SystemExit("the Redis backend is not available in this version; use sqlite:PATH")
    raise SystemExit(f"unknown store {store_url!r}: expected sqlite:PATH or redis://HOST:PORT/DB")
