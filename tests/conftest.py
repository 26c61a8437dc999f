"""Shared fixtures: a real node on 127.0.0.1 (free port, temporary SQLite file) and real clients;
and the test tiers, one folder each (docs/architecture.md, "Tests"):

- ``tests/unit``: pure code, no socket, no server, no file store: seconds (``./scripts/test --fast``);
- ``tests/integration``: nodes on 127.0.0.1, SQLite files, a real redis-server, aiortc peers on loopback;
- ``tests/system``: headless Chromium, network namespaces, coturn, the load tester's smoke runs.

Each test gets its tier's marker from its folder (``-m unit`` selects the same tests as the folder),
and a unit test that opens a network connection or binds a port fails, so the tier stays honest.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis_server import RedisServer, redis_available

from rtserver.app import build_app
from rtserver.auth import mint_token
from rtserver.client import Client
from rtserver.compose import COMPOSITION_KEY
from rtserver.config import Settings
from rtserver.node.ws import NODE_KEY

# The support modules that test files load as plugins (``pytest_plugins = [...]``) and also import:
# registered here, before any test file, so that they are rewritten on whichever import comes
# first. Otherwise a run that collects a file importing one before a file loading it as a plugin
# fails with "Module already imported so cannot be rewritten" (warnings are errors here).
pytest.register_assert_rewrite("browser_support", "browser_netns")

API_KEY = "test-api-key-" + secrets.token_hex(4)
TIERS = ("unit", "integration", "system")
_TESTS = Path(__file__).resolve().parent


def _tier(path: Path) -> str:
    try:
        first = path.resolve().relative_to(_TESTS).parts[0]
    except ValueError:
        first = ""
    if first not in TIERS:
        raise pytest.UsageError(f"{path}: a test lives in one of the tier folders {TIERS}")
    return first


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(_tier(item.path))


class _NoNetwork(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _unit_tests_stay_off_the_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that binds or connects a socket belongs to the integration tier: say so at once.
    (The event loop's own self-pipe is a socketpair, which neither binds nor connects.)"""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self: socket.socket, *args: Any) -> None:
        raise _NoNetwork(f"{request.node.nodeid}: a unit test must not use the network; move it to tests/integration")

    for name in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)


class Harness:
    """A running node plus helpers to make rooms, tokens and clients against it."""

    def __init__(self, server: TestServer, settings: Settings, session: aiohttp.ClientSession):
        self.server = server
        self.settings = settings
        self.session = session
        self.clients: list[Client] = []
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    @property
    def app(self) -> web.Application:
        return self.server.app

    @property
    def node(self) -> Any:
        return self.server.app[NODE_KEY]

    @property
    def media(self) -> Any:
        """The node's ``MediaService`` (the interviews it hosts)."""
        return self.server.app[COMPOSITION_KEY].media

    @property
    def media_routing(self) -> Any:
        return self.server.app[COMPOSITION_KEY].media_routing

    @property
    def ws_url(self) -> str:
        return str(self.server.make_url("/ws"))

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def token(self, user: str, role: str = "jobseeker", ttl_s: float = 600, **kw: Any) -> str:
        return mint_token(secret=self.settings.secret, user_id=user, role=role, ttl_s=ttl_s, **kw)

    async def followup(self, advisor: str = "adv-1", jobseeker: str = "js-1", *,
                       advisor_name: str = "Claire Martin", jobseeker_name: str = "Karim Benali") -> None:
        """A volunteer advisor following a jobseeker, set up through the HTTP API as a portal does."""
        for user, body in {advisor: {"name": advisor_name, "role": "advisor", "volunteer": True},
                           jobseeker: {"name": jobseeker_name, "role": "jobseeker"}}.items():
            status, data = await self.api("PUT", f"/api/users/{user}", body)
            assert status == 200, data
        status, data = await self.api("POST", "/api/followups", {"jobseeker": jobseeker, "advisor": advisor})
        assert status == 201, data

    def media_broadcast(self, room: str, event: dict[str, Any]) -> None:
        """The node sends ``event`` to every participant of the interview ``room``, as its room does
        (``MediaRoom.broadcast``): for page tests that play the node's verdicts themselves."""
        self.media.rooms[room].broadcast({"room": room, **event})

    async def api(self, method: str, path: str, json: Any = None, key: str | None = API_KEY) -> tuple[int, Any]:
        headers = {"X-Api-Key": key} if key else {}
        async with self.session.request(method, self.url(path), json=json, headers=headers) as resp:
            return resp.status, await resp.json()

    async def room(self, room_id: str, members: dict[str, str], kind: str = "group", **extra: Any) -> dict[str, Any]:
        body = {"id": room_id, "kind": kind,
                "members": [{"user": u, "role": r} for u, r in members.items()], **extra}
        status, data = await self.api("POST", "/api/rooms", body)
        assert status == 201, data
        return data

    async def client(self, user: str, role: str = "jobseeker", **kw: Any) -> Client:
        client = Client(self.ws_url, token=self.token(user, role), **kw)
        await client.connect()
        self.clients.append(client)
        return client

    async def raw(self, protocols: tuple[str, ...] = ("rtserver.v1.json",),
                  **kw: Any) -> aiohttp.ClientWebSocketResponse:
        ws = await self.session.ws_connect(self.ws_url, protocols=protocols, **kw)
        self.sockets.append(ws)  # closed at teardown, whatever the test did
        return ws


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        store=f"sqlite:{tmp_path / 'rt.db'}", secret=secrets.token_urlsafe(24), api_key=API_KEY,
        secret_file=str(tmp_path / "unused.secret"), heartbeat_s=30.0)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def harness(tmp_path: Path, settings_overrides: dict[str, Any],
                  aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, **settings_overrides)
    server = await aiohttp_server(build_app(settings), host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        h = Harness(server, settings, session)
        yield h
        for client in h.clients:
            await client.close()
        for ws in h.sockets:
            await ws.close()


@pytest.fixture
async def peer(harness: Harness) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await peer(user, role, room, colour)``: an aiortc ``media_peers.MediaPeer`` signed in to the
    test's node (``harness.client`` keywords pass through), closed after the test."""
    from media_peers import MediaPeer  # aiortc and av only for the media tests

    made: list[MediaPeer] = []

    async def make(user: str, role: str, room: str, colour: str = "grey", **kw: Any) -> MediaPeer:
        made.append(MediaPeer(await harness.client(user, role, **kw), room, colour=colour))
        return made[-1]

    yield make
    for p in made:
        await p.close()


@pytest.fixture
async def redis_nodes(tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]],
                      settings_overrides: dict[str, Any]) -> AsyncIterator[list[Harness]]:
    """Two nodes sharing a real redis-server (started on a free port), each with its own harness."""
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        base = make_settings(tmp_path, store=server.url)
        harnesses = []
        async with aiohttp.ClientSession() as session:
            for i in range(2):
                settings = make_settings(tmp_path / f"n{i}", **{**settings_overrides, "store": server.url,
                                                                  "secret": base.secret})
                app_server = await aiohttp_server(build_app(settings), host="127.0.0.1")
                harnesses.append(Harness(app_server, settings, session))
            yield harnesses
            for h in harnesses:
                for client in h.clients:
                    await client.close()
                await h.server.close()
    finally:
        server.kill()


@pytest.fixture
async def receiver() -> AsyncIterator[Any]:
    """A portal's webhook endpoint (workflow_support.WebhookReceiver) that accepts every delivery;
    files needing one that fails or stalls define their own ``receiver``."""
    from workflow_support import WebhookReceiver

    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.stop()
