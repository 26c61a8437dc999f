"""The remote-candidate policy, pure: which addresses and ports the node may send ICE checks to."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtserver.config import Settings
from rtserver.media.candidate_policy import (
    CandidatePolicy,
    Refusal,
    judge_address,
    normalise,
    parse_networks,
)
from rtserver.media.signalling import media_config

DEFAULT = CandidatePolicy()
PORT = 50_000


def v4_in(cidr: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.IPv4Network(cidr)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)


def v6_in(cidr: str) -> st.SearchStrategy[ipaddress.IPv6Address]:
    net = ipaddress.IPv6Network(cidr)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv6Address)


def as_v6_spellings(v4: ipaddress.IPv4Address) -> list[str]:
    """The IPv6 spellings of an IPv4 address a client could write to dodge an IPv4 check."""
    n = int(v4)
    return [f"::ffff:{v4}", str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),  # mapped, NAT64
            str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1))]  # 6to4


# -- address categories (hypothesis: every address of the range) ------------------------------------
@given(v4_in("127.0.0.0/8"))
def test_every_ipv4_loopback_address_is_refused_however_it_is_written(address: ipaddress.IPv4Address):
    for host in (str(address), *as_v6_spellings(address)):
        assert DEFAULT.judge(host, PORT) is Refusal.LOOPBACK, host


@given(v4_in("169.254.0.0/16"))
def test_every_ipv4_link_local_address_is_refused_metadata_included(address: ipaddress.IPv4Address):
    for host in (str(address), *as_v6_spellings(address)):
        assert DEFAULT.judge(host, PORT) is Refusal.LINK_LOCAL, host


@given(v6_in("fe80::/10"), st.sampled_from(["", "%eth0", "%1"]))
def test_every_ipv6_link_local_address_is_refused(address: ipaddress.IPv6Address, scope: str):
    assert DEFAULT.judge(f"{address}{scope}", PORT) is Refusal.LINK_LOCAL


@given(st.one_of(v4_in("224.0.0.0/4"), v6_in("ff00::/8")))
def test_multicast_is_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    assert DEFAULT.judge(str(address), PORT) is Refusal.MULTICAST


@given(v4_in("0.0.0.0/8"))
def test_this_network_is_refused(address: ipaddress.IPv4Address):
    assert DEFAULT.judge(str(address), PORT) is Refusal.UNSPECIFIED


@pytest.mark.parametrize(("host", "refusal"), [
    ("::1", Refusal.LOOPBACK), ("::", Refusal.UNSPECIFIED), ("::ffff:0.0.0.0", Refusal.UNSPECIFIED),
    ("255.255.255.255", Refusal.BROADCAST), ("240.0.0.1", Refusal.RESERVED), ("192.0.0.9", Refusal.RESERVED),
    ("::7f00:1", Refusal.RESERVED),  # IPv4-compatible (deprecated): not global unicast
    ("fec0::1", Refusal.RESERVED), ("100::1", Refusal.RESERVED), ("4000::1", Refusal.RESERVED),
    ("169.254.169.254", Refusal.LINK_LOCAL), ("::ffff:169.254.169.254", Refusal.LINK_LOCAL),
    ("fe80::1", Refusal.LINK_LOCAL), ("ff02::1", Refusal.MULTICAST),
])
def test_special_addresses(host: str, refusal: Refusal):
    assert DEFAULT.judge(host, PORT) is refusal


@pytest.mark.parametrize("host", ["8.8.4.4", "8.8.8.8", "2001:4860:4860::8888", "2a01:cb00::1",
                                  "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_on_ephemeral_ports_are_accepted(host: str):
    assert DEFAULT.judge(host, PORT) is None
    assert DEFAULT.judge(host, 1024) is None


@pytest.mark.parametrize("host", ["10.1.2.3", "172.16.0.9", "172.31.255.1", "192.168.1.20", "100.64.0.1",
                                  "100.127.255.254", "fd00::2", "fc12::1", "198.18.0.1", "192.0.2.2",
                                  "::ffff:192.168.1.20"])
def test_private_ranges_are_allowed_by_default_and_refused_when_off(host: str):
    assert DEFAULT.judge(host, PORT) is None
    assert CandidatePolicy(allow_private=False).judge(host, PORT) is Refusal.PRIVATE


@given(st.one_of(v4_in("0.0.0.0/0"), v6_in("::/0")))
def test_judging_never_raises_and_normalises_to_one_version(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    DEFAULT.judge(str(address), PORT)
    normalised = normalise(str(address))
    assert normalised is not None
    assert judge_address(normalised) in (None, *Refusal)


# -- ports, transports, names -------------------------------------------------------------------
@pytest.mark.parametrize("port", [1, 53, 123, 161, 514, 1023])
def test_well_known_ports_are_refused(port: int):
    assert DEFAULT.judge("203.0.113.10", port) is Refusal.PORT
    assert CandidatePolicy(min_port=1).judge("203.0.113.10", port) is None


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_impossible_ports_are_invalid(port: int):
    assert DEFAULT.judge("203.0.113.10", port) is Refusal.INVALID


def test_tcp_candidates_and_unknown_types_are_refused():
    assert DEFAULT.judge("203.0.113.10", 9, "tcp") is Refusal.TCP
    assert DEFAULT.judge("203.0.113.10", PORT, "UDP", "relay") is None
    assert DEFAULT.judge("203.0.113.10", PORT, "udp", "bogus") is Refusal.INVALID


@pytest.mark.parametrize("host", ["1f0e5c2a-9d7b-4c3e-8f00-0a1b2c3d4e5f.local", "printer.local", "example.com",
                                  "localhost", "metadata.google.internal"])
def test_host_names_are_refused_unless_allowed(host: str):
    assert DEFAULT.judge(host, PORT) is Refusal.HOSTNAME
    assert CandidatePolicy(allow_hostnames=True).judge(host, PORT) is None  # judged again once resolved


@pytest.mark.parametrize("host", ["", "bad host", "a..b", "x" * 300, "1.2.3.4.5:6", "fe80::1%"])
def test_what_is_neither_an_address_nor_a_name_is_invalid(host: str):
    assert DEFAULT.judge(host, PORT) is Refusal.INVALID
    assert CandidatePolicy(allow_hostnames=True).judge(host, PORT) is Refusal.INVALID


# -- the node's own addresses, loopback, deny list ---------------------------------------------------------
def test_the_nodes_own_addresses_are_refused():
    policy = CandidatePolicy(own=frozenset({ipaddress.ip_address("203.0.113.7")}))
    gate = policy.gate(["192.168.1.10", "2001:db8::10", "fe80::1"])  # the interfaces, when the connection opens
    assert gate.admit("203.0.113.7", PORT) is Refusal.OWN_ADDRESS  # announced
    assert gate.admit("192.168.1.10", PORT) is Refusal.OWN_ADDRESS
    assert gate.admit("::ffff:192.168.1.10", PORT) is Refusal.OWN_ADDRESS
    assert gate.admit("192.168.1.11", PORT) is None


@pytest.mark.parametrize(("listen", "announced", "loopback_only"), [
    (("127.0.0.1",), None, True), (("::1",), None, True), (("127.0.0.1", "::1"), None, True),
    (("127.0.0.1",), "127.0.0.1", True),
    (("127.0.0.1",), "203.0.113.7", False),  # behind a relay or a 1:1 NAT: clients are elsewhere
    (("127.0.0.1", "10.0.0.5"), None, False), ((), None, False), (("0.0.0.0",), "203.0.113.7", False),
])
def test_loopback_is_allowed_only_on_a_loopback_only_node(listen: tuple[str, ...], announced: str | None,
                                                         loopback_only: bool):
    assert CandidatePolicy.loopback_only(listen, announced) is loopback_only
    policy = CandidatePolicy.from_settings(Settings(), listen=listen, announced=announced)
    assert (policy.judge("127.0.0.1", PORT) is None) is loopback_only
    assert (policy.judge("::ffff:127.0.0.1", PORT) is None) is loopback_only
    # Loopback being allowed opens nothing else.
    assert policy.judge("169.254.169.254", PORT) is Refusal.LINK_LOCAL


def test_a_loopback_only_node_accepts_loopback_even_its_own_listen_address():
    policy = CandidatePolicy.from_settings(Settings(), listen=("127.0.0.1",), announced=None)
    assert policy.gate(["192.0.2.2"]).admit("127.0.0.1", PORT) is None  # a client on the same host
    assert policy.gate(["192.0.2.2"]).admit("192.0.2.2", PORT) is Refusal.OWN_ADDRESS


def test_denied_networks():
    deny = parse_networks("203.0.113.0/24, 2001:db8:1::/48 198.51.100.9")
    policy = CandidatePolicy(deny=deny)
    assert policy.judge("203.0.113.77", PORT) is Refusal.DENIED
    assert policy.judge("::ffff:203.0.113.77", PORT) is Refusal.DENIED
    assert policy.judge("198.51.100.9", PORT) is Refusal.DENIED
    assert policy.judge("198.51.100.10", PORT) is None
    assert policy.judge("2001:db8:1::5", PORT) is Refusal.DENIED
    with pytest.raises(ValueError, match="not a network"):
        parse_networks("10.0.0.0/8, nonsense")


# -- the cap ------------------------------------------------------------------------------------------
def test_a_connection_pairs_with_at_most_max_candidates():
    refused: list[Refusal] = []
    gate = CandidatePolicy(max_candidates=3, on_refused=refused.append).gate()
    assert [gate.admit(f"203.0.113.{i}", PORT) for i in range(1, 6)] == [None, None, None, Refusal.CAP, Refusal.CAP]
    assert gate.admit("203.0.113.2", PORT) is None  # the same candidate signalled again costs nothing
    assert gate.admit("127.0.0.1", PORT) is Refusal.LOOPBACK  # refused ones never counted
    assert refused == [Refusal.CAP, Refusal.CAP, Refusal.LOOPBACK]
    assert gate.refused == 3


def test_an_allowed_host_name_counts_once_resolved():
    gate = CandidatePolicy(allow_hostnames=True, max_candidates=1).gate()
    assert gate.admit("abc.local", PORT) is None
    assert gate.admit("192.168.1.5", PORT) is None  # what it resolved to
    assert gate.admit("192.168.1.6", PORT) is Refusal.CAP


# -- settings -------------------------------------------------------------------------------------
def test_settings_reach_the_policy():
    config = media_config(Settings(media_listen_address="127.0.0.1", media_candidate_allow_private=False,
                                   media_candidate_allow_hostnames=True, media_candidate_min_port=2000,
                                   media_candidate_deny="8.8.8.0/24", media_max_remote_candidates=7))
    policy = config.addresses.remote
    assert policy is not None
    assert (policy.allow_private, policy.allow_hostnames, policy.allow_loopback) == (False, True, True)
    assert (policy.min_port, policy.max_candidates) == (2000, 7)
    assert policy.judge("8.8.8.8", PORT) is Refusal.DENIED
    defaults = media_config(Settings()).addresses.remote
    assert defaults is not None
    assert (defaults.allow_private, defaults.allow_hostnames, defaults.allow_loopback) == (True, False, False)
    assert (defaults.min_port, defaults.max_candidates) == (1024, 30)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"media_candidate_deny": "10.0.0.0/33"}, "not a network"),
    ({"media_candidate_min_port": 0}, "min_port"),
    ({"media_candidate_min_port": 70_000}, "min_port"),
    ({"media_max_remote_candidates": 0}, "media_max_remote_candidates"),
])
def test_bad_settings_are_refused_at_start(overrides: dict[str, object], message: str):
    with pytest.raises(ValueError, match=message):
        media_config(Settings(**overrides))  # type: ignore[arg-type]
