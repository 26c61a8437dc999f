"""A node: the session life cycle, the request table, and the aiohttp transport around them."""

from .node import Node

__all__ = ["Node"]
