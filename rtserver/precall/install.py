"""``install_precall``: the results store for the node's backend, the requests, the lifecycle."""


from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from ..backends import RedisStore
from ..config import Settings
from ..node.node import Node
from .service import PrecallService
from .stores import RedisCheckResults, SqliteCheckResults

if TYPE_CHECKING:
    from ..workflow import Workflow

__all__ = ["install_precall"]


def _results_store(settings: Settings, node: Node) -> SqliteCheckResults | RedisCheckResults:
    if settings.precall_history < 1:
        raise ValueError("precall_history must be at least 1")
    if (path := settings.sqlite_path()) is not None:
        return SqliteCheckResults(path, keep=settings.precall_history)
    if isinstance(node.backends.store, RedisStore):
        return RedisCheckResults(node.backends.store.link, keep=settings.precall_history)
    raise ValueError(f"no pre-call results store for {settings.store!r}")


def install_precall(app: web.Application, node: Node, settings: Settings, workflow: Workflow | None) -> PrecallService:
    results = _results_store(settings, node)
    service = PrecallService(results, workflow=workflow, registry=node.metrics.registry)
    node.add_routes(service.routes())
    if workflow is not None:
        workflow.checks = results  # portfolio rows carry each jobseeker's latest check

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await results.open()
        yield
        await results.close()

    app.cleanup_ctx.append(lifecycle)
    return service
