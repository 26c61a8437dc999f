"""Interview outcomes: what each interview was like (``rtserver.media.outcome``), stored by the
node that hosted it, counted on ``/metrics`` and read by portals over the HTTP API."""

from __future__ import annotations

from ..backends import Backends, RedisStore
from ..config import Settings
from ..feature import Feature
from .api import OUTCOMES_KEY, outcome_routes
from .recorder import OutcomeRecorder
from .stores import OutcomeStore, RedisOutcomes, SqliteOutcomes

__all__ = ["OUTCOMES_KEY", "OutcomeRecorder", "outcome_store", "outcomes_feature"]


def outcome_store(settings: Settings, backends: Backends) -> OutcomeStore:
    if (path := settings.sqlite_path()) is not None:
        return SqliteOutcomes(path)
    if isinstance(backends.store, RedisStore):
        return RedisOutcomes(backends.store.link)
    raise ValueError(f"no interview outcome store for {settings.store!r}")


def outcomes_feature(recorder: OutcomeRecorder) -> Feature:
    """Declared after the node's core (the chat store is open) and before the media (closed after the
    rooms closed: their final records)."""
    return Feature(name="outcomes", routes=outcome_routes(), start=recorder.start, close=recorder.close)
