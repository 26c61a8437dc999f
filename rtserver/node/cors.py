"""Cross-origin access for the pages a portal embeds: CORS on the browser-facing HTTP endpoints.

A portal that embeds the widget or the pre-call check serves its page from its own origin and
calls this node's HTTP endpoints with the user's token (``Authorization: Bearer``). Those calls
are allowed from the same Origins that may open ``/ws`` (``allowed_origins``). Only the
``Authorization`` and ``Content-Type`` headers are allowed across origins, so the
server-to-server API, which needs ``X-Api-Key``, stays out of reach of browsers on other sites.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .origins import origin_allowed, request_origin
from .ws import NODE_KEY

__all__ = ["cors"]

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE_S = 600
PREFIXES = ("/api/", "/static/")


@web.middleware
async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(PREFIXES):
        return await handler(request)
    allowed = origin_allowed(origin, request_origin(request), request.app[NODE_KEY].settings.origins())
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            raise web.HTTPForbidden(text="origin not allowed")
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            "Vary": "Origin"})
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        if allowed:
            _allow(response, origin)
        raise
    if allowed:
        _allow(response, origin)
    return response


def _allow(response: web.StreamResponse, origin: str) -> None:
    if response.prepared:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
