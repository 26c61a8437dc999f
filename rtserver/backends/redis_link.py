"""The one Redis client the Redis backends share: URL, Lua scripts, error mapping, metrics.

Every call goes through ``RedisLink.call``, which bounds it in time (``timeout_s``), turns any
Redis or network failure into ``Unavailable`` (clients get a retryable ``unavailable`` error,
never an ack for a write that may not have happened), and records the round trip in
``rtserver_redis_latency_seconds``. A failure marks Redis down; the next success marks it up
again and counts one ``rtserver_redis_reconnects{client="pool"}``.

URLs: ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS), ``unix:///path.sock?db=N``
for one server; ``redis+cluster://[user:password@]host:port[,host:port...]`` (or
``rediss+cluster://``) for Redis Cluster, the listed nodes being seeds from which the client
learns the slot map. The same code runs on both: every key of a room shares a hash tag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import unquote

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.retry import Retry

from ..errors import Unavailable

__all__ = ["CLUSTER_SCHEMES", "RedisLink", "RedisMetrics", "is_redis_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SINGLE_SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
SCRIPTS = ("append", "create_room", "add_members", "set_read", "check_stream", "heartbeat", "media_claim",
           "media_renew")
RETRY_AFTER_MS = 1000
# Calls in flight per node, hence pooled connections per Redis server. Beyond, calls wait their
# turn (within timeout_s) instead of opening ever more connections under a burst.
MAX_IN_FLIGHT = 64
# Error replies that mean "not now" rather than "this command is wrong".
_TRANSIENT_REPLIES = ("LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "OOM", "NOREPLICAS")


def is_redis_url(url: str) -> bool:
    return url.startswith(SINGLE_SCHEMES + CLUSTER_SCHEMES)


class RedisMetrics:
    """Round trips, outages and reconnects, registered on the node's Prometheus registry."""

    def __init__(self, registry: CollectorRegistry):
        self.latency = Histogram(
            "rtserver_redis_latency_seconds", "Redis round trip per operation, as seen by this node", ["op"],
            buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=registry)
        self.errors = Counter("rtserver_redis_errors", "Redis calls that failed (answered unavailable)", ["op"],
                              registry=registry)
        self.reconnects = Counter(
            "rtserver_redis_reconnects", "Redis connections restored after a failure (pool: commands; "
            "subscriber: pub/sub)", ["client"], registry=registry)
        self.up = Gauge("rtserver_redis_up", "1 while the last Redis call succeeded", registry=registry)


def _cluster_client(url: str, common: dict[str, Any]) -> RedisCluster:
    scheme, _, rest = url.partition("://")
    userinfo, _, hosts = rest.rpartition("@")
    hosts = hosts.split("/", 1)[0].split("?", 1)[0]
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"cluster store URL: expected host:port[,host:port...], got {item!r}")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    # The synchronous Retry, though the stubs ask for redis.asyncio's: the cluster client takes its
    # count (3 redirects) from it, and its call_with_retry hands a transaction's coroutine back
    # unretried, where the asyncio one would re-send commands whose reply was lost (applied twice).
    return RedisCluster(
        startup_nodes=nodes, username=unquote(username) or None, password=unquote(password) or None,
        ssl=scheme.startswith("rediss"), retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 3),  # type: ignore[arg-type]
        **common)


