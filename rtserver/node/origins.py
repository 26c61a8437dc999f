"""Which browser Origins may use the node: its own origin and the ``allowed_origins`` list.

Origins are compared whole, ``scheme://host:port``, after normalising (lower case, default port
dropped): ``http://portal.example.org`` is not ``https://portal.example.org``, whose pages a
man-in-the-middle on plain HTTP could otherwise stand in for. The node's own origin is the
scheme it was really reached with (TLS on its socket or not) and the host asked for; behind a
proxy that terminates TLS the node sees plain HTTP, so list the public origin (``https://...``)
in ``allowed_origins`` (docs/protocol.md).
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["listed_origins", "normalize_origin", "origin_allowed", "request_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None for what is not an origin
    (``null``, a path, a user name, a scheme other than http(s))."""
    try:
        parts = urlsplit(value.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.path or parts.query or parts.fragment or (
            parts.username is not None):
        return None
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{netloc}:{port}"


@functools.lru_cache(maxsize=8)
def listed_origins(allowed: frozenset[str]) -> tuple[str, ...]:
    """The ``allowed_origins`` entries that are origins, normalised and sorted (``*`` and what is not
    an origin left out). Cached: the list is the settings', so it is normalised once, not per request."""
    return tuple(sorted({o for o in map(normalize_origin, allowed) if o is not None}))


def request_origin(request: web.BaseRequest) -> str | None:
    """The node's own origin as this request reached it: TLS on the socket or not, and its Host."""
    return normalize_origin(f"{'https' if request.secure else 'http'}://{request.host}")


def origin_allowed(origin: str, own: str | None, allowed: frozenset[str]) -> bool:
    """The node's own origin always; others only when listed (or ``*``). Refusing the rest stops
    cross-site WebSocket hijacking and keeps other sites' pages from reading the browser endpoints."""
    if "*" in allowed:
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    return normalized == own or normalized in listed_origins(allowed)
