"""Build the aiohttp application from the composition (``rtserver/compose.py``): one ``cleanup_ctx``
generator per feature, in the declared order, owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from .audit.journal import JOURNAL_KEY
from .compose import COMPOSITION_KEY, compose
from .config import Settings, warn_exposed_files
from .demo import check_demo_allowed
from .feature import Feature
from .home import add_home_route
from .node.cors import cors
from .node.headers import security_headers
from .node.httpkit import API_KEY, api_errors
from .node.preauth import PendingAuth
from .node.ws import NODE_KEY, PENDING_AUTH_KEY
from .outcomes import OUTCOMES_KEY
from .privacy.api import PERSON_KEY
from .workflow import WORKFLOW_KEY

__all__ = ["build_app"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def _lifecycle(feature: Feature) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await feature.start()
        yield
        await feature.close()

    return lifecycle


def build_app(settings: Settings) -> web.Application:
    """The node's application; raises ValueError for settings that cannot work together."""
    check_demo_allowed(settings)
    warn_exposed_files(settings)
    composition = compose(settings)
    node = composition.node
    app = web.Application(middlewares=[cors, api_errors])
    app.on_response_prepare.append(security_headers)
    app[COMPOSITION_KEY] = composition
    app[NODE_KEY] = node
    app[API_KEY] = settings.api_key
    app[PENDING_AUTH_KEY] = PendingAuth(settings.max_unauthenticated_per_address)
    app[WORKFLOW_KEY] = composition.workflow
    app[OUTCOMES_KEY] = composition.outcomes
    app[JOURNAL_KEY] = composition.journal
    app[PERSON_KEY] = composition.person
    for feature in composition.features:  # started in this order, closed in reverse
        app.cleanup_ctx.append(_lifecycle(feature))

    async def on_shutdown(app: web.Application) -> None:
        await node.shutdown_connections()

    app.on_shutdown.append(on_shutdown)
    app.router.add_routes(composition.routes)
    if STATIC_DIR.is_dir():
        add_home_route(app)
        app.router.add_static("/static/", STATIC_DIR)
    return app
