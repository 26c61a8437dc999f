"""Build the aiohttp application: one ``cleanup_ctx`` generator owns the node's resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from .backends import create_backends
from .config import Settings, warn_exposed_files
from .demo import add_demo_routes, check_demo_allowed, seed
from .metrics import Metrics
from .node import Node
from .node.cors import cors
from .node.headers import security_headers
from .node.http import add_routes, api_errors
from .node.preauth import PendingAuth
from .node.ws import NODE_KEY, PENDING_AUTH_KEY, websocket_handler
from .outcomes import install_outcomes
from .precall.install import install_precall
from .workflow import install_workflow

__all__ = ["build_app"]

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def build_app(settings: Settings) -> web.Application:
    """The node's application; raises ValueError for settings that cannot work together."""
    check_demo_allowed(settings)
    warn_exposed_files(settings)
    app = web.Application(middlewares=[cors, api_errors])
    app.on_response_prepare.append(security_headers)
    metrics = Metrics()
    node = Node(settings, create_backends(settings, metrics=metrics), metrics=metrics)
    app[NODE_KEY] = node
    app[PENDING_AUTH_KEY] = PendingAuth(settings.max_unauthenticated_per_address)

    async def node_lifecycle(app: web.Application) -> AsyncIterator[None]:
        await node.start()
        log.info("node %s ready on %s:%s (store %s)", node.id, settings.host, settings.port, settings.store_for_logs())
        yield
        await node.stop()  # after on_shutdown closed the connections: flushes the store

    async def on_shutdown(app: web.Application) -> None:
        await node.shutdown_connections()

    async def media_lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        # Torn down before node_lifecycle: every peer connection closed first, then the
        # interviews this node held are let go for other nodes.
        await node.media_routing.close()

    app.cleanup_ctx.append(node_lifecycle)
    # The workflow's and the pre-call check's stores and loops live between the node's start and stop.
    workflow = install_workflow(app, node, settings)
    install_precall(app, node, settings, workflow)
    install_outcomes(app, node, settings)  # torn down after media_lifecycle: the rooms' final records
    if settings.demo:
        async def demo_seed(app: web.Application) -> AsyncIterator[None]:
            await seed(app)
            yield

        app.cleanup_ctx.append(demo_seed)
        add_demo_routes(app)
    app.cleanup_ctx.append(media_lifecycle)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/ws", websocket_handler)
    add_routes(app)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR)
    return app
