"""Server-to-client WebSocket frames built once and written to many connections.

Server frames are never masked (RFC 6455 section 5.1), so one frame's bytes are the same for
every recipient: a room's fan-out encodes and frames a message once, not once per member.
Connections that use this path must not negotiate permessage-deflate (the node disables it).
"""

from __future__ import annotations

import struct

__all__ = ["build_frame"]

_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack


def build_frame(payload: bytes, opcode: int) -> bytes:
    """One final, unmasked, uncompressed frame carrying ``payload``."""
    first = 0x80 | opcode
    size = len(payload)
    if size < 126:
        return _LEN1(first, size) + payload
    if size < 65536:
        return _LEN2(first, 126, size) + payload
    return _LEN3(first, 127, size) + payload
