"""The cursor of a person's export: where the next page starts.

An export walks the person's rooms in id order, each from its oldest message kept, then their
access journal entries (``audit.stores.Cursor``). The cursor says which: ``m`` with the room and
the last offset sent, or ``j`` with the last entry's (ts, n). It is opaque to the portal
(base64url of a small JSON array): a portal passes back the ``next`` it was given.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..errors import BadRequest
from ..ids import valid_room_id

__all__ = ["Position", "decode", "encode"]

Position = tuple[str, str, int, int]
"""(section ``m`` or ``j``, room, offset) or (``j``, "", ts, n)."""

MAX_CURSOR_CHARS = 512


def encode(position: Position) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position), separators=(",", ":")).encode()).decode().rstrip("=")


def decode(raw: str) -> Position:
    """Raises ``invalid_message`` for anything ``encode`` did not make."""
    problem = BadRequest("'cursor' must be the 'next' of the previous page")
    if len(raw) > MAX_CURSOR_CHARS:
        raise problem
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        raise problem from None
    if not (isinstance(value, list) and len(value) == 4 and value[0] in ("m", "j") and isinstance(value[1], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62 for v in value[2:])):
        raise problem
    if value[0] == "m" and not valid_room_id(value[1]):
        raise problem
    return value[0], value[1], value[2], value[3]
