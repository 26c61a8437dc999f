"""The presence service's order of work, without a store: what it changes is started only once it
has read what was there before."""

from __future__ import annotations

import gc
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

from rtserver.auth import Role
from rtserver.protocol import PresenceStatus
from rtserver.services.presence import PresenceService


class ClosedPresence:
    """A presence backend whose connection closed (a node shutting down): every read fails."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    async def get(self, user_ids: list[str]) -> dict[str, Any]:
        raise ConnectionError("connection closed")

    async def set(self, *args: Any) -> None:
        self.writes.append("set")

    async def remove(self, *args: Any) -> None:
        self.writes.append("remove")


async def test_an_update_is_not_made_before_the_read_it_follows_so_none_is_left_unawaited() -> None:
    presence = ClosedPresence()
    service = PresenceService(store=None, broker=None, presence=presence)  # type: ignore[arg-type]
    conn: Any = SimpleNamespace(user_id="js-1", id="c1", identity=SimpleNamespace(role=Role.JOBSEEKER))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in (service.connected(conn), service.disconnected(conn),
                     service.set_status(conn, PresenceStatus.AWAY, None)):
            with pytest.raises(ConnectionError):
                await call
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert presence.writes == []
