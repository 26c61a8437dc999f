"""Fuzzing every parser that takes client input: bad input gets a documented error, never a crash.

Pure parsers (codecs, request parsing, ICE candidates, SDP, windows, pre-call measurements) are
fuzzed as functions, with many examples. The node is then fuzzed through its real interfaces:
WebSocket frames (JSON and msgpack), each request type's fields (strategies from the request
dataclasses), SDP and candidates in ``media_offer``/``media_candidate``, pre-call measurements,
HTTP bodies of every POST/PUT route and query parameters. Every answer must be ``ok`` or an
error code the documentation lists, never ``internal``, never a 500, never a hang (every wait is
bounded), and the node must still serve a normal join/send round trip afterwards.

Examples are drawn with ``derandomize=True`` and fixed counts, so a run is the same everywhere.
The WebSocket and HTTP examples are drawn first (no shrinking) and then sent; a failure lists the
offending inputs, shortest first.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import msgpack
import orjson
import pytest
from authz_support import MINIMAL_CANDIDATE, MINIMAL_SDP, Wire, documented_codes, make_world
from conftest import API_KEY, Harness
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_authorization_matrix import _probe_frame, http_routes

from rtserver.errors import ErrorCode, RtError
from rtserver.media import forwarder
from rtserver.precall.verdict import evaluate
from rtserver.protocol import CODECS
from rtserver.protocol.measurements import MEASUREMENTS, Section
from rtserver.protocol.requests import _PARSERS, REQUEST_TYPES, Limits, parse_request
from rtserver.protocol.workflow import parse_windows

pytestmark = pytest.mark.timeout(120)

DOCUMENTED = documented_codes() - {str(ErrorCode.INTERNAL)}
PURE = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, the same on every run (hypothesis, generation only)."""
    out: list[Any] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


# -- strategies -----------------------------------------------------------------------------------
HUGE_INTS = st.sampled_from([2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -1, -(10**30)])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "é" * 3, "\ud7ff", "💥", "a" * 200, "v=0", "precall:", "followup-"]),
)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)


def deep(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"a": value}
    return value


def field_names(kind: str) -> list[str]:
    """The fields of the request dataclass ``kind`` parses to (its frame's keys), without ``id``."""
    request = _PARSERS[kind](None, _probe_frame(kind), Limits())
    return [f.name for f in dataclasses.fields(request) if f.name != "id"]


