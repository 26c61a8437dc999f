"""The pre-call check's server side: the echo room (real aiortc peers, real media back), stored
results on SQLite and Redis, the verdict computed by the server, the advisor told live and in the
portfolio, who may read what, and the portals' HTTP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from conftest import Harness
from media_peers import COLOURS, MediaPeer, close_to
from redis_server import RedisServer, redis_available
from workflow_support import follow, users

from rtserver.backends.redis_link import RedisLink
from rtserver.client import ServerError
from rtserver.precall.probe import Phase
from rtserver.precall.stores import RedisCheckResults, SqliteCheckResults

pytestmark = pytest.mark.timeout(60)

CLEAN = {"client": {"kind": "python"},
         "network": {"connected": True, "transport": "udp", "rtt_ms": 2.0, "jitter_ms": 1.0, "loss_pct": 0.0,
                     "send_kbps": 900, "recv_kbps": 880, "duration_ms": 5000},
         "transports": {"udp": True, "turn_configured": False}}
LOSSY = {**CLEAN, "network": {**CLEAN["network"], "loss_pct": 30.0}}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0, "precall_max_s": 20.0,
            "precall_history": 3}


# -- the echo room ---------------------------------------------------------------------------------
async def test_echo_room_sends_a_participant_its_own_media_back(harness: Harness):
    peer = MediaPeer(await harness.client("js", "jobseeker"), "precall:js", colour="blue")
    try:
        joined = await peer.join()
        assert joined["participants"] == [] and joined["role"] == "jobseeker"
        await peer.publish()
        await peer.wait_frames("js", "video", 5)
        await peer.wait_frames("js", "audio", 10)
        colour = peer.colour_from("js")
        assert colour is not None and close_to(colour, COLOURS["blue"])
        stats = await peer.client.request("media_stats", room="precall:js")  # a jobseeker may, in their echo room
        mine = stats["participants"][0]
        assert {t["kind"] for t in mine["published"]} == {"audio", "video"}
        assert all(t["packets"] > 0 for t in mine["published"])
        assert {t["publisher"] for t in mine["subscribed"]} == {"js"}
        # The capacity probe runs on what arrives (sampled every half second: polled, bounded), and
        # asks the sender for its rate by REMB.
        for _ in range(30):
            published = stats["participants"][0]["published"]
            if stats["probe"]["phase"] != "waiting" and any(t.get("remb_sent_kbps") for t in published):
                break
            await asyncio.sleep(0.1)
            stats = await peer.client.request("media_stats", room="precall:js")
        mine, probe = stats["participants"][0], stats["probe"]
        assert probe["phase"] in ("probing", "holding") and probe["target_kbps"] is not None, probe
        video = next(t for t in mine["published"] if t["kind"] == "video")
        assert video.get("remb_sent_kbps") in (probe["target_kbps"], 1500, probe["hold_kbps"]), (video, probe)
        # Until the hold, what the probe loses is not repaired (no NACK asked for or answered, no
        # keyframe request passed on); from the hold on, it is, as in an interview.
        echo = harness.media._probes["precall:js"]
        publication = next(p for p in harness.media.rooms["precall:js"].publications.values()
                            if p.kind == "video")
        assert publication.inbound is not None and publication.downtracks

        def repairs() -> set[bool]:
            assert publication.inbound is not None
            return {publication.inbound.nacks} | {d.outbound.repairs for d in publication.downtracks}

        if echo.probe.phase is Phase.PROBING:
            assert repairs() == {False}
        for _ in range(50):  # the probe holds PROBE_S (2.5 s) after the first packet at the latest
            if echo.probe.phase is Phase.HOLDING:
                break
            await asyncio.sleep(0.1)
        assert echo.probe.phase is Phase.HOLDING and repairs() == {True}
        await peer.leave()
    finally:
        await peer.close()
    assert "precall:js" not in harness.media.rooms  # closed with its only participant
    assert "precall:js" not in harness.media._probes  # its probe ended with it


async def test_an_echo_room_is_its_owners_alone(harness: Harness):
    other = await harness.client("mallory", "jobseeker")
    with pytest.raises(ServerError) as err:
        await other.request("media_join", room="precall:js")
    assert err.value.code == "forbidden" and "precall:<your user id>" in err.value.message


@pytest.mark.parametrize("settings_overrides", [{"media_listen_address": "127.0.0.1", "precall_max_s": 0.5}])
async def test_an_echo_session_is_closed_after_precall_max_s(harness: Harness):
    client = await harness.client("js", "jobseeker")
    await client.request("media_join", room="precall:js")
    closed = await client.next_event("media_closed", timeout=5)
    assert closed["room"] == "precall:js" and closed["reason"] == "timeout"
    with pytest.raises(ServerError) as err:  # the room is gone: its requests need a new join
        await client.request("media_stats", room="precall:js")
    assert err.value.code == "not_joined"


# -- results ---------------------------------------------------------------------------------------
async def test_the_server_computes_and_stores_the_verdict(harness: Harness):
    client = await harness.client("js", "jobseeker")
    forged = {**LOSSY, "verdict": "ready"}  # a client's own verdict is not what is stored
    saved = (await client.request("precall_result", measurements=forged))["result"]
    assert saved["verdict"] == "not-ready"
    assert any(f["code"] == "packet_loss" and f["severity"] == "blocking" for f in saved["findings"])
    assert saved["ts"] > 0 and saved["measurements"]["network"]["loss_pct"] == 30.0
    good = (await client.request("precall_result", measurements=CLEAN))["result"]
    assert good["verdict"] == "ready"
    listed = await client.request("precall_results")
    assert [r["verdict"] for r in listed["results"]] == ["ready", "not-ready"]  # newest first


async def test_bad_measurements_get_a_clear_error_and_store_nothing(harness: Harness):
    client = await harness.client("js", "jobseeker")
    for bad in ({"network": {"connected": True, "loss_pct": -3}}, {"network": {"connected": True, "rtt_ms": "x"}}):
        with pytest.raises(ServerError) as err:
            await client.request("precall_result", measurements=bad)
        assert err.value.code == "invalid_message" and err.value.message.startswith("measurements:")
    with pytest.raises(ServerError) as err:
        await client.request("precall_result", measurements="fine")
    assert err.value.code == "invalid_message"
    with pytest.raises(ServerError) as err:
        await client.request("precall_result", measurements={"padding": "x" * 9000})
    assert err.value.code == "invalid_message" and "8192" in err.value.message
    assert (await client.request("precall_results"))["results"] == []


async def test_the_advisor_sees_the_check_live_and_in_the_portfolio(harness: Harness):
    await users(harness, ("adv", "advisor", "adv@example.test"), ("js", "jobseeker", "js@example.test"))
    room = (await follow(harness, "js", "adv"))["room"]
    adv = await harness.client("adv", "advisor")
    await adv.join(room)
    js = await harness.client("js", "jobseeker")
    saved = (await js.request("precall_result", measurements=LOSSY))["result"]
    event = await adv.next_event("precall", timeout=5)
    assert event["room"] == room and event["user"] == "js" and event["result"] == saved
    portfolio = await adv.request("followup")
    assert [(r["jobseeker"], (r["precall"] or {}).get("verdict")) for r in portfolio["portfolio"]] == [
        ("js", "not-ready")]
    status, body = await harness.api("GET", "/api/advisors/adv/portfolio")
    assert status == 200 and body["portfolio"][0]["precall"]["verdict"] == "not-ready"
    history = await adv.request("precall_results", user="js")  # an advisor reads their jobseekers' checks
    assert [r["ts"] for r in history["results"]] == [saved["ts"]]


async def test_only_the_user_and_their_advisor_read_their_checks(harness: Harness):
    await users(harness, ("adv", "advisor", "a@example.test"), ("adv2", "advisor", "b@example.test"),
                ("js", "jobseeker", "j@example.test"), ("js2", "jobseeker", "k@example.test"))
    await follow(harness, "js", "adv")
    js = await harness.client("js", "jobseeker")
    await js.request("precall_result", measurements=CLEAN)
    for user, role in (("adv2", "advisor"), ("js2", "jobseeker")):
        client = await harness.client(user, role)
        with pytest.raises(ServerError) as err:
            await client.request("precall_results", user="js")
        assert err.value.code == "forbidden"
    with pytest.raises(ServerError) as err:
        await js.request("precall_results", limit=0)
    assert err.value.code == "invalid_message"


async def test_portals_read_checks_with_the_api_key(harness: Harness):
    js = await harness.client("js", "jobseeker")
    for measurements in (LOSSY, CLEAN, CLEAN, LOSSY):  # precall_history is 3: the oldest goes
        await js.request("precall_result", measurements=measurements)
    status, body = await harness.api("GET", "/api/users/js/precall")
    assert status == 200 and [r["verdict"] for r in body["results"]] == ["not-ready", "ready", "ready"]
    status, body = await harness.api("GET", "/api/users/js/precall", key="wrong")
    assert status == 401 and body["error"]["code"] == "unauthorized"


# -- the stores ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _sqlite(tmp_path) -> Iterator[Callable[[], Any]]:
    yield lambda: SqliteCheckResults(str(tmp_path / "checks.db"), keep=3)


@contextlib.contextmanager
def _redis(tmp_path) -> Iterator[Callable[[], Any]]:
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield lambda: RedisCheckResults(RedisLink(server.url, timeout_s=5.0), keep=3)
    finally:
        server.kill()


@pytest.fixture(params=["sqlite", "redis"])
async def results_store(request, tmp_path) -> AsyncIterator[Any]:
    with {"sqlite": _sqlite, "redis": _redis}[request.param](tmp_path) as factory:
        store = factory()
        await store.open()
        yield store
        await store.close()
        link = getattr(store, "_link", None)
        if link is not None:
            await link.close()


async def test_results_store_keeps_the_latest_few_per_user(results_store):
    for i in range(5):
        await results_store.save("js", {"verdict": f"v{i}"}, ts_ms=1000 + i)
    await results_store.save("other", {"verdict": "x"}, ts_ms=5)
    history = await results_store.history("js", limit=10)
    assert [(r["verdict"], r["ts"]) for r in history] == [("v4", 1004), ("v3", 1003), ("v2", 1002)]
    assert [r["verdict"] for r in await results_store.history("js", limit=1)] == ["v4"]
    latest = await results_store.latest(["js", "other", "nobody"])
    assert {u: r["verdict"] for u, r in latest.items()} == {"js": "v4", "other": "x"}
    assert await results_store.latest([]) == {}


async def test_results_store_concurrent_saves_all_land_within_the_cap(results_store):
    await asyncio.gather(*(results_store.save("js", {"verdict": "v", "n": i}, ts_ms=i) for i in range(20)))
    history = await results_store.history("js", limit=10)
    assert len(history) == 3 and len({r["n"] for r in history}) == 3


def test_echo_answers_ask_browsers_to_start_their_video_higher():
    from rtserver.media.signalling import with_start_bitrate
    sdp = "\r\n".join(["v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2",
                       "a=fmtp:111 minptime=10;useinbandfec=1", "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102",
                       "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
                       "a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1", ""])
    lines = with_start_bitrate(sdp, 1500).split("\r\n")
    assert "a=fmtp:96 x-google-start-bitrate=1500" in lines  # added after VP8's rtpmap
    assert "a=fmtp:102 packetization-mode=1;x-google-start-bitrate=1500" in lines
    assert "a=fmtp:97 apt=96" in lines and "a=fmtp:111 minptime=10;useinbandfec=1" in lines  # RTX, audio: as they were
    assert sum("x-google" in line for line in lines) == 2


async def test_results_store_erases_one_persons_results(results_store):
    """A person's erasure (rtserver/privacy) deletes every result of theirs, no one else's."""
    for i in range(2):
        await results_store.save("js", {"verdict": f"v{i}"}, ts_ms=1000 + i)
    await results_store.save("other", {"verdict": "x"}, ts_ms=5)
    assert await results_store.erase("js") == 2
    assert await results_store.history("js", limit=10) == []
    assert [r["verdict"] for r in await results_store.history("other", limit=10)] == ["x"]
    assert await results_store.erase("js") == 0
