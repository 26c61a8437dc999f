"""Identifier patterns shared by the token check and the HTTP APIs: one definition each.

Ids travel into log lines, Redis keys, mail headers and the pages' DOM, so they are kept to
printable ASCII without separators: letters, digits and ``. _ : @ -``. ``fullmatch`` (never
``match`` with ``$``, which also accepts a trailing newline) checks the whole string.
"""

from __future__ import annotations

import re
from typing import TypeGuard

__all__ = ["ID_CHARS", "MAX_ROOM_ID_CHARS", "MAX_USER_ID_CHARS", "ROOM_ID", "USER_ID", "valid_room_id",
           "valid_user_id"]

ID_CHARS = "letters, digits and . _ : @ -"
MAX_USER_ID_CHARS = 100  # the workflow's bound: user ids also end up in mail and webhook payloads
MAX_ROOM_ID_CHARS = 128  # room ids embed a user id plus a prefix ("followup-<jobseeker>": 109 at most)

USER_ID = re.compile(rf"[A-Za-z0-9._:@-]{{1,{MAX_USER_ID_CHARS}}}")
ROOM_ID = re.compile(rf"[A-Za-z0-9._:@-]{{1,{MAX_ROOM_ID_CHARS}}}")


def valid_user_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and USER_ID.fullmatch(value) is not None


def valid_room_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and ROOM_ID.fullmatch(value) is not None
