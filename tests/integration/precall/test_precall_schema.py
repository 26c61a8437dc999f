"""The pre-call measurements' schema: known fields checked (finite numbers in range, bounded
strings, enums), unknown fields dropped before anything is stored, and whatever is stored or was
stored by older versions (deep nesting, NaN) always encodes: JSON and msgpack frames to the
advisor, and strict JSON over HTTP."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import orjson
import pytest
from conftest import API_KEY, Harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, redis_available
from workflow_support import follow, users

from rtserver.backends.redis_link import RedisLink
from rtserver.client import ServerError
from rtserver.errors import BadRequest, ErrorCode, RtError
from rtserver.node.httpkit import json_text
from rtserver.precall.stores import RedisCheckResults, SqliteCheckResults
from rtserver.precall.verdict import evaluate
from rtserver.protocol.requests import Limits, parse_request

pytestmark = pytest.mark.timeout(60)

CLEAN = {"client": {"kind": "browser", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
         "browser": {"webrtc": True, "get_user_media": True},
         "camera": {"permission": "granted", "devices": 1, "error": None, "width": 640, "height": 480, "fps": 30},
         "microphone": {"permission": "granted", "devices": 1, "error": None, "level": 0.12, "silent": False},
         "network": {"connected": True, "transport": "udp", "rtt_ms": 2.0, "jitter_ms": 1.0, "loss_pct": 0.0,
                     "loss_up_pct": 0.0, "loss_down_pct": 0.0, "send_kbps": 900, "recv_kbps": 880,
                     "duration_ms": 5000},
         "transports": {"udp": True, "turn-udp": None, "turn-tcp": None, "turn-tls": None, "turn_configured": False},
         "duration_ms": 12000}
LEVELS = 300  # over orjson's 255, under the decoders' 1024


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def parse(measurements: Any) -> dict[str, Any]:
    return parse_request({"type": "precall_result", "id": 1, "measurements": measurements}, Limits()).measurements


def refuse_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """What a strict parser (a browser's JSON.parse, most portals' libraries) accepts."""
    return json.loads(text, parse_constant=refuse_constant)


def encodes_everywhere(value: Any) -> None:
    strict_json(orjson.dumps(value))
    msgpack.packb(value, use_bin_type=True)
    strict_json(json.dumps(value, allow_nan=False))


# -- the schema, without sockets -------------------------------------------------------------------
def test_known_fields_are_kept_as_sent():
    assert parse(CLEAN) == CLEAN


def test_unknown_fields_and_sections_are_dropped():
    sent = {**CLEAN, "gpu": {"name": "x"}, "verdict": "ready", "deep": nested(LEVELS),
            "network": {**CLEAN["network"], "codec": "VP8", "extra": nested(LEVELS)},
            "client": {**CLEAN["client"], "padding": "x" * 100}}
    assert parse(sent) == CLEAN


def test_deep_nesting_in_a_known_field_is_refused_naming_it():
    with pytest.raises(BadRequest) as err:
        parse({"network": {**CLEAN["network"], "rtt_ms": nested(LEVELS)}})
    assert err.value.code is ErrorCode.INVALID_MESSAGE and "'network.rtt_ms'" in err.value.message
    assert len(err.value.message) < 200  # the value is described, not echoed


@pytest.mark.parametrize(("measurements", "field"), [
    ({"network": {**CLEAN["network"], "rtt_ms": math.nan}}, "network.rtt_ms"),
    ({"network": {**CLEAN["network"], "jitter_ms": math.inf}}, "network.jitter_ms"),
    ({"network": {**CLEAN["network"], "recv_kbps": -math.inf}}, "network.recv_kbps"),
    ({"network": {**CLEAN["network"], "loss_up_pct": 101}}, "network.loss_up_pct"),
    ({"network": {**CLEAN["network"], "send_kbps": 2**70}}, "network.send_kbps"),
    ({"network": {**CLEAN["network"], "duration_ms": [5000]}}, "network.duration_ms"),
    ({"microphone": {"level": math.nan}}, "microphone.level"),
    ({"camera": {"width": {"px": 640}}}, "camera.width"),
    ({"camera": {"error": "x" * 65}}, "camera.error"),
    ({"camera": {"error": "Not Allowed <b>"}}, "camera.error"),
    ({"client": {"kind": "toaster"}}, "client.kind"),
    ({"client": {"user_agent": "x" * 301}}, "client.user_agent"),
    ({"client": {"user_agent": "\ud800"}}, "client.user_agent"),
    ({"client": "browser"}, "client"),
    ({"duration_ms": math.inf}, "duration_ms"),
    ({"network": {**CLEAN["network"], "capacity_up_kbps": -1}}, "network.capacity_up_kbps"),
    ({"network": {**CLEAN["network"], "probe": [1]}}, "network.probe"),
    ({"network": {**CLEAN["network"], "probe": {"steps": {"kbps": 1}}}}, "network.probe.steps"),
    ({"network": {**CLEAN["network"], "probe": {"steps": [{"kbps": 1}] * 9}}}, "network.probe.steps"),
    ({"network": {**CLEAN["network"], "probe": {"steps": [{"kbps": 1}, {"loss_pct": 101}]}}},
     "network.probe.steps[1].loss_pct"),
    ({"network": {**CLEAN["network"], "probe": {"saturated_up": "yes"}}}, "network.probe.saturated_up"),
    ({"browser": {"secure_context": 1}}, "browser.secure_context"),
])
def test_bad_known_fields_are_refused_naming_the_field(measurements: dict[str, Any], field: str):
    with pytest.raises(BadRequest) as err:
        parse(measurements)
    assert err.value.code is ErrorCode.INVALID_MESSAGE
    assert err.value.message.startswith("measurements: ") and f"'{field}'" in err.value.message


PROBED = {**CLEAN, "browser": {**CLEAN["browser"], "secure_context": True},
          "network": {**CLEAN["network"], "capacity_up_kbps": 1450, "capacity_down_kbps": 1390, "loss_echo_pct": 0.1,
                      "probe": {"saturated_up": False, "saturated_down": False, "hold_kbps": 1450, "duration_ms": 2500,
                                "steps": [{"at_ms": 500 * i, "kbps": 1500, "recv_kbps": 1450, "loss_pct": 0.0,
                                           "queue_ms": 1.5} for i in range(1, 6)]}}}


def test_the_capacity_probe_is_kept_bounded_and_unknown_step_fields_dropped():
    assert parse(PROBED) == PROBED
    padded = {**PROBED, "network": {**PROBED["network"], "probe": {
        **PROBED["network"]["probe"], "extra": nested(20),
        "steps": [{**step, "more": nested(20)} for step in PROBED["network"]["probe"]["steps"]]}}}
    assert parse(padded) == PROBED
    encodes_everywhere(evaluate(parse(PROBED)))


def test_values_no_json_has_are_dropped_with_their_unknown_fields():
    # msgpack carries binary keys and values, and extension types: none of them are measurements.
    sent = {**CLEAN, b"raw": 1, "blob": b"\x00\x01", "ext": msgpack.ExtType(5, b"x"),
            "network": {**CLEAN["network"], "when": msgpack.Timestamp(1, 0)}}
    assert parse(sent) == CLEAN


def test_measurements_over_the_size_limit_are_refused_however_they_are_built():
    for big in ({"padding": "x" * 9000}, {"padding": [[]] * 3000}, {"p": b"\x00" * 9000}, nested(5000)):
        with pytest.raises(BadRequest) as err:
            parse(big)
        assert err.value.code is ErrorCode.INVALID_MESSAGE and "8192" in err.value.message


# Anything a decoder can produce: JSON values with NaN and infinities, msgpack's bytes, deep lists.
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
SENSIBLE = {
    "client": {"kind": st.sampled_from(["browser", "python"]), "user_agent": st.text(max_size=300)},
    "browser": {"webrtc": st.booleans(), "get_user_media": st.booleans()},
    "camera": {"permission": st.sampled_from(["granted", "denied", "prompt", "unavailable"]),
               "devices": st.integers(0, 3), "error": st.sampled_from([None, "NotAllowedError", "NotFoundError"]),
               "width": st.integers(0, 4000), "height": st.integers(0, 4000), "fps": st.floats(0, 120)},
    "microphone": {"level": st.floats(0, 1), "silent": st.booleans()},
    "network": {"connected": st.booleans(), "transport": st.sampled_from(["udp", "turn-udp", "turn-tcp", "turn-tls"]),
                "rtt_ms": st.floats(0, 2000), "jitter_ms": st.floats(0, 200), "loss_pct": st.floats(0, 100),
                "send_kbps": st.floats(0, 5000), "recv_kbps": st.integers(0, 5000)},
    "transports": {"udp": st.booleans(), "turn-tcp": st.none() | st.booleans(), "turn_configured": st.booleans()},
}


def section(fields: dict[str, Any]) -> Any:
    """A section of sensible values, sometimes with a field replaced by anything, or an unknown one."""
    values = st.fixed_dictionaries({}, optional={name: strategy | anything for name, strategy in fields.items()})
    return st.builds(lambda known, extra: {**known, **extra}, values,
                     st.dictionaries(st.text(max_size=12), anything, max_size=2))


measurements = st.builds(lambda known, extra: {**extra, **known},
                         st.fixed_dictionaries({}, optional={name: section(fields) | anything
                                                             for name, fields in SENSIBLE.items()}),
                         st.dictionaries(st.text(max_size=12), anything, max_size=3))


@settings(derandomize=True, deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(measurements | anything)
def test_any_value_gives_a_storable_result_or_a_documented_error(value: Any):
    try:
        cleaned = parse(value)
    except RtError as exc:
        assert exc.code is ErrorCode.INVALID_MESSAGE and exc.message.startswith(("measurements", "'measurements'"))
        return
    result = {**evaluate(cleaned), "ts": 1}  # what the store keeps and every frame carries
    encodes_everywhere(result)
    assert set(cleaned) <= {*SENSIBLE, "duration_ms"}


# -- what older versions stored --------------------------------------------------------------------
LEGACY = ('{"verdict":"ready","mos":NaN,"video":"none","findings":[],"ts":5,"measurements":{"x":Infinity,'
          '"y":-Infinity,"s":"\\ud800","deep":' + json.dumps(nested(LEVELS)) + '}}')


@pytest.fixture(params=["sqlite", "redis"])
async def legacy_store(request, tmp_path) -> AsyncIterator[Any]:
    """A results store holding one row an older version wrote: NaN, infinities, a lone surrogate and
    300 levels of nesting, written straight into the database."""
    if request.param == "sqlite":
        store: Any = SqliteCheckResults(str(tmp_path / "checks.db"), keep=3)
        await store.open()
        with sqlite3.connect(tmp_path / "checks.db") as db:
            db.execute("INSERT INTO precall_results (user, ts_ms, data) VALUES (?,?,?)", ("js", 5, LEGACY))
        yield store
        await store.close()
        return
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    link = RedisLink(server.url, timeout_s=5.0)
    try:
        store = RedisCheckResults(link, keep=3)
        await link.client.lpush("rt:{pc:js}:checks", LEGACY)
        yield store
    finally:
        await link.close()
        server.kill()


async def test_a_legacy_row_reads_back_encodable(legacy_store):
    for result in [*(await legacy_store.history("js", limit=5)), (await legacy_store.latest(["js"]))["js"]]:
        encodes_everywhere(result)
        assert (result["verdict"], result["mos"], result["ts"]) == ("ready", None, 5)
        assert result["measurements"]["x"] is None


async def test_saving_keeps_only_what_encodes(legacy_store):
    saved = await legacy_store.save("js", {"verdict": "ready", "mos": math.nan, "deep": nested(LEVELS)}, ts_ms=7)
    encodes_everywhere(saved)
    encodes_everywhere(await legacy_store.history("js", limit=5))


def test_the_http_api_writes_nan_and_infinities_as_null():
    # Whatever a handler returns: bare NaN (json.dumps' default) would fail a strict parser's whole body.
    assert strict_json(json_text({"mos": math.nan, "x": [math.inf, -math.inf], 1: "a"})) == {
        "mos": None, "x": [None, None], "1": "a"}


# -- over the wire ---------------------------------------------------------------------------------
async def http_json(harness: Harness, path: str) -> Any:
    async with harness.session.get(harness.url(path), headers={"X-Api-Key": API_KEY}) as resp:
        assert resp.status == 200, await resp.text()
        return strict_json(await resp.text())


async def advisor_reads_work(harness: Harness, room: str) -> None:
    """Every way the advisor and the portals read the jobseeker's checks answers, in strict JSON too."""
    for codec in ("json", "msgpack"):
        adv = await harness.client("adv", "advisor", codec=codec)
        rows = (await adv.request("followup"))["portfolio"]
        assert [r["jobseeker"] for r in rows] == ["js"] and rows[0]["precall"] is not None
        assert (await adv.request("precall_results", user="js"))["results"]
        await adv.close()
    portfolio = await http_json(harness, "/api/advisors/adv/portfolio")
    assert portfolio["portfolio"][0]["precall"] is not None
    assert (await http_json(harness, "/api/users/js/precall"))["results"]


