"""Shared fixtures for browser tests: the system Chromium driven by Playwright, against a real node.

A browser test module does::

    pytest_plugins = ["browser_support"]  # the fixtures below
    pytestmark = pytest.mark.asyncio(loop_scope="module")  # the browser's loop

- ``browser``: one Chromium per module (starting it costs about a second), with fake camera and
  microphone and loopback WebRTC allowed. Chromium must be the Debian one at ``/usr/bin/chromium``
  (scripts/test installs it); no browser is ever downloaded.
- ``node``: a fresh node per test on 127.0.0.1 (a ``conftest.Harness``), media on loopback.
  It runs in the module's event loop, like the browser, so both live in one loop.
- ``browser_session``: a new browser context per test (camera and microphone allowed) that opens
  pages with a freshly minted token, and at teardown, pass or fail, saves each page's screenshot
  and console log to ``test-artifacts/<test>-<page>.png|.log``. A test that passed also fails if
  any page or frame of its context broke the node's Content-Security-Policy (Chromium reports
  each refused script, style, connection or frame on the console, and the pages' own
  ``securitypolicyviolation`` events are forwarded there too).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from conftest import Harness, make_settings
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from rtserver.app import build_app
from rtserver.media.links import LinkMonitor

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "BrowserSession", "browser", "browser_session", "free_port", "node",
           "node_events_only_from_the_test",
           "node_settings"]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Playwright starts each browser with a fresh temporary profile (a new user-data-dir), and
# refuses --user-data-dir in the arguments; headless=True is Chromium's new headless mode.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",  # remote audio plays without a click, as after one
    # Third-party cookies blocked, as in Chrome's incognito windows and for anyone who blocks them:
    # a frame of another site than the top page then gets no sessionStorage or localStorage
    # (SecurityError on access), which the widget's page on a portal must survive.
    "--test-third-party-cookie-phaseout",
]
NODE_SETTINGS: dict[str, Any] = {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 5.0}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium', listed in "
                    "scripts/test SYSTEM_PACKAGES); it is not installed", pytrace=False)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server whose origin must be known before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def node_settings() -> dict[str, Any]:
    """Settings of the test's node besides NODE_SETTINGS (a module overrides this fixture)."""
    return {}


@pytest_asyncio.fixture(loop_scope="module")
async def node(tmp_path: Path, node_settings: dict[str, Any]) -> AsyncIterator[Harness]:
    """A running node for one test (the ``harness`` of conftest.py, in the module's loop)."""
    settings = make_settings(tmp_path, **{**NODE_SETTINGS, **node_settings})
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            harness = Harness(server, settings, session)
            yield harness
            for client in harness.clients:
                await client.close()
            for ws in harness.sockets:
                await ws.close()
    finally:
        await server.close()


# Chromium's console line for a CSP refusal, and the event pages fire for it (forwarded by WATCH_CSP).
CSP_REPORT = re.compile(r"Content Security Policy|\[csp\]")
WATCH_CSP = """window.addEventListener("securitypolicyviolation", (e) =>
  console.error(`[csp] ${e.effectiveDirective} refused ${e.blockedURI} in ${e.documentURI}`));"""


