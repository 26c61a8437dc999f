"""Business rules: chat rooms and presence. Plain async classes over the backends."""

from .chat import ChatService
from .presence import PresenceService

__all__ = ["ChatService", "PresenceService"]
