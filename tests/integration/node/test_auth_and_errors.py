"""Authentication, authorization and every bad-input case: documented errors, connection stays usable."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import jwt
import msgpack
import pytest

from rtserver.auth import mint_token
from rtserver.client import ServerError
from rtserver.errors import CloseCode


async def _authed(harness, user="js", role="jobseeker", **kw):
    ws = await harness.raw(headers={"Authorization": f"Bearer {harness.token(user, role)}"}, **kw)
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    return ws


async def _request(ws, frame):
    await ws.send_json(frame)
    while True:
        event = await ws.receive_json(timeout=5)
        if event.get("id") == frame.get("id") or event["type"] == "error":
            return event


async def test_auth_by_first_message_for_browsers(harness):
    ws = await harness.raw()
    await ws.send_json({"type": "auth", "id": "a1", "token": harness.token("js")})
    hello = await ws.receive_json(timeout=5)
    assert (hello["type"], hello["id"], hello["user"], hello["role"]) == ("hello", "a1", "js", "jobseeker")
    await ws.close()


async def test_requests_before_auth_are_refused(harness):
    ws = await harness.raw()
    await ws.send_json({"type": "join", "id": 1, "room": "x"})
    error = await ws.receive_json(timeout=5)
    assert (error["code"], error["id"]) == ("unauthorized", 1)
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("settings_overrides", [{"jwt_leeway_s": 0.0}])
async def test_expired_token_is_refused(harness):
    expired = mint_token(secret=harness.settings.secret, user_id="js", role="jobseeker", ttl_s=-10)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.raw(headers={"Authorization": f"Bearer {expired}"})
    assert err.value.status == 401
    ws = await harness.raw()
    await ws.send_json({"type": "auth", "token": expired})
    error = await ws.receive_json(timeout=5)
    assert error["code"] == "unauthorized" and "expired" in error["message"]
    assert (await ws.receive(timeout=5)).data == CloseCode.UNAUTHORIZED


async def test_clock_skew_within_leeway_is_tolerated(harness):
    token = mint_token(secret=harness.settings.secret, user_id="js", role="jobseeker", ttl_s=-5)
    ws = await harness.raw(headers={"Authorization": f"Bearer {token}"})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.close()


async def test_forged_token_is_refused(harness):
    forged = mint_token(secret="not-the-server-secret-but-long-enough-to-sign", user_id="adv", role="advisor")
    ws = await harness.raw()
    await ws.send_json({"type": "auth", "token": forged})
    error = await ws.receive_json(timeout=5)
    assert error["code"] == "unauthorized" and "signature" in error["message"].lower()
    none_alg = jwt.encode({"sub": "adv", "role": "advisor", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.raw(headers={"Authorization": f"Bearer {none_alg}"})
    assert err.value.status == 401
    await ws.close()


async def test_token_in_url_is_refused(harness):
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.session.ws_connect(harness.ws_url + "?token=" + harness.token("js"))
    assert err.value.status == 400


@pytest.mark.parametrize("settings_overrides", [{"jwt_leeway_s": 0.0}])
async def test_token_expiry_closes_the_session(harness):
    token = mint_token(secret=harness.settings.secret, user_id="js", role="jobseeker", ttl_s=1.5)
    ws = await harness.raw(headers={"Authorization": f"Bearer {token}"})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CloseCode.TOKEN_EXPIRED)


async def test_jobseeker_cannot_join_another_jobseekers_conversation(harness):
    await harness.room("conv-alice", {"adv": "member", "alice": "member"}, kind="conversation")
    mallory = await harness.client("mallory")
    with pytest.raises(ServerError) as err:
        await mallory.join("conv-alice")
    assert err.value.code == "forbidden"
    with pytest.raises(ServerError) as missing:
        await mallory.join("conv-does-not-exist")
    assert missing.value.code == "forbidden"  # same answer: nobody learns which conversations exist
    with pytest.raises(ServerError) as not_joined:
        await mallory.send("conv-alice", "hello?")
    assert not_joined.value.code == "not_joined"
    assert (await mallory.request("ping"))["type"] == "pong"  # still usable


class _CountingStore:
    """The node's store, recording the name of every call the chat service makes on it."""

    def __init__(self, store):
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


