"""Interview outcomes: what each interview was like (``rtserver.media.outcome``), stored by the
node that hosted it, counted on ``/metrics`` and read by portals over the HTTP API."""

from __future__ import annotations

from ..feature import Feature
from .api import OUTCOMES_KEY, outcome_routes
from .recorder import OutcomeRecorder

__all__ = ["OUTCOMES_KEY", "OutcomeRecorder", "outcomes_feature"]


def outcomes_feature(recorder: OutcomeRecorder) -> Feature:
    """Declared after the node's core (the chat store is open) and before the media (closed after the
    rooms closed: their final records)."""
    return Feature(name="outcomes", routes=outcome_routes(), start=recorder.start, close=recorder.close)
