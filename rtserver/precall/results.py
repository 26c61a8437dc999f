"""Where pre-call check results are kept, and the contract the rest of the server reads them by.

A result is the JSON object the check produced (verdict, findings, measurements) plus the time
the server stored it. Results belong to the user, not to an advisor: a transfer to another
advisor, an opt-out and an opt-in keep them. Implementations exist for both store families.

Whatever a store holds, what it returns must encode in every frame and body that carries it (the
advisor's portfolio, ``precall_results``, the live ``precall`` event, the HTTP API): results
written by older versions, before the measurements had a schema, may hold NaN, infinities or
hundreds of levels of nesting, which orjson refuses (over 255 levels) or writes as bare ``NaN``
in strict JSON's place. So stores pass what they save and what they read through ``encodable``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any, Protocol

from .verdict import result_mode

if TYPE_CHECKING:
    from ..reaping import Kind, Reaper

__all__ = ["MAX_RESULT_DEPTH", "CheckResults", "encodable", "loaded"]

log = logging.getLogger(__name__)

# A result is four levels deep (result, findings, a finding, its message); its measurements three
# (result, section, field). Anything deeper was never a measurement: cut, well within orjson's 255.
MAX_RESULT_DEPTH = 8
_INT_RANGE = (-(2**63), 2**64 - 1)  # what both orjson and msgpack encode


def encodable(value: Any, depth: int = MAX_RESULT_DEPTH) -> Any:
    """``value`` with what JSON or msgpack cannot carry made null: NaN and infinities, integers
    out of 64 bits, other types, and containers nested deeper than ``depth``; lone surrogates in
    strings become ``?``. Bounded recursion: at most ``depth`` levels."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _text(value)
    if depth <= 0:
        return None
    if isinstance(value, dict):
        return {_text(str(k)): encodable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v, depth - 1) for v in value]
    return None


def _text(value: str) -> str:
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode(errors="replace").decode()
    return value


def loaded(data: str | bytes) -> dict[str, Any] | None:
    """A stored result read back, made ``encodable``, with a ``mode`` (one stored before modes gets
    the one its verdict and video meant, ``verdict.result_mode``); None (and a warning) when it is
    not a JSON object."""
    try:
        # NaN and infinities, which json.dumps wrote for older versions, read as null.
        value = json.loads(data, parse_constant=lambda _: None)
    except (ValueError, RecursionError) as exc:
        log.warning("skipping an unreadable pre-call result: %s", exc)
        return None
    if not isinstance(value, dict):
        log.warning("skipping a pre-call result that is not an object")
        return None
    result: dict[str, Any] = encodable(value)
    if "mode" not in result:
        result["mode"] = result_mode(result)
    return result


class CheckResults(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save(self, user_id: str, result: dict[str, Any], *, ts_ms: int) -> dict[str, Any]:
        """Store ``result`` as the user's latest check; returns it as stored (with ``ts``)."""

    async def latest(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The latest stored check of each user that has one."""

    def reapers(self) -> dict[Kind, Reaper]: ...
    async def history(self, user_id: str, *, limit: int) -> list[dict[str, Any]]:
        """The user's checks, newest first."""

    async def erase(self, user_id: str) -> int:
        """Delete every check of the user (a person's erasure, ``rtserver/privacy``); how many went."""

