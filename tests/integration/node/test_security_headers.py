"""Security headers: a strict CSP on every page, framing only where the widget needs it, camera and
microphone only on the pages that use them, no versions in Server, JSON never cached. And the pages
themselves: no inline script, handler or style for the CSP to refuse."""

from __future__ import annotations

import re
from typing import Any

import pytest
from repo_paths import STATIC

PORTAL = "https://portal.example.org"
PAGES = sorted(p.name for p in STATIC.glob("*.html"))
FRAMED_BY_PORTALS = {"jobseeker.html", "check.html"}
MEDIA = {"jobseeker.html", "check.html", "advisor.html", "interview.html"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"allowed_origins": f"{PORTAL}:443/"}


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in csp.split(";")) if d}


async def test_every_page_has_a_strict_policy(harness) -> None:
    assert {"jobseeker.html", "advisor.html", "check.html"} <= set(PAGES)
    for page in PAGES:
        async with harness.session.get(harness.url(f"/static/{page}")) as resp:
            assert resp.status == 200
            h = resp.headers
        csp = _directives(h["Content-Security-Policy"])
        assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"], page
        assert csp["style-src"] == ["'self'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert "'unsafe-inline'" not in h["Content-Security-Policy"] and "'unsafe-eval'" not in h[
            "Content-Security-Policy"]
        host = f"{harness.server.host}:{harness.server.port}"
        assert {"'self'", f"ws://{host}", f"wss://{host}", PORTAL} <= set(csp["connect-src"])
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer"
        assert h["Server"] == "rtserver"
        if page in FRAMED_BY_PORTALS:
            assert csp["frame-ancestors"] == ["'self'", PORTAL], page
            assert "X-Frame-Options" not in h  # it cannot name the portal; frame-ancestors does
        else:
            assert csp["frame-ancestors"] == ["'none'"] and h["X-Frame-Options"] == "DENY", page
        camera = re.search(r"camera=([^,]*)", h["Permissions-Policy"]).group(1)  # type: ignore[union-attr]
        if page in FRAMED_BY_PORTALS:
            assert camera == f'(self "{PORTAL}")', page
        elif page in MEDIA:
            assert camera == "(self)", page
        else:
            assert camera == "()", page
        assert "microphone=" + camera in h["Permissions-Policy"]


async def test_json_is_never_cached_nor_sniffed_and_errors_carry_no_versions(harness) -> None:
    for path in ("/healthz", "/api/rooms/nope", "/client-config", "/api/openapi.json"):
        async with harness.session.get(harness.url(path)) as resp:
            assert resp.headers["Cache-Control"] == "no-store", path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
            assert resp.headers["Server"] == "rtserver", path
    async with harness.session.get(harness.url("/no/such/page")) as resp:
        assert resp.status == 404 and resp.headers["Server"] == "rtserver"
    async with harness.session.get(harness.url("/static/app/session.js")) as resp:
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Server"] == "rtserver"


async def test_client_config_lists_the_allowed_origins(harness) -> None:
    async with harness.session.get(harness.url("/client-config")) as resp:
        assert await resp.json() == {"allowed_origins": [PORTAL], "any_origin": False}


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("page", PAGES)
def test_pages_have_nothing_inline_for_the_policy_to_refuse(page: str) -> None:
    html = re.sub(r"<!--.*?-->", "", (STATIC / page).read_text(), flags=re.S)
    for pattern, what in INLINE:
        assert not pattern.search(html), f"{page}: {what}"
