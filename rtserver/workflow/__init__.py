"""The follow-up workflow: portfolios, callback requests, appointments, mail digests, figures,
the portals' API and webhooks (docs/workflow.md).

``workflow_feature`` is what the composition root (``rtserver/compose.py``) takes from it: its
WebSocket requests, the checks it adds to the chat's ``send`` in follow-up rooms, its HTTP routes,
and the start and close of its store and background loops.
"""

from __future__ import annotations

from ..feature import Feature
from .api import workflow_routes
from .runtime import WORKFLOW_KEY, Workflow
from .settings import WorkflowConfig

__all__ = ["WORKFLOW_KEY", "Workflow", "WorkflowConfig", "workflow_feature"]


def workflow_feature(workflow: Workflow) -> Feature:
    """Started after the node's core (the chat store is open)."""
    return Feature(name="workflow", requests=workflow.live.routes(), routes=workflow_routes(),
                   before_send=[workflow.live.before_send], after_send=[workflow.live.after_send],
                   start=workflow.start, close=workflow.close)