async def followed(harness: Harness) -> str:
    await users(harness, ("adv", "advisor", "adv@example.test"), ("js", "jobseeker", "js@example.test"))
    return (await follow(harness, "js", "adv"))["room"]


@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_deep_nesting_sent_by_a_jobseeker_does_not_break_the_advisors_console(harness: Harness, codec: str):
    room = await followed(harness)
    adv = await harness.client("adv", "advisor", codec=codec)
    await adv.join(room)
    sent = {**CLEAN, "deep": nested(LEVELS), "network": {**CLEAN["network"], "extra": nested(LEVELS)}}
    if codec == "json":  # the SDK's own encoder refuses such nesting: a hand-written frame
        ws = await harness.raw(headers={"Authorization": f"Bearer {harness.token('js')}"})
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        frame = json.dumps({"type": "precall_result", "id": "p1", "measurements": sent})
        await ws.send_str(frame)
        reply = await ws.receive_json(timeout=5)
    else:
        js = await harness.client("js", "jobseeker", codec="msgpack")
        reply = await js.request("precall_result", measurements=sent)
    assert reply["type"] == "precall_result", reply
    assert reply["result"]["measurements"] == CLEAN  # the unknown fields were not stored
    event = await adv.next_event("precall", timeout=5)  # the live event reaches the advisor
    assert event["result"] == reply["result"]
    await advisor_reads_work(harness, room)