class BrowserSession:
    """One test's browser context: opens pages as users, keeps their console output."""

    def __init__(self, context: BrowserContext, harness: Harness, test_name: str):
        self.context = context
        self.harness = harness
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
        self.pages: dict[str, Page] = {}
        self.logs: dict[str, list[str]] = {}
        self.csp_reports: list[str] = []  # from every page and frame of the context, tracked or not
        context.on("console", self._note_csp)

    def _note_csp(self, message: ConsoleMessage) -> None:
        if CSP_REPORT.search(message.text):
            self.csp_reports.append(f"{message.page.url if message.page else '?'}: {message.text}")

    @classmethod
    async def start(cls, context: BrowserContext, harness: Harness, test_name: str) -> BrowserSession:
        """A session whose pages also report their ``securitypolicyviolation`` events."""
        await context.add_init_script(WATCH_CSP)
        return cls(context, harness, test_name)

    def assert_no_csp_violation(self) -> None:
        assert not self.csp_reports, "Content-Security-Policy violations:\n" + "\n".join(self.csp_reports)

    async def open(self, label: str, path: str, *, user: str, role: str = "jobseeker", **query: str) -> Page:
        """Open ``path`` on the node as ``user`` (token in the fragment), under ``label`` for the artifacts."""
        token = self.harness.token(user, role, name=user.capitalize())
        page = await self.context.new_page()
        self.pages[label] = page
        log = self.logs[label] = []
        page.on("console", lambda message, log=log: log.append(_console_line(message)))
        page.on("pageerror", lambda error, log=log: log.append(f"[pageerror] {error}"))
        search = "&".join(f"{k}={quote(v)}" for k, v in query.items())
        await page.goto(f"{self.harness.url(path)}?{search}#token={quote(token)}")
        return page

    async def open_signed_in(self, label: str, path: str, token: str,
                             viewport: dict[str, int] | None = None) -> Page:
        """Open a page of the node signed in as a portal page of the node's origin would: the
        token in the tab's sessionStorage (the app pages never read tokens from URLs)."""
        page = await self.context.new_page()
        if viewport:
            await page.set_viewport_size(viewport)
        self.track(label, page)
        origin = self.harness.url("/").rstrip("/")
        stored = json.dumps({"token": token, "user": "", "name": "", "role": "", "expires_at": 2**52})
        await page.add_init_script(f"if (location.origin === {json.dumps(origin)})"
                                   f" sessionStorage.setItem('rtserver.session', {json.dumps(stored)});")
        await page.goto(self.harness.url(path))
        return page

    def track(self, label: str, page: Page) -> None:
        """Keep ``page``'s console output and screenshot with the test's artifacts."""
        self.pages[label] = page
        log = self.logs[label] = []
        page.on("console", lambda message: log.append(_console_line(message)))
        page.on("pageerror", lambda error: log.append(f"[pageerror] {error}"))

    def console(self, label: str) -> str:
        """A page's console output so far (to put in assertion messages)."""
        return "\n".join(self.logs.get(label, []))

    async def save_artifacts(self) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        for label, page in self.pages.items():
            stem = ARTIFACTS / f"{self.test_name}-{label}"
            stem.with_suffix(".log").write_text(self.console(label) + "\n")
            if not page.is_closed():
                try:
                    await page.screenshot(path=str(stem.with_suffix(".png")), timeout=5_000)
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    stem.with_suffix(".log").write_text(self.console(label) + f"\n[screenshot failed] {exc}\n")


def _console_line(message: ConsoleMessage) -> str:
    return f"[{message.type}] {message.text}"


@pytest_asyncio.fixture(loop_scope="module")
async def browser_session(browser: Browser, node: Harness, request: pytest.FixtureRequest
                          ) -> AsyncIterator[BrowserSession]:
    context = await browser.new_context(permissions=["camera", "microphone"], base_url=node.url("/"))
    session = await BrowserSession.start(context, node, request.node.name)
    try:
        yield session
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await context.close()


@pytest.fixture
def node_events_only_from_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's own link judging (LinkMonitor.tick) stays off: on loopback it would say "good"
    in its next media_link and override the states a test sends with ``Harness.media_broadcast``; the pages'
    answers to the node's real verdicts are tested over impaired links in the namespaces.
    Use it with ``pytest.mark.usefixtures``."""

    async def no_tick(self: LinkMonitor, now: float | None = None) -> None:
        return None

    monkeypatch.setattr(LinkMonitor, "tick", no_tick)



async def doc_screenshot(page: Page, name: str) -> None:
    """A screenshot for the documentation: in test-artifacts/ always, and with
    ``RTSERVER_UPDATE_SCREENSHOTS=1`` in docs/screenshots/ (JPEG at quality 70, under 150 KB)."""
    from repo_paths import ARTIFACTS, DOCS

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if os.environ.get("RTSERVER_UPDATE_SCREENSHOTS") == "1":
        target = DOCS / "screenshots" / f"{name}.jpg"
        await page.screenshot(path=str(target), type="jpeg", quality=70)
        assert target.stat().st_size < 150_000, f"{target} is {target.stat().st_size} bytes"
