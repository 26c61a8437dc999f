"""ICE servers handed to clients: STUN as configured, TURN with time-limited REST credentials.

The TURN credentials follow the shared-secret scheme coturn implements (``--use-auth-secret
--static-auth-secret=...``, draft-uberti-behave-turn-rest): the username is
``"<expiry unix time>:<user id>"`` and the password is ``base64(HMAC-SHA1(secret, username))``.
The TURN server recomputes the password from the username and refuses it after the expiry, so
the server never stores per-user TURN accounts and a leaked credential dies on its own.
Pure code: the clock value comes in as an argument.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from typing import Any

__all__ = ["IceServerConfig", "parse_ice_urls", "turn_rest_credentials"]

_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s,]+$")


def parse_ice_urls(value: str) -> tuple[str, ...]:
    """Split a comma- or space-separated list of ``stun:``/``turn:`` URLs; raise ValueError on others."""
    urls = tuple(part for part in re.split(r"[\s,]+", value.strip()) if part)
    for url in urls:
        if not _URL.match(url):
            raise ValueError(f"not a STUN or TURN URL: {url!r}")
    return urls


def turn_rest_credentials(secret: str, user_id: str, *, ttl_s: float, now: float) -> tuple[str, str]:
    """The (username, credential) pair for ``user_id``, valid until ``now + ttl_s``."""
    username = f"{int(now + ttl_s)}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclasses.dataclass(frozen=True, slots=True)
class IceServerConfig:
    """What the ``ice_servers``, ``turn_secret`` and ``turn_ttl_s`` settings describe."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_s: float = 3600.0

    @classmethod
    def from_settings(cls, urls: str, *, turn_secret: str, turn_ttl_s: float) -> IceServerConfig:
        parsed = parse_ice_urls(urls)
        turn = tuple(u for u in parsed if u.startswith("turn"))
        if turn and not turn_secret:
            raise ValueError("TURN URLs are configured but turn_secret is empty: clients could not authenticate")
        if turn_ttl_s <= 0:
            raise ValueError("turn_ttl_s must be positive")
        return cls(tuple(u for u in parsed if u.startswith("stun")), turn, turn_secret, turn_ttl_s)

    def for_user(self, user_id: str, now: float) -> list[dict[str, Any]]:
        """The ``iceServers`` list for one client, in the shape ``RTCPeerConnection`` takes."""
        servers: list[dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        if self.turn_urls:
            username, credential = turn_rest_credentials(self.turn_secret, user_id, ttl_s=self.turn_ttl_s, now=now)
            servers.append({"urls": list(self.turn_urls), "username": username, "credential": credential})
        return servers
