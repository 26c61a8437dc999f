"""The pre-call check as a feature: its results store for the node's backend, its requests, its lifecycle."""


from __future__ import annotations

from ..backends import Backends, RedisStore
from ..config import Settings
from ..feature import Feature
from .service import PrecallService
from .stores import RedisCheckResults, SqliteCheckResults

__all__ = ["precall_feature", "results_store"]


def results_store(settings: Settings, backends: Backends) -> SqliteCheckResults | RedisCheckResults:
    if settings.precall_history < 1:
        raise ValueError("precall_history must be at least 1")
    if (path := settings.sqlite_path()) is not None:
        return SqliteCheckResults(path, keep=settings.precall_history)
    if isinstance(backends.store, RedisStore):
        return RedisCheckResults(backends.store.link, keep=settings.precall_history)
    raise ValueError(f"no pre-call results store for {settings.store!r}")


def precall_feature(service: PrecallService) -> Feature:
    """The results store opens at start and closes at close (the workflow's portfolio rows read it)."""
    return Feature(name="precall", requests=service.routes(), start=service.results.open,
                   close=service.results.close)
