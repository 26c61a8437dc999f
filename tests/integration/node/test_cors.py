"""CORS for portals that embed the pages: allowed Origins only, and never the API key header."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Harness

PORTAL = "https://portal.example.org"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"allowed_origins": PORTAL}


async def test_a_listed_portal_may_call_the_browser_endpoints(harness: Harness) -> None:
    preflight = {"Origin": PORTAL, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    async with harness.session.options(harness.url("/api/rooms"), headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == PORTAL
        allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed == {"authorization", "content-type"}  # no x-api-key: the portal API stays server-to-server
    async with harness.session.get(harness.url("/healthz"), headers={"Origin": PORTAL}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers  # only /api/ and /static/
    async with harness.session.get(harness.url("/api/rooms/nope"), headers={"Origin": PORTAL}) as resp:
        assert resp.status == 401  # no key: refused, but readable by the portal's page
        assert resp.headers["Access-Control-Allow-Origin"] == PORTAL


async def test_another_site_gets_no_cors_grant(harness: Harness) -> None:
    preflight = {"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    async with harness.session.options(harness.url("/api/rooms"), headers=preflight) as resp:
        assert resp.status == 403
    async with harness.session.get(harness.url("/api/rooms/nope"),
                                   headers={"Origin": "https://evil.example.com"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
