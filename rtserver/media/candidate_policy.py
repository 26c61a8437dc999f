"""Which remote ICE candidates the node will send to: a pure policy, no sockets.

Every remote candidate a client signals (in its SDP or trickled with ``media_candidate``) makes
the node send STUN binding requests to the address and port it names, about one every 20 ms
until the pair succeeds or times out. Unchecked, any signed-in user could point the node at
127.0.0.1:6379, 169.254.169.254:80 or a whole private subnet: a blind port scanner inside the
operator's network. This module decides, per candidate, whether the node may send there.

Refusing a candidate never stops a call the client can make: the client checks the node's own
candidates too, and the node answers any check carrying the session's ICE credentials and pairs
with the address the check came from (a peer-reflexive candidate, RFC 8445 section 7.3.1.3),
which no signalled candidate can name. Refused candidates are dropped silently, as a browser
drops candidates it cannot use; ``rtserver/media/forwarder.py`` applies the policy where aioice
takes remote candidates in, and counts the refusals by reason.

The default policy refuses: loopback (unless the node itself is a loopback-only node, see
``loopback_only``), link-local (169.254/16 with the cloud metadata address, fe80::/10),
multicast, unspecified, broadcast and reserved addresses, the node's own addresses (a service
bound to 0.0.0.0 answers on them as on loopback), host names (mDNS ``.local`` names would make
aioice resolve them by multicast on the node's network), ports below 1024, and candidates past
the first ``max_candidates`` of a peer connection. Private ranges (RFC 1918, CGNAT 100.64/10,
IPv6 ULA fc00::/7, and the documentation and benchmarking ranges labs use) are allowed unless
``allow_private`` is off: clients on the node's LAN or VPN are legitimate, but an internet-facing
node has no such clients and should refuse them. IPv4 addresses written as IPv6 (mapped
``::ffff:127.0.0.1``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged as the IPv4 address
they carry.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "DEFAULT_MAX_CANDIDATES", "DEFAULT_MIN_PORT", "CandidateGate", "CandidatePolicy", "Refusal",
    "judge_address", "normalise", "parse_networks",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A browser signals 2 to 10 candidates per connection: one host candidate per interface and
# address family (2-4, more on a laptop with a VPN and temporary IPv6 addresses), one
# server-reflexive per STUN server and family (1-2), one relay per TURN URL (1-3). 30 leaves
# room for the unusual multi-homed client while bounding what one offer can aim the node at.
DEFAULT_MAX_CANDIDATES = 30
# No legitimate candidate uses a well-known port: host candidates use the OS's ephemeral range
# (Linux 32768-60999, Windows and macOS 49152-65535), NATs map to ports >= 1024 (RFC 4787
# REQ-3), and a relay candidate is an address the TURN server allocates from its relay range
# (coturn: 49152-65535), not the 3478 or 443 clients reach the TURN server on. Below 1024 live
# DNS (53), NTP (123), SNMP (161), syslog (514): exactly what a UDP scan or amplifier aims at.
DEFAULT_MIN_PORT = 1024


class Refusal(enum.StrEnum):
    """Why a remote candidate was refused: the ``reason`` label of the refusal counter."""

    INVALID = "invalid"  # not an address or host name, port outside 1-65535, unknown type
    TCP = "tcp"  # ICE-TCP: the node speaks ICE over UDP only (browsers offer these routinely)
    HOSTNAME = "hostname"  # a host name (mDNS .local included) while host names are not allowed
    UNSPECIFIED = "unspecified"  # 0.0.0.0/8, ::
    LOOPBACK = "loopback"  # 127/8, ::1
    LINK_LOCAL = "link_local"  # 169.254/16 (cloud metadata 169.254.169.254), fe80::/10
    MULTICAST = "multicast"  # 224/4, ff00::/8
    BROADCAST = "broadcast"  # 255.255.255.255
    RESERVED = "reserved"  # 240/4, 192.0.0.0/24, IPv4-compatible IPv6, fec0::/10, outside 2000::/3
    PRIVATE = "private"  # RFC 1918, 100.64/10, ULA, documentation and benchmarking ranges (when refused)
    OWN_ADDRESS = "own_address"  # one of the node's own addresses
    DENIED = "denied"  # in a network of media_candidate_deny
    PORT = "port"  # below the minimum port
    CAP = "cap"  # past the peer connection's max_candidates


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_V4_UNSPECIFIED = _nets("0.0.0.0/8")  # "this network": 0.0.0.0 and its neighbours reach the host itself
_V4_RESERVED = _nets("240.0.0.0/4", "192.0.0.0/24")  # future use; IETF protocol assignments (PCP anycast...)
_V4_PRIVATE = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",  # RFC 1918, CGNAT
                    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15")  # labs use these
_V6_PRIVATE = _nets("fc00::/7", "2001:db8::/32")  # ULA; documentation
_V6_RESERVED = _nets("fec0::/10", "100::/64")  # deprecated site-local; discard-only
_V6_GLOBAL = ipaddress.ip_network("2000::/3")  # every unicast address IANA has handed out
_NAT64 = _nets("64:ff9b::/96", "64:ff9b:1::/48")  # carry an IPv4 address in their last 32 bits


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """A comma- or space-separated list of CIDRs (or single addresses); ValueError on others."""
    out = []
    for part in value.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not a network (CIDR) or address: {part!r}") from None
    return tuple(out)


def normalise(host: str) -> IPAddress | None:
    """The address ``host`` names, IPv4 written as IPv6 turned back into IPv4; None for a host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(host.split("%", 1)[0])
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if any(address in net for net in _NAT64):
            return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if address.teredo is not None:
            return address.teredo[1]  # the client's address (the server's is public)
    return address


