"""Security headers on every response: what may frame, run in and be fetched by the node's pages.

Each page is a static file with its scripts and styles in files of the node's origin, so one
strict Content-Security-Policy fits them all (no inline script or style, no ``eval``). What
differs between pages:

- **Who may frame it.** The jobseeker page is the widget's iframe on a portal's pages, and the
  pre-call check is framed by the jobseeker page or a portal: ``frame-ancestors 'self'`` plus the
  ``allowed_origins``. Every other page (the advisor console above all) may not be framed at all:
  ``frame-ancestors 'none'`` and, for browsers too old for it, ``X-Frame-Options: DENY``.
- **Camera and microphone** (``Permissions-Policy``): only for the pages that hold interviews or
  run the check, for the node's origin and, on the pages a portal frames, the allowed origins
  (the portal grants them to its iframe with ``allow="camera; microphone"`` as well).

Every response gets ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and a
``Server`` header without versions; JSON answers ``Cache-Control: no-store`` (tokens, figures).
"""

from __future__ import annotations

import dataclasses
import re

from aiohttp import web

from .origins import listed_origins
from .ws import NODE_KEY

__all__ = ["PAGES", "Page", "content_security_policy", "security_headers"]

SERVER = "rtserver"
# A Host header is echoed into connect-src: anything but a host name and port is left out.
HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    framed_by_portals: bool = False  # the widget's iframe, the pre-call check
    media: bool = False  # camera and microphone


PAGES = {
    "/static/jobseeker.html": Page(framed_by_portals=True, media=True),
    "/static/check.html": Page(framed_by_portals=True, media=True),
    "/static/advisor.html": Page(media=True),
    "/static/interview.html": Page(media=True),
}


def _sources(allowed: frozenset[str]) -> list[str]:
    if "*" in allowed:
        return ["*"]
    return list(listed_origins(allowed))


def content_security_policy(page: Page, host: str, allowed: frozenset[str]) -> str:
    portals = _sources(allowed)
    # 'self' covers ws(s) of the same host in CSP 3; the explicit ws/wss sources are for older browsers.
    sockets = [f"ws://{host}", f"wss://{host}"] if HOST.match(host) else []
    # A page may fetch its tokens from a portal's endpoint (?token_endpoint=, docs/web-client.md).
    connect = " ".join(["'self'", *sockets, *portals])
    ancestors = " ".join(["'self'", *portals]) if page.framed_by_portals else "'none'"
    return "; ".join((
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:", f"connect-src {connect}", "frame-src 'self'",
        f"frame-ancestors {ancestors}", "object-src 'none'", "base-uri 'none'", "form-action 'self'"))


def permissions_policy(page: Page, allowed: frozenset[str]) -> str:
    if not page.media:
        return "camera=(), microphone=(), display-capture=(), geolocation=()"
    portals = _sources(allowed) if page.framed_by_portals else []
    allow = "*" if portals == ["*"] else "(" + " ".join(["self", *(f'"{o}"' for o in portals)]) + ")"
    return f"camera={allow}, microphone={allow}, display-capture=(), geolocation=()"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response, errors and static files included."""
    headers = response.headers
    headers["Server"] = SERVER
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    content_type = response.content_type
    if content_type == "application/json":
        headers.setdefault("Cache-Control", "no-store")
    elif content_type == "text/html":
        allowed = request.app[NODE_KEY].settings.origins()
        page = PAGES.get(request.path, Page())
        headers["Content-Security-Policy"] = content_security_policy(page, request.host, allowed)
        headers["Permissions-Policy"] = permissions_policy(page, allowed)
        if not page.framed_by_portals:
            headers["X-Frame-Options"] = "DENY"
        elif not _sources(allowed):
            headers["X-Frame-Options"] = "SAMEORIGIN"