class RedisLink:
    """A connection pool (or cluster client) plus the project's Lua scripts, loaded by SHA."""

    def __init__(self, url: str, *, timeout_s: float, registry: CollectorRegistry | None = None):
        self.url = url
        self.timeout_s = timeout_s
        self.cluster = url.startswith(CLUSTER_SCHEMES)
        common: dict[str, Any] = dict(socket_timeout=timeout_s, socket_connect_timeout=timeout_s, protocol=2,
                                      decode_responses=False, max_connections=MAX_IN_FLIGHT + 8)
        if self.cluster:
            self.client: Redis | RedisCluster = _cluster_client(url, common)
        else:
            # No automatic retry: a command re-sent after its reply was lost could apply twice.
            # Stale pooled connections are replaced before use by the pool itself.
            self.client = Redis.from_url(url, retry=Retry(NoBackoff(), 0), **common)
        self.scripts = {name: self.register_lua(name) for name in SCRIPTS}
        self.metrics = RedisMetrics(registry or CollectorRegistry())
        self.up = False
        self._ever_up = False
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    def register_lua(self, name: str) -> AsyncScript:
        """The Lua script ``lua/NAME.lua`` (package data), registered on this client: every Redis
        store's scripts (chat, workflow, pre-call, outcomes) live there as files."""
        return self.client.register_script((resources.files(__package__) / "lua" / f"{name}.lua").read_text())

    async def call(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation within ``timeout_s``; any failure becomes ``Unavailable``."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s), self._in_flight:
                result = await fn()
        except (rexc.ConnectionError, rexc.TimeoutError, TimeoutError, OSError, rexc.ClusterError,
                rexc.RedisClusterException) as exc:
            self._failed(op, exc)
            raise Unavailable(f"Redis is unreachable ({type(exc).__name__})", retry_after_ms=RETRY_AFTER_MS) from exc
        except rexc.ResponseError as exc:
            if not str(exc).startswith(_TRANSIENT_REPLIES):
                raise  # a bug (wrong type, bad script): let the node report it as internal
            self._failed(op, exc)
            raise Unavailable(f"Redis cannot serve now: {str(exc)[:80]}", retry_after_ms=RETRY_AFTER_MS) from exc
        except rexc.RedisError as exc:  # cluster redirection exhausted, and the like
            self._failed(op, exc)
            raise Unavailable(f"Redis failed: {type(exc).__name__}", retry_after_ms=RETRY_AFTER_MS) from exc
        self.metrics.latency.labels(op).observe(time.perf_counter() - started)
        if not self.up:
            self.up = True
            self.metrics.up.set(1)
            if self._ever_up:
                self.metrics.reconnects.labels("pool").inc()
                log.warning("Redis reachable again")
            self._ever_up = True
        return result

    def _failed(self, op: str, exc: BaseException) -> None:
        self.metrics.errors.labels(op).inc()
        if self.up or not self._ever_up:
            log.warning("Redis call %s failed: %s", op, exc or type(exc).__name__)
        self.up = False
        self.metrics.up.set(0)

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.call(name, lambda: self.scripts[name](keys=keys, args=args))

    # -- dedicated connections for pub/sub ----------------------------------------------------
    async def shard_address(self, channel: str) -> tuple[str, int]:
        """The server a sharded channel lives on: the one server, or the master owning its slot."""
        if not isinstance(self.client, RedisCluster):
            kwargs = self.client.connection_pool.connection_kwargs
            return kwargs.get("host", kwargs.get("path", "")), int(kwargs.get("port", 0))
        client = self.client
        await self.call("cluster_slots", client.initialize)
        node = client.get_node_from_key(channel)
        if node is None:
            raise Unavailable("no Redis Cluster node serves this room now", retry_after_ms=RETRY_AFTER_MS)
        return node.host, int(node.port)  # an int already: ClusterNode's type also allows str

    async def refresh_slots(self) -> None:
        """Re-read the cluster's slot map (after a failover or a migration); a no-op on one server."""
        if isinstance(client := self.client, RedisCluster):
            await self.call("cluster_slots", lambda: client.nodes_manager.initialize())

    def new_connection(self, address: tuple[str, int]) -> AbstractConnection:
        """A connection outside the pool, configured like the pool's (auth, TLS, timeouts)."""
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node(host=address[0], port=address[1]) or self.client.get_nodes()[0]
            kwargs = {k: v for k, v in node.connection_kwargs.items() if k not in ("host", "port")}
            return node.connection_class(host=address[0], port=address[1], **kwargs)
        pool = self.client.connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    async def close(self) -> None:
        await self.client.aclose()
