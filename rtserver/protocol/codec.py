"""Wire codecs: the same message shapes as JSON text frames or msgpack binary frames.

A codec turns an event dict into bytes once; ``frames.build_frame`` wraps those bytes in a
WebSocket frame once; the node then writes that one frame to every member of a room.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from ..errors import BadRequest, ErrorCode

__all__ = ["CODECS", "JSON", "MSGPACK", "Codec", "negotiate"]

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


@dataclasses.dataclass(frozen=True, slots=True)
class Codec:
    subprotocol: str
    opcode: int
    encode: Callable[[Any], bytes]
    _decode: Callable[[bytes | str], Any]

    def decode(self, data: bytes | str) -> Any:
        """Decode one frame's payload; raise BadRequest(malformed_frame) on anything unparsable."""
        try:
            return self._decode(data)
        except Exception as exc:  # each library raises its own family; all mean "not our format"
            raise BadRequest(f"frame is not valid {self.subprotocol}: {exc}", code=ErrorCode.MALFORMED_FRAME) from None


def _unpack(data: bytes | str) -> Any:
    if isinstance(data, str):
        raise ValueError("text frame on the msgpack subprotocol")
    return msgpack.unpackb(data, raw=False, strict_map_key=True)


def _pack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)  # msgpack has no types
    return packed


def _json_loads(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        raise ValueError("binary frame on the JSON subprotocol")
    return orjson.loads(data)


JSON = Codec("rtserver.v1.json", OPCODE_TEXT, orjson.dumps, _json_loads)
MSGPACK = Codec("rtserver.v1.msgpack", OPCODE_BINARY, _pack, _unpack)
CODECS: dict[str, Codec] = {c.subprotocol: c for c in (JSON, MSGPACK)}


def negotiate(offered: list[str]) -> Codec:
    """Pick the first subprotocol the client offered that we speak; JSON when it offered none of ours."""
    for name in offered:
        codec = CODECS.get(name.strip())
        if codec is not None:
            return codec
    return JSON