def request_frames(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Frames of type ``kind``: each field absent, valid (the matrix's value), or anything."""
    valid = _probe_frame(kind)
    fields = {name: st.one_of(st.just(valid.get(name)), JSONISH) for name in field_names(kind)}
    return st.fixed_dictionaries({"type": st.just(kind)}, optional={**fields, "id": JSONISH})


ALL_REQUEST_FRAMES = st.one_of(*(request_frames(kind) for kind in sorted(REQUEST_TYPES)))

SDP_LINES = st.sampled_from([
    "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
    "a=mid:0", "a=sendonly", "a=recvonly", "a=rtpmap:111 opus/48000/2", "a=rtpmap:96 VP8/90000",
    "a=rtpmap:96", "a=fmtp:96", "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=fingerprint:sha-256 zz", "a=setup:actpass",
    "a=rtcp-mux", "a=ssrc:1 cname:x", "a=ssrc:abc", "a=extmap:1 urn:x", "a=candidate:1 1 udp 1 1.2.3.4 5 typ host",
    "m=video 99999999999999999999 RTP 96", "a=rtpmap:-1 x/0", "m=", "a=", "b=AS:99999999999999999999",
])
KNOWN_BAD_SDPS = ["v=0\r\nm=\r\n", "v=0\r\nm=video x RTP 96\r\n", "v=0\r\na=ice-ufrag\r\n"]
SDPS = st.builds(lambda lines, extra: "\r\n".join(["v=0", *lines, *extra]) + "\r\n",
                 st.lists(SDP_LINES, max_size=14), st.lists(st.text(max_size=30), max_size=2))
CANDIDATE_WORDS = st.sampled_from(["candidate:1", "1", "2", "udp", "tcp", "2122260223", "127.0.0.1", "::1",
                                   "169.254.1.1", "224.0.0.1", "10.0.0.1", "host.local", "50000", "99999999999",
                                   "-1", "typ", "host", "srflx", "relay", "raddr", "rport", "generation", "0",
                                   "tcptype", "active", "x", "é", ""])
CANDIDATES = st.one_of(st.text(max_size=120), st.lists(CANDIDATE_WORDS, min_size=6, max_size=14).map(" ".join))


def measurements() -> st.SearchStrategy[Any]:
    """Objects shaped like docs/precall.md's measurements (from the schema's sections), values anything."""
    sections = {name: st.fixed_dictionaries({}, optional={f: st.one_of(SCALARS, st.just(True), st.just(1.5))
                                                          for f in section.fields})
                for name, section in MEASUREMENTS.fields.items() if isinstance(section, Section)}
    return st.one_of(st.fixed_dictionaries({}, optional={**sections, "duration_ms": SCALARS}), JSONISH)


# -- pure parsers ---------------------------------------------------------------------------------
def _refused_with_documented_code(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except RtError as exc:
        assert str(exc.code) in DOCUMENTED, (exc.code, exc.message, args)


@PURE
@given(st.one_of(st.text(max_size=200), JSONISH.map(lambda v: json.dumps(v, allow_nan=True)),
                 st.sampled_from(['{"type": NaN}', '{"a": Infinity}', "[" * 10_000, '{"type": "ping"}' * 2,
                                  '{"type": 1e99999}', '{"id": 123456789012345678901234567890}'])))
def test_json_codec_only_refuses_with_malformed_frame(text: str) -> None:
    _refused_with_documented_code(CODECS["rtserver.v1.json"].decode, text)
    _refused_with_documented_code(CODECS["rtserver.v1.json"].decode, text.encode())  # binary on JSON: refused


@PURE
@given(st.one_of(st.binary(max_size=200), st.sampled_from([b"\xc1", b"\xdd\xff\xff\xff\xff", b"\x91" * 5000,
                                                          b"\xd9\x05\xff\xfe", b"\x81\xc0\xc0", b"\x81\x01\x01"]),
                 JSONISH.filter(lambda v: not _too_big_for_msgpack(v)).map(
                     lambda v: msgpack.packb(v, use_bin_type=True))))
def test_msgpack_codec_only_refuses_with_malformed_frame(data: bytes) -> None:
    _refused_with_documented_code(CODECS["rtserver.v1.msgpack"].decode, data)


def _too_big_for_msgpack(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    if isinstance(value, list):
        return any(_too_big_for_msgpack(v) for v in value)
    if isinstance(value, dict):
        return any(_too_big_for_msgpack(v) for v in value.values())
    return False


@settings(PURE, max_examples=2000)
@given(st.one_of(JSONISH, ALL_REQUEST_FRAMES, st.sampled_from([deep(5000), [deep(100)], {"type": deep(100)}])))
def test_request_parsing_only_refuses_with_documented_codes(frame: Any) -> None:
    _refused_with_documented_code(parse_request, frame, Limits())


@settings(PURE, max_examples=1000)
@given(CANDIDATES, st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), st.integers(0, 1023)))
def test_ice_candidates_parse_or_raise_value_error(candidate: str, mid: str | None, index: int | None) -> None:
    try:
        forwarder.parse_candidate(candidate, mid, index)
    except ValueError:
        pass


@settings(PURE, max_examples=1000)
@given(SDPS)
def test_offer_ice_credentials_read_or_raise_value_error(sdp: str) -> None:
    try:
        forwarder.ice_ufrag(sdp)
    except ValueError:
        pass


@PURE
@given(JSONISH)
def test_windows_parse_or_refuse(raw: Any) -> None:
    _refused_with_documented_code(parse_windows, raw)


@settings(PURE, max_examples=1000)
@given(measurements())
def test_measurements_evaluate_or_raise_value_error(raw: Any) -> None:
    if not isinstance(raw, dict):
        return  # the request parser refuses anything but an object first
    try:
        result = evaluate(raw)
    except ValueError:
        return
    assert result["mos"] is None or math.isfinite(result["mos"])


# -- the node over WebSocket ----------------------------------------------------------------------
@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # No rate limit or abuse cut-off: every fuzzed frame must be answered for what it is.
    return {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0, "sqlite_synchronous": "normal",
            "max_violations": 1_000_000, "max_messages_per_s": 100_000.0, "burst_messages": 100_000,
            "max_joins_per_s": 100_000.0, "burst_joins": 100_000, "max_rooms_per_connection": 100_000}


async def fenced(wire: Wire, send: Any) -> list[dict[str, Any]]:
    """What the node answers to one fuzzed frame: every frame before the answer to a following ping."""
    await send()
    fence = f"fence-{id(send)}"
    await wire.send({"type": "ping", "id": fence})
    answers = []
    while True:
        event = await wire.next()
        if event.get("id") == fence or event["type"] == "closed":
            if event["type"] == "closed":
                answers.append(event)
            return answers
        answers.append(event)


def judge(findings: list[tuple[str, Any]], sent: Any, answers: list[dict[str, Any]]) -> None:
    for answer in answers:
        if answer["type"] == "closed":
            findings.append((f"connection closed ({answer.get('code')})", sent))
        elif answer["type"] == "error" and answer.get("code") not in DOCUMENTED:
            findings.append((f"{answer.get('code')}: {answer.get('message', '')[:80]}", sent))


def report(findings: list[tuple[str, Any]]) -> str:
    findings = sorted(findings, key=lambda f: len(repr(f[1])))
    seen: dict[str, int] = {}
    lines = []
    for what, sent in findings:
        seen[what] = seen.get(what, 0) + 1
        if seen[what] <= 3:
            lines.append(f"{what}  <-  {repr(sent)[:300]}")
    return f"{len(findings)} bad answers, shortest inputs first:\n" + "\n".join(lines)


async def still_serves(harness: Harness) -> None:
    """A normal round trip in a fresh follow-up: join, send, the message comes back, ping, /readyz."""
    w = await make_world(harness)
    wire = await Wire.open(harness, w.js)
    try:
        joined = await wire.ask({"type": "join", "room": w.room})
        assert joined["type"] == "joined", joined
        ack = await wire.ask({"type": "send", "room": w.room, "text": "still here"})
        assert ack["type"] == "ack", ack

        def mine(e: dict[str, Any]) -> bool:
            return e.get("type") == "message" and e.get("offset") == ack["offset"]

        message = next((e for e in wire.events if mine(e)), None) or await wire.until(mine)
        assert message["text"] == "still here"
        assert (await wire.ask({"type": "ping"}))["type"] == "pong"
    finally:
        await wire.close()
    async with harness.session.get(harness.url("/readyz")) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_websocket_frames_and_request_fields(harness: Harness, codec: str) -> None:
    w = await make_world(harness, callback=True, appointment=True)
    js = await Wire.open(harness, w.js, codec=codec)
    adv = await Wire.open(harness, w.adv, "advisor", codec=codec)
    findings: list[tuple[str, Any]] = []
    raw: list[bytes | str] = [b"\xff\xfe", b"", "", "null", "[]", "1", '"x"', "{", "[" * 5000 + "]" * 5000,
                              '{"type": "read", "room": "r", "offset": NaN}', '{"type": "ping", "id": 1e999}',
                              '{"type": "history", "room": "r", "limit": 123456789012345678901234567890}']
    frames = drawn(st.one_of(ALL_REQUEST_FRAMES, JSONISH), 800)
    if codec == "msgpack":
        frames = [f for f in frames if not _too_big_for_msgpack(f)]
    for i, frame in enumerate(frames):
        wire = adv if i % 2 else js

        async def send(wire: Wire = wire, frame: Any = frame) -> None:
            await wire.send(_with_world(frame, w))

        judge(findings, frame, await fenced(wire, send))
        if js.ws.closed or adv.ws.closed:
            break
    for data in raw:
        async def send_raw(data: bytes | str = data) -> None:
            await js.send_raw(data)

        if not js.ws.closed:
            judge(findings, data, await fenced(js, send_raw))
    await js.close()
    await adv.close()
    await still_serves(harness)
    assert not findings, report(findings)


def _with_world(frame: Any, w: Any) -> Any:
    """Point the rooms, records and users a fuzzed frame names at the world's, half of the time."""
    if not isinstance(frame, dict) or hash(repr(sorted(frame, key=str))) % 2:
        return frame
    real = {"room": w.room, "callback": w.callback, "appointment": w.appointment, "jobseeker": w.js}
    return {k: real.get(k, v) if isinstance(v, str) else v for k, v in frame.items()}


async def test_media_offers_and_candidates(harness: Harness) -> None:
    w = await make_world(harness)
    js = await Wire.open(harness, w.js)
    joined = await js.ask({"type": "media_join", "room": w.room})
    assert joined["type"] == "media_joined", joined
    findings: list[tuple[str, Any]] = []
    offers = [{"type": "media_offer", "room": w.room, "sdp": sdp, "restart": restart}
              for sdp, restart in drawn(st.tuples(SDPS, st.booleans()), 40)]
    candidates = [{"type": "media_candidate", "room": w.room, "pc": pc, "candidate": {**MINIMAL_CANDIDATE,
                                                                                     "candidate": text}}
                  for text, pc in drawn(st.tuples(CANDIDATES, st.sampled_from(["publish", "subscribe"])), 60)]
    answers = [{"type": "media_answer", "room": w.room, "sdp": sdp} for sdp in drawn(SDPS, 10)]
    known = [{"type": "media_offer", "room": w.room, "sdp": sdp} for sdp in KNOWN_BAD_SDPS]
    for frame in [*known, *offers[:20], *candidates, *offers[20:], *answers]:
        judge(findings, frame, [await js.ask(frame)])
    assert (await js.ask({"type": "media_offer", "room": w.room, "sdp": MINIMAL_SDP}))["type"] != "closed"
    await js.close()
    await still_serves(harness)
    assert not findings, report(findings)


async def test_precall_measurements(harness: Harness) -> None:
    w = await make_world(harness)
    js = await Wire.open(harness, w.js)
    findings: list[tuple[str, Any]] = []
    frames = [*({"type": "precall_result", "measurements": raw} for raw in drawn(measurements(), 150)),
              *({"type": "precall_results", "user": user, "limit": limit}
                for user, limit in drawn(st.tuples(JSONISH, JSONISH), 40))]
    for frame in frames:
        async def send(frame: dict[str, Any] = frame) -> None:
            await js.send(frame)

        judge(findings, frame, await fenced(js, send))
    await js.close()
    await still_serves(harness)
    assert not findings, report(findings)


# -- the node over HTTP ---------------------------------------------------------------------------
BODIES = st.one_of(
    st.binary(max_size=60), st.text(max_size=60).map(str.encode),
    JSONISH.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.sampled_from([b"", b"null", b"[]", b"{", b'{"a": NaN}', b"\xff\xfe{}", b'{"members": [' + b"1," * 20 + b"1]}",
                     b'{"a":' * 20_000 + b"1" + b"}" * 20_000]),
)
QUERY_VALUES = st.one_of(st.text(max_size=20), HUGE_INTS.map(str), st.integers().map(str),
                         st.sampled_from(["", "-1", "1e9", "0x10", "\u0663", "\uff11\uff12", "NaN",
                                          "99999999999999999999999"]))
PATH_VALUES = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(["é", "..", "%2e%2e", "a" * 300, "💥"]))


def _route_bodies(key: str, w: Any) -> st.SearchStrategy[bytes]:
    """Raw bodies, and the route's own fields (from a valid body) with values of any type."""
    valid = {"POST /api/rooms": {"id": "r", "kind": "group", "members": [{"user": w.js}], "title": ""},
             "POST /api/rooms/{room}/members": {"members": [{"user": w.js, "role": "member"}]},
             "PUT /api/users/{user}": {"name": "N", "role": "jobseeker", "email": "a@b.c", "volunteer": False},
             "POST /api/followups": {"jobseeker": w.js, "advisor": w.adv},
             "POST /api/followups/{jobseeker}/transfer": {"advisor": w.adv2},
             "POST /api/followups/{jobseeker}/callbacks": {"reason": "r", "channel": "phone", "windows": []},
             "POST /api/appointments": {"advisor": w.adv, "jobseeker": w.js, "start": 1, "duration_min": 30},
             }.get(key, {})
    fields = st.fixed_dictionaries({}, optional={name: st.one_of(st.just(value), JSONISH)
                                                 for name, value in valid.items()})
    return st.one_of(BODIES, fields.map(lambda v: json.dumps(v, allow_nan=True).encode()))


async def test_http_bodies_queries_and_paths(harness: Harness) -> None:
    from authz_support import fill_path

    w = await make_world(harness, callback=True, appointment=True)
    values = {"user": w.js, "jobseeker": w.js, "advisor": w.adv, "callback": w.callback or "",
              "appointment": w.appointment or "", "room": w.room, "colleague": w.adv2}
    findings: list[tuple[str, Any]] = []

    async def call(method: str, path: str, body: bytes | None = None, params: dict[str, str] | None = None) -> None:
        headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
        async with harness.session.request(method, harness.url(path), data=body, params=params,
                                           headers=headers) as resp:
            text = await resp.text(errors="replace")
        sent = (method, path, body, params)
        if resp.status >= 500:
            findings.append((f"HTTP {resp.status}", sent))
        elif resp.status >= 400 and resp.content_type == "application/json":
            code = orjson.loads(text).get("error", {}).get("code")
            if code not in DOCUMENTED:
                findings.append((f"HTTP {resp.status} {code}", sent))

    routes = sorted(r for r in http_routes(harness) if r.startswith(("POST /api", "PUT /api", "GET /api",
                                                                        "DELETE /api")))
    for key in routes:
        method, _, canonical = key.partition(" ")
        path = fill_path(canonical, values)
        if method in ("POST", "PUT"):
            for body in drawn(_route_bodies(key, w), 25):
                await call(method, path, body)
        if method == "GET":
            for after, limit, near in drawn(st.tuples(QUERY_VALUES, QUERY_VALUES, QUERY_VALUES), 8):
                await call(method, path, params={"after": after, "limit": limit, "near_cap": near})
        if "{" in canonical:
            for value in drawn(PATH_VALUES, 6):
                await call(method, fill_path(canonical, dict.fromkeys(values, value)).replace("?", "%3F")
                           .replace("#", "%23"), b"{}" if method in ("POST", "PUT") else None)
    await still_serves(harness)
    assert not findings, report(findings)


def test_every_error_code_is_documented() -> None:
    """The fuzz tests accept only documented codes: every code the server may answer must be documented."""
    undocumented = {str(c) for c in ErrorCode} - documented_codes()
    assert not undocumented, f"error codes missing from docs/protocol.md and docs/workflow.md: {sorted(undocumented)}"