def judge_address(address: IPAddress, *, allow_private: bool = True, allow_loopback: bool = False) -> Refusal | None:
    """The category refusal for one (normalised) address, or None when it may be sent to."""
    if address.is_unspecified or (address.version == 4 and any(address in n for n in _V4_UNSPECIFIED)):
        return Refusal.UNSPECIFIED
    if address.is_loopback:
        return None if allow_loopback else Refusal.LOOPBACK
    if address.is_link_local:
        return Refusal.LINK_LOCAL
    if address.is_multicast:
        return Refusal.MULTICAST
    if address.version == 4:
        if address == ipaddress.IPv4Address("255.255.255.255"):
            return Refusal.BROADCAST
        if any(address in n for n in _V4_RESERVED):
            return Refusal.RESERVED
        if any(address in n for n in _V4_PRIVATE):
            return None if allow_private else Refusal.PRIVATE
        return None
    if any(address in n for n in _V6_PRIVATE):
        return None if allow_private else Refusal.PRIVATE
    if any(address in n for n in _V6_RESERVED) or address not in _V6_GLOBAL:
        return Refusal.RESERVED  # ::/8 left over (IPv4-compatible, deprecated) and unassigned space
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class CandidatePolicy:
    """The settings ``media_candidate_*`` and ``media_max_remote_candidates``, plus what the node is."""

    allow_private: bool = True
    allow_hostnames: bool = False
    allow_loopback: bool = False  # see loopback_only(): set when the node's own media addresses are loopback
    min_port: int = DEFAULT_MIN_PORT
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    deny: tuple[IPNetwork, ...] = ()
    own: frozenset[IPAddress] = frozenset()  # listen and announced addresses (interfaces come per gate)
    on_refused: Callable[[Refusal], None] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.min_port <= 65535:
            raise ValueError("media_candidate_min_port must be from 1 to 65535")
        if self.max_candidates < 1:
            raise ValueError("media_max_remote_candidates must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings, *, listen: tuple[str, ...], announced: str | None,
                      on_refused: Callable[[Refusal], None] | None = None) -> CandidatePolicy:
        """The policy the settings describe for a node listening on ``listen`` and announcing ``announced``."""
        own = frozenset(a for a in (normalise(h) for h in (*listen, announced or "")) if a is not None)
        return cls(allow_private=settings.media_candidate_allow_private,
                   allow_hostnames=settings.media_candidate_allow_hostnames,
                   allow_loopback=cls.loopback_only(listen, announced),
                   min_port=settings.media_candidate_min_port,
                   max_candidates=settings.media_max_remote_candidates,
                   deny=parse_networks(settings.media_candidate_deny), own=own, on_refused=on_refused)

    @staticmethod
    def loopback_only(listen: Iterable[str], announced: str | None) -> bool:
        """Whether every address the node's candidates name is loopback (tests, a client on the same host).

        Then loopback is the node's whole network and clients can only be on it, so loopback
        candidates are allowed. A node announcing another address (behind a relay or 1:1 NAT)
        or listening on every interface (empty ``listen``) has remote clients: it refuses them.
        """
        named = [announced] if announced is not None else list(listen)
        addresses = [normalise(a) for a in named]
        return bool(addresses) and all(a is not None and a.is_loopback for a in addresses)

    def judge(self, host: str, port: int, transport: str = "udp", kind: str = "host", *,
              own: AbstractSet[IPAddress] = frozenset()) -> Refusal | None:
        """Why the node must not send to this candidate, or None when it may (the cap aside)."""
        if transport.lower() != "udp":
            return Refusal.TCP
        if kind not in ("host", "srflx", "prflx", "relay") or not 0 < port <= 65535:
            return Refusal.INVALID
        address = normalise(host)
        if address is None:
            if self.allow_hostnames and _is_hostname(host):
                return None  # resolved by aioice, then judged again as the address it resolved to
            return Refusal.HOSTNAME if _is_hostname(host) else Refusal.INVALID
        refusal = judge_address(address, allow_private=self.allow_private, allow_loopback=self.allow_loopback)
        if refusal is not None:
            return refusal
        if not address.is_loopback and (address in self.own or address in own):
            return Refusal.OWN_ADDRESS
        if any(address.version == n.version and address in n for n in self.deny):
            return Refusal.DENIED
        if port < self.min_port:
            return Refusal.PORT
        return None

    def gate(self, own: Iterable[str] = ()) -> CandidateGate:
        """The state of one peer connection: its own-address list (the interfaces now) and its cap."""
        addresses = frozenset(a for a in (normalise(h) for h in own) if a is not None)
        return CandidateGate(self, addresses)