async def test_joining_a_missing_room_and_a_room_of_others_look_the_same(harness):
    """Same error, same store calls: neither the answer nor its timing tells whether a room exists."""
    await harness.room("conv-alice", {"adv": "member", "alice": "member"}, kind="conversation")
    mallory = await harness.client("mallory")
    counting = _CountingStore(harness.node.chat._store)
    harness.node.chat._store = counting
    answers = []
    for room in ("conv-alice", "conv-bobby"):
        counting.calls.clear()
        with pytest.raises(ServerError) as err:
            await mallory.join(room)
        answers.append((err.value.code, str(err.value).replace(room, "ROOM"), list(counting.calls)))
    assert answers[0] == answers[1]
    assert answers[0][0] == "forbidden" and answers[0][2] == ["member_role"]


async def test_a_refresh_must_keep_the_user_and_the_role(harness):
    ws = await _authed(harness, "js", "jobseeker")
    promoted = await _request(ws, {"type": "auth", "id": "r1", "token": harness.token("js", "advisor")})
    assert (promoted["type"], promoted["code"], promoted["id"]) == ("error", "forbidden", "r1")
    assert "role" in promoted["message"]
    other = await _request(ws, {"type": "auth", "id": "r2", "token": harness.token("adv", "jobseeker")})
    assert other["code"] == "forbidden"
    same = await _request(ws, {"type": "auth", "id": "r3", "token": harness.token("js", "jobseeker")})
    assert (same["type"], same["id"]) == ("ok", "r3")
    conn = next(iter(harness.node.connections))
    assert (conn.identity.user_id, conn.identity.role) == ("js", "jobseeker")


@pytest.mark.parametrize("claims", [
    {"sub": "js", "role": "jobseeker", "iat": "NOW", "exp": 253_402_300_799},  # year 9999
    {"sub": "js", "role": "jobseeker", "exp": 253_402_300_799},
    {"sub": "js\r\nx", "role": "jobseeker", "exp": "IN_A_MINUTE"},
    {"sub": "js", "role": "jobseeker", "name": "\x1b[2Jadmin", "exp": "IN_A_MINUTE"},
])
async def test_tokens_breaking_the_token_rules_are_refused(harness, claims):
    # Times are taken when the test runs, not when it is collected: the suite reaches this file
    # minutes after collection, when a token "valid for a minute" had long expired.
    now = int(time.time())
    claims = {k: {"NOW": now, "IN_A_MINUTE": now + 60}.get(v, v) if isinstance(v, str) else v
              for k, v in claims.items()}
    token = jwt.encode(claims, harness.settings.secret, algorithm="HS256")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.raw(headers={"Authorization": f"Bearer {token}"})
    assert err.value.status == 401
    ws = await harness.raw()
    await ws.send_json({"type": "auth", "token": token})
    error = await ws.receive_json(timeout=5)
    assert error["code"] == "unauthorized" and error["message"].startswith("invalid token")
    assert (await ws.receive(timeout=5)).data == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("settings_overrides", [{"jwt_max_lifetime_s": 120.0}])
async def test_the_maximum_token_lifetime_is_a_setting(harness):
    assert (await _lifetime(harness, 120))["type"] == "hello"
    assert (await _lifetime(harness, 121))["code"] == "unauthorized"


async def _lifetime(harness, ttl_s):
    ws = await harness.raw()
    await ws.send_json({"type": "auth", "token": harness.token("js", ttl_s=ttl_s)})
    return await ws.receive_json(timeout=5)


async def test_cross_site_origin_is_refused(harness):
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.raw(headers={"Origin": "https://evil.example"})
    assert err.value.status == 403
    same = await harness.raw(headers={"Origin": f"http://{harness.server.host}:{harness.server.port}"})
    await same.close()


@pytest.mark.parametrize("settings_overrides", [{"allowed_origins": "https://portal.example"}])
async def test_configured_origin_is_allowed(harness):
    ws = await harness.raw(headers={"Origin": "https://portal.example"})
    await ws.send_json({"type": "auth", "token": harness.token("js")})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.close()


