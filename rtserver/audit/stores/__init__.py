"""The access journal's stores: SQLite (the embedded default) and Redis (several nodes).

``base`` says what every store does and how (read its docstring first); ``sqlite`` and ``redis``
are the two families; ``audit_store`` picks one, beside the chat store.
"""

from __future__ import annotations

from ...backends.redis_link import RedisLink
from .base import SWEEP_BATCH, AuditStore, Cursor, Page, Stream
from .redis import RedisAudit
from .sqlite import SqliteAudit

__all__ = ["SWEEP_BATCH", "AuditStore", "Cursor", "Page", "RedisAudit", "SqliteAudit", "Stream", "audit_store"]


def audit_store(sqlite_path: str | None, link: RedisLink | None, *, synchronous: str = "full") -> AuditStore:
    """The journal beside the chat store: in its SQLite file, or through its Redis link."""
    if sqlite_path is not None:
        return SqliteAudit(sqlite_path, synchronous=synchronous)
    if link is not None:
        return RedisAudit(link)
    raise ValueError("the access journal needs a sqlite: or Redis store")
