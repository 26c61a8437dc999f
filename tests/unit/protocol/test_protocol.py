"""The pure protocol layer, tested with plain values: no server, no sockets."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtserver.errors import BadRequest, CloseCode, ErrorCode, LimitExceeded, RtError
from rtserver.protocol import (
    JSON,
    MSGPACK,
    Auth,
    Join,
    Leave,
    Limits,
    Ping,
    Request,
    Send,
    Session,
    SessionState,
    TokenBucket,
    ViolationWindow,
    build_frame,
    negotiate,
    parse_request,
)
from rtserver.protocol.requests import REQUEST_TYPES

LIMITS = Limits(max_text_chars=100, history_page_max=50)


def _parse_frame(frame: bytes) -> tuple[bool, int, bytes]:
    """RFC 6455 section 5.2, written out independently of the code under test."""
    fin, opcode = bool(frame[0] & 0x80), frame[0] & 0x0F
    assert frame[0] & 0x70 == 0, "no RSV bits: the frame is not compressed"
    assert frame[1] & 0x80 == 0, "server frames are never masked"
    size, pos = frame[1] & 0x7F, 2
    if size == 126:
        size, pos = int.from_bytes(frame[2:4], "big"), 4
    elif size == 127:
        size, pos = int.from_bytes(frame[2:10], "big"), 10
    assert len(frame) == pos + size
    return fin, opcode, frame[pos:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_built_frames_are_valid_websocket_frames(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert _parse_frame(build_frame(payload, MSGPACK.opcode)) == (True, 0x2, payload)
    assert _parse_frame(build_frame(b"{}", JSON.opcode)) == (True, 0x1, b"{}")


def test_codecs_round_trip_the_same_shapes():
    event = {"type": "message", "room": "r", "offset": 3, "text": "Ça va ? 👋", "ts": 1}
    assert JSON.decode(JSON.encode(event).decode()) == event
    assert MSGPACK.decode(MSGPACK.encode(event)) == event


def test_codec_errors_are_malformed_frame():
    for codec, data in ((JSON, "{"), (JSON, b"{}"), (MSGPACK, b"\xc1"), (MSGPACK, "text")):
        with pytest.raises(BadRequest) as err:
            codec.decode(data)
        assert err.value.code is ErrorCode.MALFORMED_FRAME


def test_negotiation_prefers_the_clients_order():
    assert negotiate(["rtserver.v1.msgpack", "rtserver.v1.json"]) is MSGPACK
    assert negotiate(["chat", "rtserver.v1.json"]) is JSON
    assert negotiate([]) is JSON


def test_parse_valid_requests():
    assert parse_request({"type": "send", "id": 5, "room": "r", "text": "hi", "key": "k"}, LIMITS) == \
        Send(5, "r", "hi", "k")
    assert parse_request({"type": "join", "room": "r", "after": 0, "epoch": "e"}, LIMITS) == Join(None, "r", 0, "e")
    assert parse_request({"type": "ping", "id": "x"}, LIMITS) == Ping("x")


@pytest.mark.parametrize("frame, code", [
    ([], ErrorCode.INVALID_MESSAGE),
    ({"type": 3}, ErrorCode.INVALID_MESSAGE),
    ({"type": "nope"}, ErrorCode.UNKNOWN_TYPE),
    ({"type": "send", "room": "r", "text": "   "}, ErrorCode.INVALID_MESSAGE),
    ({"type": "send", "room": "r", "text": "x" * 101}, ErrorCode.MESSAGE_TOO_LARGE),
    ({"type": "send", "room": "", "text": "x"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "send", "room": "r" * 129, "text": "x"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "join", "room": "r", "after": True}, ErrorCode.INVALID_MESSAGE),
    ({"type": "join", "room": "r", "after": 2**63}, ErrorCode.INVALID_MESSAGE),
    ({"type": "history", "room": "r", "limit": 51}, ErrorCode.INVALID_MESSAGE),
    ({"type": "typing", "room": "r", "active": "yes"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "call", "room": "r"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "call", "room": "r", "signal": "hello"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "call", "room": "r", "signal": "devices_refused"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "call", "room": "r", "signal": "ringing", "devices": "camera"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "call", "room": "r", "signal": "devices_refused", "devices": "screen"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "presence", "status": "offline"}, ErrorCode.INVALID_MESSAGE),
    ({"type": "presence"}, ErrorCode.INVALID_MESSAGE),
])
def test_parse_refuses_with_the_right_code(frame, code):
    with pytest.raises(RtError) as err:
        parse_request(frame, LIMITS)
    assert err.value.code is code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=6)


@settings(derandomize=True, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["type", "id", "room", "text", "after", "offset", "limit", "key",
                                        "token", "status", "active", "before", "epoch"]),
                       json_values | st.sampled_from(["send", "join", "read", "history", "typing", "auth"]),
                       max_size=8))
def test_parse_never_fails_unexpectedly(frame):
    """Whatever a client sends, the answer is a request or a BadRequest with a wire code, never a crash."""
    try:
        parsed = parse_request(frame, LIMITS)
    except BadRequest as exc:
        assert exc.code in ErrorCode
    else:
        assert isinstance(parsed, Request) and frame["type"] in REQUEST_TYPES


@settings(derandomize=True, deadline=None)
@given(st.binary(max_size=64))
def test_msgpack_decoder_survives_any_bytes(data):
    try:
        MSGPACK.decode(data)
    except BadRequest as exc:
        assert exc.code is ErrorCode.MALFORMED_FRAME


def test_token_bucket_rate_and_burst():
    bucket = TokenBucket(rate_per_s=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0, 0, 0]
    wait = bucket.take(0.0)
    assert 90 <= wait <= 100
    assert bucket.take(0.1) == 0  # one token back after 100 ms


def test_violation_window_slides():
    window = ViolationWindow(limit=3, now=0.0)
    assert [window.add(t) for t in (0, 1, 2)] == [False, False, False]
    assert window.add(3) is True
    later = ViolationWindow(limit=3, now=0.0)
    for t in (0, 1, 2):
        later.add(t)
    assert later.add(70.0) is False  # the old ones slid out of the minute


def test_session_requires_auth_then_rate_limits():
    session = Session(rate_per_s=1, burst=1, max_violations=10, now=0.0)
    with pytest.raises(RtError) as err:
        session.admit(Send(1, "r", "t", None), 0.0)
    assert err.value.code is ErrorCode.UNAUTHORIZED
    session.admit(Auth(None, "t"), 0.0)
    session.authenticated()
    assert session.state is SessionState.OPEN
    session.admit(Send(1, "r", "t", None), 0.0)
    with pytest.raises(LimitExceeded):
        session.admit(Send(2, "r", "t", None), 0.0)
    session.admit(Ping(3), 0.0)  # keepalives never limited


def test_joins_have_a_budget_of_their_own():
    session = Session(rate_per_s=20, burst=40, max_violations=10, now=0.0, joins_per_s=20, join_burst=150)
    session.admit(Auth(None, "t"), 0.0)
    session.authenticated()
    for i in range(150):  # a whole portfolio at once
        session.admit(Join(i, f"room-{i}", None, None), 0.0)
    with pytest.raises(LimitExceeded) as err:
        session.admit(Join(151, "one-more", None, None), 0.0)
    assert err.value.code is ErrorCode.RATE_LIMITED and err.value.retry_after_ms == 50
    session.admit(Leave(152, "room-0"), 0.05)  # refilled at 20/s, shared with leaves
    for i in range(40):  # the messages' budget is untouched
        session.admit(Send(200 + i, "room-1", "t", None), 0.05)
    with pytest.raises(LimitExceeded):
        session.admit(Send(300, "room-1", "t", None), 0.05)


def test_close_codes_say_whether_to_reconnect():
    assert CloseCode.SLOW_CONSUMER.should_reconnect and CloseCode.SERVICE_RESTART.should_reconnect
    assert not CloseCode.UNAUTHORIZED.should_reconnect and not CloseCode.POLICY_VIOLATION.should_reconnect


def test_msgpack_event_matches_json_event_keys():
    event = {"type": "ack", "id": 1, "offset": 2}
    assert msgpack.unpackb(MSGPACK.encode(event)) == JSON.decode(JSON.encode(event).decode())