@pytest.mark.parametrize("frame, code", [
    ("{not json", "malformed_frame"),
    ('"just a string"', "invalid_message"),
    ('{"type": "teleport", "id": 7}', "unknown_type"),
    ('{"type": "send", "id": 8, "room": "r"}', "invalid_message"),
    ('{"type": "join", "id": 9}', "invalid_message"),
    ('{"type": "read", "id": 10, "room": "r", "offset": -1}', "invalid_message"),
    ('{"type": "history", "id": 11, "room": "r", "limit": 100000}', "invalid_message"),
    ('{"type": "presence", "id": 12, "status": "invisible"}', "invalid_message"),
    ('{"type": "send", "id": 13, "room": "forbidden-room", "text": "hi"}', "not_joined"),
    ('{"type": "join", "id": 14, "room": "forbidden-room"}', "forbidden"),
])
async def test_bad_request_gets_documented_error_and_connection_survives(harness, frame, code):
    await harness.room("forbidden-room", {"someone-else": "member"})
    ws = await _authed(harness)
    await ws.send_str(frame)
    error = await ws.receive_json(timeout=5)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    if '"id"' in frame and code not in ("malformed_frame",):
        assert error["id"] == int(frame.split('"id": ')[1].split(",")[0].rstrip("}"))
    pong = await _request(ws, {"type": "ping", "id": "after"})
    assert pong["type"] == "pong"
    await ws.close()


async def test_oversize_frame_and_text(harness):
    await harness.room("grp", {"js": "member"})
    ws = await _authed(harness)
    assert (await _request(ws, {"type": "join", "id": 1, "room": "grp"}))["type"] == "joined"
    big = await _request(ws, {"type": "send", "id": 2, "room": "grp", "text": "x" * 40_000})
    assert big["code"] == "message_too_large" and "32768" in big["message"]
    long_text = await _request(ws, {"type": "send", "id": 3, "room": "grp", "text": "é" * 4001})
    assert long_text["code"] == "message_too_large"
    ok = await _request(ws, {"type": "send", "id": 4, "room": "grp", "text": "é" * 4000})
    assert ok["type"] == "ack"
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"hard_max_frame_bytes": 65536}])
async def test_frame_above_hard_cap_closes_with_1009(harness):
    ws = await _authed(harness)
    await ws.send_str("x" * 70_000)
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1009)


async def test_wrong_frame_kind_for_subprotocol(harness):
    ws = await _authed(harness)
    await ws.send_bytes(msgpack.packb({"type": "ping", "id": 1}))
    error = await ws.receive_json(timeout=5)
    assert error["code"] == "malformed_frame"
    mp = await harness.raw(protocols=("rtserver.v1.msgpack",),
                           headers={"Authorization": f"Bearer {harness.token('js')}"})
    assert mp.protocol == "rtserver.v1.msgpack"
    assert msgpack.unpackb((await mp.receive(timeout=5)).data)["type"] == "hello"
    await mp.send_bytes(b"\xc1")  # a byte msgpack never uses
    assert msgpack.unpackb((await mp.receive(timeout=5)).data)["code"] == "malformed_frame"
    await mp.send_bytes(msgpack.packb({"type": "ping", "id": 2}))
    assert msgpack.unpackb((await mp.receive(timeout=5)).data)["type"] == "pong"
    await mp.close()
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"max_messages_per_s": 5.0, "burst_messages": 5}])
async def test_rate_limit_answers_retry_after(harness):
    ws = await _authed(harness)
    for i in range(5):
        await ws.send_json({"type": "typing", "id": i, "room": "nowhere"})
    for _ in range(5):
        assert (await ws.receive_json(timeout=5))["code"] == "not_joined"
    await ws.send_json({"type": "typing", "id": 99, "room": "nowhere"})
    limited = await ws.receive_json(timeout=5)
    assert limited["code"] == "rate_limited" and limited["retry_after_ms"] > 0 and limited["id"] == 99
    await ws.close()


