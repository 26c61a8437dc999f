"""Errors a client can cause at will cost it, not the node: internal errors count as violations and
their tracebacks are logged once per cause per interval; frames beyond the budget are refused unread."""

from __future__ import annotations

import logging

import aiohttp
import msgpack
import pytest

from rtserver.errors import CloseCode, ErrorCode, LimitExceeded, Unavailable
from rtserver.logthrottle import LogThrottle
from rtserver.protocol import ListRooms, Send, Session


async def _authed(harness, user="js", role="jobseeker", **kw):
    ws = await harness.raw(headers={"Authorization": f"Bearer {harness.token(user, role)}"}, **kw)
    msg = await ws.receive(timeout=5)
    hello = msgpack.unpackb(msg.data) if msg.type is aiohttp.WSMsgType.BINARY else msg.json()
    assert hello["type"] == "hello"
    return ws


async def _codes_until_close(ws, most: int) -> tuple[list[str], aiohttp.WSMessage]:
    """The error codes answered, up to ``most``, then the next non-text message (the close)."""
    codes: list[str] = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return codes, msg
        codes.append(msg.json()["code"])
        if len(codes) == most:
            return codes, await ws.receive(timeout=5)


# The requests' budget is set out of the way: only the internal errors can close the connection.
@pytest.mark.parametrize("settings_overrides", [{"max_messages_per_s": 10_000.0, "burst_messages": 10_000,
                                                 "max_violations": 50}])
async def test_a_request_that_keeps_failing_inside_closes_with_4102_and_logs_few_tracebacks(harness, caplog,
                                                                                          monkeypatch):
    async def broken(conn, req):
        raise ValueError("a handler bug the client can trigger at will")

    monkeypatch.setitem(harness.node._routes, ListRooms, broken)
    ws = await _authed(harness)
    caplog.set_level(logging.INFO, logger="rtserver")
    for i in range(300):
        await ws.send_json({"type": "rooms", "id": i})
    codes, last = await _codes_until_close(ws, 300)
    assert set(codes) == {"internal"}
    assert len(codes) == 51, "the 51st violation within a minute closes the connection"
    assert (last.type, last.data) == (aiohttp.WSMsgType.CLOSE, CloseCode.POLICY_VIOLATION)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert 1 <= len(tracebacks) <= 2, f"{len(tracebacks)} tracebacks logged for one cause"
    assert len(caplog.text) < 8192, f"{len(caplog.text)} bytes of log"


@pytest.mark.parametrize("settings_overrides", [{"max_messages_per_s": 0.01, "burst_messages": 4,
                                                 "max_joins_per_s": 0.01, "burst_joins": 4,
                                                 "max_violations": 1000}])
async def test_frames_beyond_the_budget_are_refused_before_being_decoded(harness):
    """Undecodable frames within the frame budget (4 requests + 4 joins + 2 media reports) are read and
    answered malformed_frame; past it they are refused rate_limited, which they could not be if the
    node had decoded them."""
    ws = await _authed(harness)
    for _ in range(12):
        await ws.send_str("{not json")
    codes = [(await ws.receive_json(timeout=5))["code"] for _ in range(12)]
    assert codes == ["malformed_frame"] * 10 + ["rate_limited"] * 2


@pytest.mark.parametrize("settings_overrides", [{"max_violations": 1}])
async def test_store_down_is_not_a_violation(harness, monkeypatch):
    """``unavailable`` is not the client's fault: however often it is answered, the connection stays."""
    async def down(conn, req):
        raise Unavailable("store down", retry_after_ms=100)

    monkeypatch.setitem(harness.node._routes, ListRooms, down)
    ws = await _authed(harness)
    for i in range(3):
        await ws.send_json({"type": "rooms", "id": i})
        assert (await ws.receive_json(timeout=5))["code"] == "unavailable"
    await ws.send_json({"type": "ping", "id": "alive"})
    assert (await ws.receive_json(timeout=5))["type"] == "pong"


