"""A connection whose peer stopped answering (a dead link that never closed) is dropped by the
node's WebSocket heartbeat, and the others see the user offline within ``heartbeat_s`` and a
half; clients learn the pace from ``hello.limits.heartbeat_s`` to ping at it themselves."""

from __future__ import annotations

import time

import pytest

HEARTBEAT_S = 1.0


@pytest.mark.parametrize("settings_overrides", [{"heartbeat_s": HEARTBEAT_S}])
async def test_a_silent_peer_is_dropped_and_goes_offline(harness) -> None:
    await harness.room("conv-1", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    await adv.join("conv-1")
    assert adv.hello["limits"]["heartbeat_s"] == HEARTBEAT_S

    # A peer that never reads again: the node's pings go unanswered, as on a dead link.
    silent = await harness.raw(autoping=False, headers={"Authorization": f"Bearer {harness.token('js')}"})
    online = await adv.next_event("presence", timeout=5, where=lambda e: e.get("user") == "js")
    assert online["status"] == "online"
    quiet_since = time.monotonic()
    offline = await adv.next_event("presence", timeout=3 * HEARTBEAT_S + 2,
                                   where=lambda e: e.get("user") == "js" and e.get("status") == "offline")
    assert offline["status"] == "offline"
    # One beat to the ping, half of one for the pong, and the loop's slack.
    assert time.monotonic() - quiet_since < 1.5 * HEARTBEAT_S + 1.5
    await silent.close()
