"""Chromium inside the client network namespace, driven by Playwright from the test process.

Playwright starts the browser it is given and talks to it over a pipe (file descriptors 3 and 4).
``ip netns exec NS PROGRAM`` enters the namespace and then execs PROGRAM in the same process, open
descriptors included, so a two-line wrapper script given as ``executable_path`` puts Chromium in the
namespace with Playwright's pipe intact (and the process Playwright kills is Chromium itself).

The node the browser reaches is on the server side of the veth (``http://10.201.X.1:PORT``), not a
secure origin: camera and microphone need ``--unsafely-treat-insecure-origin-as-secure`` naming it.

For tests (``pytest_plugins = ["browser_netns"]``, module loop like ``browser_support``):
- ``two_hosts`` (``netns``): the network, per test;
- ``netns_node``: an in-process node on the server address (a ``conftest.Harness``: rooms, tokens,
  node internals), media on the same address, so every media packet of the namespace crosses the veth;
- ``netns_browsers``: two browser sessions against it: ``.jobseeker`` in a Chromium inside the
  namespace (impair ``netns_browsers.net``), ``.advisor`` in a Chromium in the root namespace.
  Screenshots and console logs go to ``test-artifacts/`` as with ``browser_session``.

``launch_chromium`` is the same without pytest (the calibration matrix uses it).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from browser_support import CHROMIUM, CHROMIUM_ARGS, BrowserSession
from conftest import Harness, make_settings
from netns import TwoHosts, two_hosts
from playwright.async_api import Browser, Playwright, async_playwright

from rtserver.app import build_app

__all__ = ["NetnsBrowsers", "launch_chromium", "namespace_wrapper", "netns_browsers", "netns_node", "playwright",
           "two_hosts"]


def namespace_wrapper(namespace: str, directory: Path) -> Path:
    """An executable that runs Chromium inside ``namespace`` with the arguments it is given."""
    script = directory / f"chromium-in-{namespace}"
    script.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {CHROMIUM} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


async def launch_chromium(playwright: Playwright, *, net: TwoHosts | None, secure_origins: list[str],
                          workdir: Path | None = None) -> Browser:
    """Chromium (fake camera and microphone) inside ``net``'s namespace, or in the root one when None;
    ``secure_origins`` (``http://HOST:PORT``) get camera and microphone although they are plain HTTP."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"Chromium is needed at {CHROMIUM} (Debian package 'chromium')")
    executable = CHROMIUM
    if net is not None:
        directory = workdir or Path(tempfile.mkdtemp(prefix="rtserver-chromium-"))
        executable = str(namespace_wrapper(net.ns, directory))
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={','.join(secure_origins)}"]
    return await playwright.chromium.launch(executable_path=executable, headless=True, args=args)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture
def netns_node_settings() -> dict[str, Any]:
    """Settings of the test's node (a module overrides this fixture)."""
    return {}


@pytest_asyncio.fixture(loop_scope="module")
async def netns_node(two_hosts: TwoHosts, tmp_path: Path, netns_node_settings: dict[str, Any]
                     ) -> AsyncIterator[Harness]:
    """A node in this process on the server side of the veth; media on the same address."""
    settings = make_settings(tmp_path, media_listen_address=two_hosts.server_ip, media_drop_timeout_s=5.0,
                             **netns_node_settings)
    server = TestServer(build_app(settings), host=two_hosts.server_ip)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            harness = Harness(server, settings, session)
            yield harness
            for client in harness.clients:
                await client.close()
    finally:
        await server.close()


@dataclass
class NetnsBrowsers:
    net: TwoHosts
    node: Harness
    jobseeker: BrowserSession  # Chromium inside the namespace
    advisor: BrowserSession  # Chromium in the root namespace


@pytest_asyncio.fixture(loop_scope="module")
async def netns_browsers(playwright: Playwright, two_hosts: TwoHosts, netns_node: Harness, tmp_path: Path,
                         request: pytest.FixtureRequest) -> AsyncIterator[NetnsBrowsers]:
    origin = netns_node.url("/").rstrip("/")
    browsers = [await launch_chromium(playwright, net=two_hosts, secure_origins=[origin], workdir=tmp_path),
                await launch_chromium(playwright, net=None, secure_origins=[origin])]
    sessions: list[BrowserSession] = []
    try:
        for browser, side in zip(browsers, ("jobseeker", "advisor"), strict=True):
            context = await browser.new_context(permissions=["camera", "microphone"], base_url=origin)
            sessions.append(await BrowserSession.start(context, netns_node, f"{request.node.name}-{side}"))
        yield NetnsBrowsers(two_hosts, netns_node, *sessions)
        for session in sessions:
            session.assert_no_csp_violation()
    finally:
        for session in sessions:
            await session.save_artifacts()
            await session.context.close()
        for browser in browsers:
            await browser.close()