def test_the_frame_budget_is_both_budgets_together_and_keeps_the_join_budget_apart():
    session = Session(rate_per_s=1.0, burst=3, joins_per_s=1.0, join_burst=5, max_violations=10, now=0.0)
    session.authenticated()
    for _ in range(3 + 5 + Session.REPORT_BURST):  # requests + joins + media reports, at once
        session.admit_frame(0.0)
    with pytest.raises(LimitExceeded) as refused:
        session.admit_frame(0.0)
    # 1 request + 1 join + 2 reports a second: the next frame in 250 ms
    assert refused.value.code is ErrorCode.RATE_LIMITED and refused.value.retry_after_ms == 250
    # after parsing, each request still draws from its own budget: three sends, and the fourth waits
    later = Session(rate_per_s=1.0, burst=3, joins_per_s=1.0, join_burst=5, max_violations=10, now=0.0)
    later.authenticated()
    for _ in range(3):
        later.admit_frame(0.0)
        later.admit(Send(1, "r", "hi", None), 0.0)
    later.admit_frame(0.0)
    with pytest.raises(LimitExceeded):
        later.admit(Send(2, "r", "hi", None), 0.0)


# -- the log throttle, as a pure object ------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback) -> None:
        self.timers.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, callback in due:
            callback()


def _raise(kind: type[Exception]) -> Exception:
    try:
        raise kind("boom")
    except Exception as exc:
        return exc


def _raise_elsewhere() -> Exception:
    try:
        raise ValueError("boom")
    except Exception as exc:
        return exc


def test_one_traceback_per_cause_per_interval_then_the_count_of_the_others(caplog):
    clock = FakeClock()
    throttle = LogThrottle(logging.getLogger("rtserver.test"), interval_s=60.0, clock=clock,
                           call_later=clock.call_later)
    caplog.set_level(logging.INFO, logger="rtserver.test")
    same = [_raise(ValueError) for _ in range(300)]  # one cause: same type, same line
    for exc in same:
        throttle.exception("request failed", exc)
    throttle.exception("request failed", _raise(KeyError))  # another type: another cause
    throttle.exception("request failed", _raise_elsewhere())  # same type elsewhere: another cause
    assert [r.exc_info is not None for r in caplog.records] == [True, True, True]
    clock.advance(59.0)
    assert len(caplog.records) == 3, "nothing more within the interval"
    clock.advance(1.0)
    summaries = caplog.records[3:]
    assert len(summaries) == 1 and summaries[0].exc_info is None
    assert "299" in summaries[0].getMessage() and "ValueError" in summaries[0].getMessage()
    throttle.exception("request failed", same[0])  # a new interval: a traceback again
    assert caplog.records[-1].exc_info is not None and len(caplog.records) == 5


def test_the_throttle_remembers_a_bounded_number_of_causes(caplog):
    clock = FakeClock()
    throttle = LogThrottle(logging.getLogger("rtserver.test"), interval_s=60.0, clock=clock,
                           call_later=clock.call_later, max_causes=2)
    caplog.set_level(logging.INFO, logger="rtserver.test")
    throttle.exception("failed", _raise(ValueError))
    throttle.exception("failed", _raise(KeyError))
    for _ in range(50):  # new causes beyond the bound share one entry
        throttle.exception("failed", _raise(TypeError))
        throttle.exception("failed", _raise(IndexError))
    assert sum(r.exc_info is not None for r in caplog.records) == 3
    assert len(throttle) <= 3
    clock.advance(60.0)
    assert len(throttle) == 0


async def test_msgpack_values_json_cannot_hold_are_invalid_not_internal(harness):
    """Found looking for a real input that raised inside the node: msgpack bytes in a pre-call check's
    measurements (JSON cannot express them) reached json.dumps and answered ``internal``."""
    ws = await _authed(harness, protocols=("rtserver.v1.msgpack",))
    # Bytes in a known field are refused by the measurements' schema; unknown keys, bytes ones
    # included, are dropped unread and the check is answered.
    cases = [({"client": {"user_agent": b"x"}}, "error"), ({b"key": 1}, "precall_result"),
             ({"client": {b"k": b"v"}}, "precall_result")]
    for i, (measurements, expected) in enumerate(cases):
        await ws.send_bytes(msgpack.packb({"type": "precall_result", "id": i, "measurements": measurements}))
        reply = msgpack.unpackb((await ws.receive(timeout=5)).data)
        assert (reply["type"], reply["id"]) == (expected, i), reply
        assert reply.get("code", "invalid_message") == "invalid_message", reply