async def test_a_console_joins_a_whole_portfolio_at_once(harness):
    """150 conversations joined in one burst (as the advisor console does on opening, and any
    client on reconnecting) all succeed: joins have their own budget, so neither the requests'
    rate limit nor the abuse window behind it (which closed the connection with 4102) is hit."""
    rooms = [f"conv-{i}" for i in range(150)]
    await asyncio.gather(*(harness.room(r, {"adv": "member", f"js-{i}": "member"}, kind="conversation")
                           for i, r in enumerate(rooms)))
    adv = await harness.client("adv", "advisor")
    joined = await asyncio.gather(*(adv.join(r) for r in rooms))
    assert sorted(j["room"] for j in joined) == sorted(rooms)
    sent = await adv.send(rooms[-1], "still connected")  # the messages' budget is whole
    assert sent["offset"] == 1
    assert adv.hello["limits"]["burst_joins"] >= 150


@pytest.mark.parametrize("settings_overrides", [{"max_violations": 5}])
async def test_repeated_abuse_closes_with_policy_violation(harness):
    ws = await _authed(harness)
    for _ in range(6):
        await ws.send_str("garbage")
    codes = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        codes.append(msg.json()["code"])
    assert codes == ["malformed_frame"] * 6
    assert msg.data == CloseCode.POLICY_VIOLATION


@pytest.mark.parametrize("settings_overrides", [{"max_connections_per_user": 2}])
async def test_connections_per_user_limit(harness):
    first = await _authed(harness)
    second = await _authed(harness)
    third = await harness.raw(headers={"Authorization": f"Bearer {harness.token('js')}"})
    error = await third.receive_json(timeout=5)
    assert error["code"] == "too_many_connections"
    assert (await third.receive(timeout=5)).data == CloseCode.TOO_MANY_CONNECTIONS
    await first.close()
    await second.close()


@pytest.mark.parametrize("settings_overrides", [{"max_room_members": 3}])
async def test_room_size_limit(harness):
    status, body = await harness.api("POST", "/api/rooms", {
        "id": "big", "kind": "group", "members": [{"user": f"u{i}"} for i in range(4)]})
    assert (status, body["error"]["code"]) == (409, "room_full")
    await harness.room("small", {"u1": "member", "u2": "member"})
    status, body = await harness.api("POST", "/api/rooms/small/members",
                                     {"members": [{"user": "u3"}, {"user": "u4"}]})
    assert (status, body["error"]["code"]) == (409, "room_full")
    status, room = await harness.api("GET", "/api/rooms/small")
    assert sorted(m["user"] for m in room["members"]) == ["u1", "u2"]  # the refused call changed nothing


@pytest.mark.parametrize("settings_overrides", [{"max_connections": 2}])
async def test_node_connection_limit(harness):
    a = await _authed(harness, "a")
    b = await _authed(harness, "b")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await harness.raw()
    assert err.value.status == 503
    await a.close()
    await b.close()


@pytest.mark.parametrize("settings_overrides", [{"auth_timeout_s": 0.2}])
async def test_auth_timeout(harness):
    ws = await harness.raw()
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CloseCode.AUTH_TIMEOUT)


async def test_api_requires_key(harness):
    status, body = await harness.api("POST", "/api/rooms", {"id": "x"}, key=None)
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, body = await harness.api("POST", "/api/rooms", {"id": "bad id!"})
    assert (status, body["error"]["code"]) == (400, "invalid_message")
    status, body = await harness.api("GET", "/api/rooms/nope")
    assert (status, body["error"]["code"]) == (404, "room_not_found")


async def test_joining_the_interview_of_a_missing_room_and_of_others_look_the_same(harness):
    """media_join read the room before the membership: a missing room answered sooner than a room of others."""
    await harness.room("conv-alice", {"adv": "member", "alice": "member"}, kind="conversation")
    mallory = await harness.client("mallory")
    counting = _CountingStore(harness.media._store)
    harness.media._store = counting
    answers = []
    for room in ("conv-alice", "conv-bobby"):
        counting.calls.clear()
        with pytest.raises(ServerError) as err:
            await mallory.request("media_join", room=room)
        answers.append((err.value.code, str(err.value).replace(room, "ROOM"), list(counting.calls)))
    assert answers[0] == answers[1]
    assert answers[0][0] == "forbidden" and answers[0][2] == ["member_role"]
