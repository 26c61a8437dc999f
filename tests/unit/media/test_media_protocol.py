"""Media signalling requests, ICE server configuration and media settings: pure code, no server."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from conftest import make_settings

from rtserver.errors import BadRequest, ErrorCode
from rtserver.media import IceServerConfig, media_config, turn_rest_credentials
from rtserver.media.ice import parse_ice_urls
from rtserver.protocol import Limits, parse_request
from rtserver.protocol.media import (
    IceCandidateInit,
    MediaAnswer,
    MediaCandidate,
    MediaInvite,
    MediaJoin,
    MediaOffer,
    MediaStats,
    PcRole,
)

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"


def parse(frame: dict[str, object]) -> object:
    return parse_request(frame, Limits())


def test_media_requests_parse_to_typed_requests() -> None:
    assert parse({"type": "media_join", "id": 1, "room": "r"}) == MediaJoin(1, "r")
    assert parse({"type": "media_offer", "id": "a", "room": "r", "sdp": SDP}) == MediaOffer("a", "r", SDP, False)
    assert parse({"type": "media_offer", "room": "r", "sdp": SDP, "restart": True}).restart is True  # type: ignore[attr-defined]
    assert parse({"type": "media_answer", "room": "r", "sdp": SDP}) == MediaAnswer(None, "r", SDP)
    assert parse({"type": "media_candidate", "room": "r", "pc": "publish",
                  "candidate": {"candidate": CANDIDATE, "sdp_mid": "0"}}) == MediaCandidate(
        None, "r", PcRole.PUBLISH, IceCandidateInit(CANDIDATE, "0", None))
    assert parse({"type": "media_stats", "room": "r", "every_ms": 1000}) == MediaStats(None, "r", 1000)
    assert parse({"type": "media_stats", "room": "r"}) == MediaStats(None, "r", None)
    assert parse({"type": "media_invite", "room": "r", "user": "interpreter"}) == MediaInvite(None, "r", "interpreter")


@pytest.mark.parametrize("candidate", [None, {"candidate": "", "sdp_mid": "0"}])
def test_end_of_candidates_is_null_or_an_empty_candidate(candidate: object) -> None:
    request = parse({"type": "media_candidate", "room": "r", "pc": "subscribe", "candidate": candidate})
    assert isinstance(request, MediaCandidate) and request.candidate is None and request.pc is PcRole.SUBSCRIBE


@pytest.mark.parametrize(("frame", "fragment"), [
    ({"type": "media_join"}, "'room'"),
    ({"type": "media_offer", "room": "r"}, "'sdp'"),
    ({"type": "media_offer", "room": "r", "sdp": "hello"}, "v=0"),
    ({"type": "media_offer", "room": "r", "sdp": SDP, "restart": "yes"}, "'restart'"),
    ({"type": "media_candidate", "room": "r", "pc": "both", "candidate": None}, "'pc'"),
    ({"type": "media_candidate", "room": "r", "pc": "publish"}, "'candidate' is required"),
    ({"type": "media_candidate", "room": "r", "pc": "publish", "candidate": "x"}, "must be an object"),
    ({"type": "media_candidate", "room": "r", "pc": "publish", "candidate": {"candidate": CANDIDATE}}, "sdp_mid"),
    ({"type": "media_candidate", "room": "r", "pc": "publish",
      "candidate": {"candidate": "candidate:1 1 udp", "sdp_mid": "0"}}, "not an ICE candidate"),
    ({"type": "media_candidate", "room": "r", "pc": "publish",
      "candidate": {"candidate": CANDIDATE, "sdp_mline_index": -1}}, "sdp_mline_index"),
    ({"type": "media_stats", "room": "r", "every_ms": 10}, "every_ms"),
    ({"type": "media_invite", "room": "r"}, "'user'"),
])
def test_bad_media_requests_say_what_is_wrong(frame: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(frame)
    assert fragment in caught.value.message
    assert caught.value.code is ErrorCode.INVALID_MESSAGE


def test_an_oversized_sdp_is_too_large() -> None:
    with pytest.raises(BadRequest) as caught:
        parse({"type": "media_answer", "room": "r", "sdp": SDP + "a" * 70_000})
    assert caught.value.code is ErrorCode.MESSAGE_TOO_LARGE


def test_turn_rest_credentials_follow_the_coturn_scheme() -> None:
    username, credential = turn_rest_credentials("s3cret", "js-1", ttl_s=600, now=1_700_000_000.5)
    assert username == "1700000600:js-1"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1700000600:js-1", hashlib.sha1).digest()).decode()
    assert credential == expected
    assert credential == "i0PHpgQZ7cB9lDZEXjbYsPeR7oA="  # openssl dgst -sha1 -hmac s3cret -binary | base64


def test_ice_servers_for_a_user() -> None:
    config = IceServerConfig.from_settings("stun:stun.example.org:3478, turn:turn.example.org:3478?transport=udp",
                                           turn_secret="k", turn_ttl_s=60)
    servers = config.for_user("adv", now=1000.0)
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1]["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert servers[1]["username"] == "1060:adv"
    assert IceServerConfig.from_settings("", turn_secret="", turn_ttl_s=60).for_user("adv", 0) == []


@pytest.mark.parametrize(("urls", "secret", "fragment"), [
    ("http://example.org", "k", "not a STUN or TURN URL"),
    ("turn:turn.example.org", "", "turn_secret is empty"),
])
def test_ice_configuration_errors(urls: str, secret: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        IceServerConfig.from_settings(urls, turn_secret=secret, turn_ttl_s=60)


def test_parse_ice_urls_accepts_commas_and_spaces() -> None:
    assert parse_ice_urls(" stun:a:1,stun:b:2  turns:c:5349?transport=tcp ") == (
        "stun:a:1", "stun:b:2", "turns:c:5349?transport=tcp")


def test_media_settings(tmp_path: Path) -> None:
    config = media_config(make_settings(tmp_path, media_listen_address="127.0.0.1, 10.0.0.5",
                                        media_announced_address="203.0.113.7", media_drop_timeout_s=3))
    assert config.addresses.listen == ("127.0.0.1", "10.0.0.5")
    assert config.addresses.announced == "203.0.113.7"
    assert config.drop_timeout_s == 3
    with pytest.raises(ValueError, match="announced"):
        media_config(make_settings(tmp_path, media_listen_address="0.0.0.0"))
    with pytest.raises(ValueError, match="media_max_participants"):
        media_config(make_settings(tmp_path, media_max_participants=1))
