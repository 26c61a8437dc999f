"""Slow consumers are cut off with bounded memory; presence follows every tab of a user."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from rtserver.errors import CloseCode

LIMIT = 64 * 1024


async def _raw_non_reading_client(harness, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then stops reading, like a stalled phone."""
    reader, writer = await asyncio.open_connection(harness.server.host, harness.server.port)
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {harness.server.host}:{harness.server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: rtserver.v1.json\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def _mask(payload: bytes) -> bytes:
    key = b"\x01\x02\x03\x04"
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + key + body


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


async def _read_frames_until_close(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read server frames; return (data frames seen, close code)."""
    frames = 0
    while True:
        opcode, payload = await _read_frame(reader)
        if opcode == 0x8:
            return frames, struct.unpack("!H", payload[:2])[0]
        frames += 1


@pytest.mark.parametrize("settings_overrides", [{"max_outgoing_bytes": LIMIT, "max_messages_per_s": 10_000.0,
                                                 "burst_messages": 10_000}])
async def test_slow_consumer_is_cut_off_with_bounded_buffer(harness):
    await harness.room("busy", {"fast": "member", "slow": "member", "sender": "member"})
    reader, writer = await _raw_non_reading_client(harness, harness.token("slow"))
    writer.write(_mask(b'{"type":"join","id":1,"room":"busy"}'))
    await writer.drain()
    await asyncio.wait_for(_read_until(reader, b'"type":"joined"'), 5)
    slow = next(c for c in harness.node.connections if c.identity and c.user_id == "slow")
    sock = slow._transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    fast = await harness.client("fast")
    sender = await harness.client("sender")
    await fast.join("busy")
    await sender.join("busy")
    peak = 0
    text = "x" * 3000
    sent = 0
    while not slow.closed and sent < 2000:
        await sender.send("busy", text)
        sent += 1
        peak = max(peak, slow._transport.get_write_buffer_size())
    assert slow.closed, "the stalled client was never cut off"
    assert peak <= LIMIT + 3100, f"buffer grew to {peak} bytes past the {LIMIT} limit"
    assert slow not in harness.node.hub.rooms["busy"].members or slow.closed
    for _ in range(sent):  # the healthy member got everything, in order
        await fast.next_event("message", timeout=5)
    frames, code = await asyncio.wait_for(_read_frames_until_close(reader), 10)
    assert code == CloseCode.SLOW_CONSUMER and frames > 0
    writer.close()
    metrics = await (await harness.session.get(harness.url("/metrics"))).text()
    assert 'rtserver_closes_total{code="4000"} 1.0' in metrics


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> None:
    while marker not in (await _read_frame(reader))[1]:
        pass


async def test_presence_across_two_tabs(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    await adv.join("conv")
    tab1 = await harness.client("js")
    online = await adv.next_event("presence", timeout=5, where=lambda e: e["user"] == "js")
    assert online["status"] == "online"
    tab2 = await harness.client("js")
    await tab2.join("conv")
    await tab1.set_presence("away")
    await tab1.close()  # one tab closes: still online through the other
    await tab2.set_presence("away")
    away = await adv.next_event("presence", timeout=5, where=lambda e: e["user"] == "js")
    assert away["status"] == "away", "no offline or duplicate event while a tab is still open"
    await tab2.close()
    offline = await adv.next_event("presence", timeout=5, where=lambda e: e["user"] == "js")
    assert offline["status"] == "offline"


async def test_presence_snapshot_and_advisor_availability(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    await adv.set_presence(availability="busy")
    js = await harness.client("js")
    joined = await js.join("conv")
    members = {m["user"]: m for m in joined["members"]}
    assert members["adv"]["status"] == "online" and members["adv"]["availability"] == "busy"
    assert members["js"]["status"] == "online"
    await adv.set_presence(availability="available")
    change = await js.next_event("presence", timeout=5, where=lambda e: e["user"] == "adv")
    assert change["availability"] == "available"
    from rtserver.client import ServerError
    with pytest.raises(ServerError) as err:
        await js.set_presence(availability="busy")
    assert err.value.code == "forbidden"