async def test_nan_and_infinity_over_msgpack_are_refused_or_dropped(harness: Harness):
    room = await followed(harness)
    js = await harness.client("js", "jobseeker", codec="msgpack")
    for bad, field in ((math.nan, "network.rtt_ms"), (math.inf, "network.rtt_ms"), (-math.inf, "network.rtt_ms")):
        with pytest.raises(ServerError) as err:
            await js.request("precall_result", measurements={**CLEAN, "network": {**CLEAN["network"], "rtt_ms": bad}})
        assert err.value.code == "invalid_message" and f"'{field}'" in err.value.message
    assert (await js.request("precall_results"))["results"] == []  # nothing was stored
    sent = {**CLEAN, "score": math.nan, "network": {**CLEAN["network"], "mos": math.inf, "jitter": -math.inf}}
    saved = (await js.request("precall_result", measurements=sent))["result"]
    assert saved["measurements"] == CLEAN
    await advisor_reads_work(harness, room)


async def test_a_legacy_row_in_the_nodes_store_does_not_break_the_advisors_reads(harness: Harness):
    room = await followed(harness)
    path = harness.settings.store.removeprefix("sqlite:")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO precall_results (user, ts_ms, data) VALUES (?,?,?)", ("js", 5, LEGACY))
    await advisor_reads_work(harness, room)