def _is_hostname(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(0 < len(label) <= 63 and label.replace("-", "").isalnum()
                                        and label.isascii() for label in labels)


class CandidateGate:
    """Admits the remote candidates of one peer connection: the policy, then at most ``max_candidates``.

    The cap counts distinct accepted (address, port) pairs across the connection's ICE
    transports, so unbundled sections do not each get their own allowance.
    """

    def __init__(self, policy: CandidatePolicy, own: frozenset[IPAddress]):
        self.policy = policy
        self.own = own
        self.accepted: set[tuple[str, int]] = set()
        self.refused = 0

    def admit(self, host: str, port: int, transport: str = "udp", kind: str = "host") -> Refusal | None:
        """None when the node may send to this candidate (and it now counts against the cap)."""
        refusal = self.policy.judge(host, port, transport, kind, own=self.own)
        if refusal is None:
            address = normalise(host)
            if address is None:
                return None  # an allowed host name: counted once resolved, when judged as that address
            key = (str(address), port)
            if key not in self.accepted:
                if len(self.accepted) >= self.policy.max_candidates:
                    refusal = Refusal.CAP
                else:
                    self.accepted.add(key)
        if refusal is not None:
            self.refused += 1
            if self.policy.on_refused is not None:
                self.policy.on_refused(refusal)
        return refusal
