"""A node: live connections, fan-out, and the aiohttp transport around them."""

from .connection import Connection
from .hub import Hub
from .node import Node

__all__ = ["Connection", "Hub", "Node"]
