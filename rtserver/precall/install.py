"""The pre-call check as a feature: its requests and its results store's lifecycle."""


from __future__ import annotations

from ..feature import Feature
from .service import PrecallService

__all__ = ["precall_feature"]


def precall_feature(service: PrecallService) -> Feature:
    """The results store opens at start and closes at close (the workflow's portfolio rows read it)."""
    return Feature(name="precall", requests=service.routes(), start=service.results.open,
                   close=service.results.close)
