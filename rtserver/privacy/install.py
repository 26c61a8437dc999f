"""A person's export and erasure as one feature of the composition (``rtserver/compose.py``):
its service over the node's stores, journal and hub, its routes, and the node inbox message
that closes an erased user's connections on the nodes holding them."""

from __future__ import annotations

from ..audit.journal import AccessJournal
from ..backends.base import Backends
from ..delivery.hub import Hub
from ..feature import Feature
from ..precall.results import CheckResults
from ..workflow.store import WorkflowStore
from .api import privacy_routes
from .person import PersonData

__all__ = ["person_data", "privacy_feature"]


def person_data(backends: Backends, workflow: WorkflowStore, checks: CheckResults, *, journal: AccessJournal,
                hub: Hub, node_id: str, page_max: int) -> PersonData:
    """The service over every store holding a person's data (the store family's chat, workflow and
    pre-call results stores)."""
    return PersonData(chat=backends.store, workflow=workflow, checks=checks, journal=journal, hub=hub,
                      broker=backends.broker, presence=backends.presence, node_id=node_id, page_max=page_max)


def privacy_feature(person: PersonData) -> Feature:
    """Declared after the workflow and the journal (their stores open first); ``build_app`` sets
    ``PERSON_KEY`` to the service."""
    return Feature(name="privacy", routes=privacy_routes())
