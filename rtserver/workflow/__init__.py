"""The follow-up workflow: portfolios, callback requests, appointments, mail digests, figures,
the portals' API and webhooks (docs/workflow.md).

``install_workflow`` is what ``build_app`` calls: it builds the workflow for the node, puts it
under ``WORKFLOW_KEY``, registers its WebSocket requests and HTTP routes, and adds the
``cleanup_ctx`` that starts and stops its store and background loops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..config import Settings
from ..node.node import Node
from .api import add_workflow_routes
from .runtime import WORKFLOW_KEY, Workflow, create_workflow_store
from .settings import WorkflowConfig

__all__ = ["WORKFLOW_KEY", "Workflow", "WorkflowConfig", "install_workflow"]


def install_workflow(app: web.Application, node: Node, settings: Settings) -> Workflow:
    """Raises ValueError for workflow settings that cannot work."""
    workflow = Workflow(node, WorkflowConfig.from_settings(settings), create_workflow_store(settings, node.backends))
    app[WORKFLOW_KEY] = workflow
    node.add_routes(workflow.routes())
    add_workflow_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await workflow.start()  # after the node's: the chat store is open
        yield
        await workflow.close()

    app.cleanup_ctx.append(lifecycle)
    return workflow
