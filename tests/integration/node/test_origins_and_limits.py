"""Before authentication: whole-origin checks, sockets per client address, and HTTP connections that
never finish a request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from test_process import ServerProcess

from rtserver.config import Settings
from rtserver.node.origins import normalize_origin, origin_allowed

PORTAL = "https://portal.example.org"
WAIT_S = 5.0


def test_origins_compare_scheme_host_and_port() -> None:
    assert normalize_origin("HTTPS://Portal.Example.org:443/") == PORTAL
    assert normalize_origin("http://[::1]:8080") == "http://[::1]:8080"
    for bad in ("null", "file://x", "https://portal.example.org/path", "https://u@portal.example.org", "x:y:z"):
        assert normalize_origin(bad) is None, bad
    allowed = frozenset({"https://portal.example.org:443"})
    assert origin_allowed(PORTAL, "http://node:8080", allowed)
    assert not origin_allowed("http://portal.example.org", "http://node:8080", allowed)
    assert not origin_allowed("https://portal.example.org:8443", "http://node:8080", allowed)
    assert origin_allowed("http://node:8080", "http://node:8080", frozenset())
    assert not origin_allowed("https://node:8080", "http://node:8080", frozenset())
    assert origin_allowed("null", "http://node:8080", frozenset({"*"}))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"allowed_origins": "HTTPS://Portal.Example.org:443", "max_unauthenticated_per_address": 3}


async def test_websocket_and_cors_compare_whole_origins(harness) -> None:
    own = f"{harness.server.host}:{harness.server.port}"
    # The node is reached over plain HTTP: an https page of the same host name is another origin.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await harness.raw(headers={"Origin": f"https://{own}"})
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await harness.raw(headers={"Origin": "http://portal.example.org"})
    assert refused.value.status == 403
    await (await harness.raw(headers={"Origin": f"http://{own}"})).close()
    await (await harness.raw(headers={"Origin": PORTAL})).close()  # listed with another spelling
    async with harness.session.get(harness.url("/api/rooms/nope"), headers={"Origin": f"https://{own}"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with harness.session.get(harness.url("/api/rooms/nope"), headers={"Origin": PORTAL}) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == PORTAL


async def test_one_address_holds_a_bounded_number_of_unauthenticated_sockets(harness) -> None:
    silent = [await harness.raw() for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await harness.raw()
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "10"
    # Sockets that authenticated, by message or by header, leave the count.
    await silent[0].send_str(json.dumps({"type": "auth", "token": harness.token("u1")}))
    assert (await silent[0].receive_json(timeout=WAIT_S))["type"] == "hello"
    by_header = await harness.raw(headers={"Authorization": f"Bearer {harness.token('u2')}"})
    await by_header.receive_json(timeout=WAIT_S)
    fourth = await harness.raw()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await harness.raw()
    # A silent socket that goes away gives its place back.
    await silent[1].close()
    await asyncio.wait_for(_until(lambda: len(harness.node.connections) == 4), WAIT_S)
    await (await harness.raw()).close()
    await fourth.close()


async def _until(predicate: Any) -> None:
    while not predicate():  # noqa: ASYNC110 (the node notices the close on its own: no event to await)
        await asyncio.sleep(0.01)


def test_http_idle_timeout_is_well_below_aiohttp_default() -> None:
    assert Settings().http_idle_timeout_s <= 15.0 < 75.0


async def test_a_request_whose_headers_never_end_is_closed_after_the_idle_timeout(tmp_path) -> None:
    server = ServerProcess(tmp_path)
    server.env["RTSERVER_HTTP_IDLE_TIMEOUT_S"] = "1"
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never complete
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # closed by the node, not by us
        writer.close()
    finally:
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait()
