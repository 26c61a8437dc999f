"""``GET /``: the node's home page (static/index.html), where a newcomer who opens
http://127.0.0.1:8080/ finds the demo, the pages and the documentation instead of a 404."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_home_route"]

HOME = "/static/index.html"


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(HOME)


def add_home_route(app: web.Application) -> None:
    app.router.add_get("/", home)
