"""How many sockets one client address holds before authenticating.

A WebSocket is accepted before its ``auth`` message and counts against ``max_connections`` for
up to ``auth_timeout_s``: without a bound, one address opening 200 silent sockets every 10 s
would keep a small node full. ``max_unauthenticated_per_address`` (20) bounds the sockets of one
peer address still waiting to authenticate; the next one is refused with HTTP 429 before the
upgrade. Once a socket authenticates it leaves this count (per-user limits apply then).

The address is the TCP peer: behind a reverse proxy every client shares the proxy's address, so
raise the limit (or set 0, no limit) and bound connections per client at the proxy.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["Hold", "PendingAuth"]


class PendingAuth:
    def __init__(self, limit: int):
        self.limit = limit
        self._counts: Counter[str] = Counter()

    def hold(self, address: str) -> Hold | None:
        """Count one more socket of ``address`` waiting to authenticate; None when it has too many."""
        if self.limit > 0 and self._counts[address] >= self.limit:
            return None
        self._counts[address] += 1
        return Hold(self, address)

    def _release(self, address: str) -> None:
        self._counts[address] -= 1
        if self._counts[address] <= 0:
            del self._counts[address]

    def count(self, address: str) -> int:
        return self._counts.get(address, 0)


class Hold:
    """One socket's place in its address's count, given back once (on authentication or close)."""

    def __init__(self, pending: PendingAuth, address: str):
        self._pending: PendingAuth | None = pending
        self._address = address

    def release(self) -> None:
        if self._pending is not None:
            self._pending._release(self._address)
            self._pending = None
