"""Interview outcomes: what each interview was like (``rtserver.media.outcome``), stored by the
node that hosted it, counted on ``/metrics`` and read by portals over the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..backends import RedisStore
from ..config import Settings
from ..node.node import Node
from .api import OUTCOMES_KEY, add_outcome_routes
from .recorder import OutcomeRecorder
from .stores import OutcomeStore, RedisOutcomes, SqliteOutcomes

__all__ = ["install_outcomes"]


def _store(settings: Settings, node: Node) -> OutcomeStore:
    if (path := settings.sqlite_path()) is not None:
        return SqliteOutcomes(path)
    if isinstance(node.backends.store, RedisStore):
        return RedisOutcomes(node.backends.store.link)
    raise ValueError(f"no interview outcome store for {settings.store!r}")


def install_outcomes(app: web.Application, node: Node, settings: Settings) -> OutcomeRecorder:
    """Raises ValueError for settings that cannot work. Its lifecycle must come after the node's
    (the chat store is open) and before the media's (torn down after the rooms closed)."""
    recorder = OutcomeRecorder(_store(settings, node), media=node.media, registry=node.metrics.registry,
                               retention_days=settings.interview_outcomes_retention_days,
                               checkpoint_s=settings.interview_outcomes_checkpoint_s)
    app[OUTCOMES_KEY] = recorder
    add_outcome_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        yield
        await recorder.close()

    app.cleanup_ctx.append(lifecycle)
    return recorder
