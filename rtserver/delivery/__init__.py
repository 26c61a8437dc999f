"""What the services deliver through: a client's ``Connection`` (its WebSocket, written without a
queue) and the ``Hub`` (which connection is in which room, the rooms' fan-out in offset order).
Below the services, above the stores (docs/architecture.md, Layers)."""

from .connection import Connection
from .hub import Hub

__all__ = ["Connection", "Hub"]
