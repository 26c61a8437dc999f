"""The access journal as one feature of the composition (``rtserver/compose.py``): its store, of
the node's store family, its route, and its sweep's start and stop."""

from __future__ import annotations

from aiohttp import web

from ..backends.redis_link import RedisLink
from ..config import Settings
from ..feature import Feature
from ..metrics import Metrics
from ..workflow.store import jobseeker_of_room
from .api import audit_entries
from .journal import AccessJournal
from .stores import audit_store

__all__ = ["audit_feature", "build_journal"]


def build_journal(settings: Settings, link: RedisLink | None, *, node_id: str, metrics: Metrics) -> AccessJournal:
    """The journal lives in the chat store's family: the SQLite file, or the Redis client (``link``)."""
    return AccessJournal(audit_store(settings.sqlite_path(), link, synchronous=settings.sqlite_synchronous),
                         node_id=node_id, registry=metrics.registry, retention_days=settings.audit_retention_days,
                         subject_of_room=jobseeker_of_room)


def audit_feature(journal: AccessJournal) -> Feature:
    """Declared after the core (the chat store is open) and before the media (interview joins)."""
    return Feature(name="audit", routes=[web.get("/api/audit", audit_entries)], start=journal.start,
                   close=journal.close)
