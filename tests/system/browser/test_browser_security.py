"""Page parameters that name another site, in real Chromium: a page trusts a token endpoint
(``?token_endpoint=``) or a widget host (``?host=``) only from its own origin or the node's
``allowed_origins``, and says so when it refuses; a site that is not listed cannot frame the pages.

Two sites besides the node: a portal whose origin is listed, and a stranger's site that is not.
Each offers a token endpoint (counting its calls) and a page framing the jobseeker page; the
stranger's token would sign the visitor in as the stranger's account (login CSRF).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import Harness
from playwright.async_api import expect

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

WAIT_MS = 10_000
FRAMING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s</title><link rel="icon" href="data:,"></head>
<body><h1>%(title)s</h1>
<script>
  window.fromNode = [];
  window.addEventListener("message", (e) => {
    if (e.origin !== "%(node)s" || !e.data || e.data.source !== "rtserver") return;
    window.fromNode.push(e.data);
    // A stranger's page hands over its own account's token when asked.
    if (e.data.type === "token_request") e.source.postMessage(
      {source: "rtserver", type: "token", id: e.data.id, token: "%(token)s"}, "%(node)s");
  });
</script>
<iframe title="widget" src="%(node)s/static/jobseeker.html?embed=1&host=%(host)s"></iframe>
</body></html>"""


class Site:
    """A web site on its own origin: a page framing the node's jobseeker page, a token endpoint."""

    def __init__(self, node: Harness, title: str, port: int | None = None):
        self.node, self.title, self.port = node, title, port
        self.token_calls = 0
        self.framed_host = ""  # the host parameter its page gives the frame
        self.server: TestServer | None = None

    @property
    def origin(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/")).rstrip("/")

    async def start(self) -> None:
        node_origin = self.node.url("/").rstrip("/")

        async def page(request: web.Request) -> web.Response:
            return web.Response(content_type="text/html", text=FRAMING_PAGE % {
                "title": self.title, "node": node_origin, "host": quote(self.framed_host or self.origin, safe=""),
                "token": self.node.token("stranger", "jobseeker", name="Stranger")})

        async def token(request: web.Request) -> web.Response:
            self.token_calls += 1
            # CORS with credentials, as a portal serving tokens to the node's pages must answer.
            return web.json_response({"token": self.node.token("js-1", "jobseeker", name="Karim")}, headers={
                "Access-Control-Allow-Origin": node_origin, "Access-Control-Allow-Credentials": "true"})

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/token", token)
        self.server = TestServer(app, host="127.0.0.1", port=self.port)
        await self.server.start_server()


@pytest.fixture
def portal_port() -> int:
    from browser_support import free_port  # the plugin, imported by then

    return free_port()


@pytest.fixture
def node_settings(portal_port: int) -> dict[str, Any]:
    return {"allowed_origins": f"http://127.0.0.1:{portal_port}"}


@pytest_asyncio.fixture(loop_scope="module")
async def sites(node: Harness, portal_port: int) -> AsyncIterator[tuple[Site, Site]]:
    portal, stranger = Site(node, "Portal", portal_port), Site(node, "Stranger")
    await portal.start()
    await stranger.start()
    try:
        yield portal, stranger
    finally:
        for site in (portal, stranger):
            assert site.server is not None
            await site.server.close()


async def test_a_token_endpoint_of_another_site_is_not_called(browser_session: BrowserSession, node: Harness,
                                                              sites: tuple[Site, Site]) -> None:
    portal, stranger = sites
    page = await browser_session.context.new_page()
    browser_session.track("foreign-endpoint", page)
    await page.goto(node.url("/static/jobseeker.html") + "?token_endpoint=" + quote(f"{stranger.origin}/token"))
    notice = page.locator("#no-session")
    await expect(notice).to_contain_text("Connexion refusée", timeout=WAIT_MS)
    await expect(notice).to_contain_text("token_endpoint")
    assert stranger.token_calls == 0
    assert await page.evaluate("() => window.rtPage === undefined")  # no connection opened

    # The listed portal's endpoint signs the page in.
    page = await browser_session.context.new_page()
    browser_session.track("portal-endpoint", page)
    await page.goto(node.url("/static/jobseeker.html") + "?token_endpoint=" + quote(f"{portal.origin}/token"))
    await expect(page.locator("#who")).to_contain_text("Karim", timeout=WAIT_MS)
    assert portal.token_calls >= 1


async def test_a_widget_host_of_another_site_is_not_trusted(browser_session: BrowserSession, node: Harness,
                                                           sites: tuple[Site, Site]) -> None:
    portal, stranger = sites
    # The listed portal frames the page but names the stranger as host: the page refuses, visibly,
    # and asks nobody for a token.
    portal.framed_host = stranger.origin
    page = await browser_session.context.new_page()
    browser_session.track("portal-foreign-host", page)
    await page.goto(portal.origin + "/")
    notice = page.frame_locator("iframe").locator("#no-session")
    await expect(notice).to_contain_text("Connexion refusée", timeout=WAIT_MS)
    await expect(notice).to_contain_text("host")
    assert await page.evaluate("() => window.fromNode") == []

    # The stranger frames the page naming itself as host: the browser refuses the frame
    # (frame-ancestors), so the stranger gets no token request and signs nobody in.
    page = await browser_session.context.new_page()
    browser_session.track("stranger", page)
    async with browser_session.context.expect_event(
            "console", lambda m: "frame-ancestors" in m.text, timeout=WAIT_MS):
        await page.goto(stranger.origin + "/")
    assert await page.evaluate("() => window.fromNode") == []
    assert all("frame-ancestors" in report for report in browser_session.csp_reports)
    browser_session.csp_reports.clear()  # the refusal this test expects, not a page breaking the policy
