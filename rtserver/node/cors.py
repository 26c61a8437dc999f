"""Cross-origin access for portals: CORS on ``/static/`` and ``/api/`` for the ``allowed_origins``.

A portal building its own pages on the SDK loads the node's module scripts (``/static/``) from
its origin, which needs CORS. No HTTP endpoint takes a user's token: browsers use ``/ws``. The
``/api/`` routes are server-to-server; a listed portal's page may read their errors, but only the
``Authorization`` and ``Content-Type`` headers are allowed across origins, so ``X-Api-Key`` calls
stay out of reach of browsers on other sites. Origins are compared whole (``origins.py``)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from .origins import origin_allowed, request_origin
from .ws import NODE_KEY

__all__ = ["cors"]

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE_S = 600
PREFIXES = ("/api/", "/static/")


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
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
