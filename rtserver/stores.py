"""The store family: every store of the node, chosen together from the store URL, in one place.

``sqlite:PATH`` (the embedded default, single node): the chat's ``SqliteStore`` with the in-process
broker, presence and media directory, and the workflow's, pre-call results' and interview
outcomes' stores in the same file, each on a connection (and thread) of its own.

A Redis URL (several nodes): ``redis://host:port/db``, ``rediss://`` (TLS), ``unix:///path.sock``
for one server; ``redis+cluster://host:port[,host:port...]`` for Redis Cluster. Every Redis store
shares one client (``RedisLink``), whose Lua scripts are package data (``lua/*.lua``); Redis
metrics go to ``metrics.registry``.

This module imports the features' store classes: it belongs to the composition layer, above the
features (docs/architecture.md, Layers).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .backends.base import Backends
from .backends.local import LocalBroker, LocalMediaDirectory, LocalPresence
from .backends.redis_broker import RedisBroker
from .backends.redis_directory import RedisMediaDirectory
from .backends.redis_link import RedisLink, is_redis_url
from .backends.redis_presence import RedisPresence
from .backends.redis_retention import RedisClaim
from .backends.redis_store import RedisStore
from .backends.sqlite_store import SqliteStore
from .outcomes.stores import OutcomeStore, RedisOutcomes, SqliteOutcomes
from .precall.results import CheckResults
from .precall.stores import RedisCheckResults, SqliteCheckResults
from .reaping import Claim, Kind, LocalClaim, Reaper
from .workflow.redis_store import RedisWorkflowStore
from .workflow.sqlite_store import SqliteWorkflowStore
from .workflow.store import WorkflowStore

if TYPE_CHECKING:
    from .config import Settings
    from .metrics import Metrics
    from .sections import StoreConfig

__all__ = ["StoreFamily", "create_backends", "create_store_family"]


@dataclasses.dataclass(frozen=True, slots=True)
class StoreFamily:
    """The chat's backends and the features' stores, of one family. Each feature opens and closes
    its own store; the chat's store owns the shared file or client."""

    kind: str  # "sqlite" or "redis"
    backends: Backends
    workflow: WorkflowStore
    checks: CheckResults  # pre-call check results
    outcomes: OutcomeStore  # interview outcomes

    def redis_link(self) -> RedisLink | None:
        """The Redis client every store of the family shares (None: the SQLite family)."""
        store = self.backends.store
        return store.link if isinstance(store, RedisStore) else None

    def reapers(self) -> dict[Kind, Reaper]:
        """What the retention sweep deletes with, from every store of the family."""
        return {**self.backends.store.reapers(), **self.workflow.reapers(), **self.checks.reapers(),
                **self.outcomes.reapers()}

    def retention_claim(self, node_id: str) -> Claim:
        """Who sweeps each kind of data (``rtserver/retention``): this node alone on SQLite, one
        node per interval on Redis."""
        store = self.backends.store
        if isinstance(store, RedisStore):
            return RedisClaim(store.link, node_id)
        return LocalClaim()


def create_store_family(config: StoreConfig, *, metrics: Metrics | None = None) -> StoreFamily:
    """Raises ValueError for a setting that cannot work, SystemExit for an unknown store URL."""
    if config.precall_history < 1:
        raise ValueError("precall_history must be at least 1")
    keep = config.precall_history
    if (path := config.sqlite_path) is not None:
        backends = Backends(SqliteStore(path, synchronous=config.sqlite_synchronous), LocalBroker(),
                            LocalPresence(), LocalMediaDirectory())
        return StoreFamily("sqlite", backends, SqliteWorkflowStore(path), SqliteCheckResults(path, keep=keep),
                           SqliteOutcomes(path))
    if is_redis_url(config.url):
        r = config.redis
        link = RedisLink(r.url, timeout_s=r.timeout_s, registry=None if metrics is None else metrics.registry)
        store = RedisStore(link, retention_messages=r.retention_messages, idempotency_ttl_s=r.idempotency_ttl_s)
        broker = RedisBroker(link, ping_interval_s=r.heartbeat_s)
        presence = RedisPresence(link, store=store, broker=broker, ttl_s=r.presence_ttl_s, heartbeat_s=r.heartbeat_s)
        directory = RedisMediaDirectory(link, lease_s=r.media_owner_lease_s)
        return StoreFamily("redis", Backends(store, broker, presence, directory), RedisWorkflowStore(link),
                           RedisCheckResults(link, keep=keep), RedisOutcomes(link))
    raise SystemExit(f"unknown store {config.url!r}: expected sqlite:PATH, redis://HOST:PORT/DB or "
                     "redis+cluster://HOST:PORT[,HOST:PORT...]")


def create_backends(settings: Settings, *, metrics: Metrics | None = None) -> Backends:
    """The chat's part of the store family. A setting that cannot work raises ``ValueError``."""
    from .sections import StoreConfig

    return create_store_family(StoreConfig.from_settings(settings), metrics=metrics).backends
