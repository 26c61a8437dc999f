"""HTTP bodies and integers in query strings and JSON bodies: one parser each, so every endpoint
answers 400 alike.

A JSON body is read by orjson, which refuses nesting deeper than 255 levels as invalid JSON: the
standard parser recursed until RecursionError (HTTP 500) on 20,000 nested objects. aiohttp already
bounds the body's size (client_max_size, 1 MiB by default: 413 beyond).

Python's integers have no bound, but SQLite and Redis store signed 64-bit ones: a value past
2**63 - 1 raised OverflowError deep in a store (HTTP 500). A parameter is a decimal integer of at
most 19 digits inside ``[low, high]``, which never exceed the signed 64-bit range; anything else
is ``invalid_message`` (HTTP 400) naming the parameter and its range.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from ..errors import BadRequest

__all__ = ["INT64_MAX", "INT64_MIN", "int_field", "int_query", "json_object", "parse_int"]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# ASCII digits only: str.isdigit() also accepts '²' or Arabic-Indic digits, which int() refuses or reads.
_DECIMAL = re.compile(r"^-?[0-9]{1,19}$")


def _bounded(low: int, high: int) -> tuple[int, int]:
    return max(INT64_MIN, low), min(INT64_MAX, high)


def parse_int(raw: str, name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """``raw`` as an integer in ``[low, high]``; BadRequest otherwise."""
    low, high = _bounded(low, high)
    value = int(raw) if _DECIMAL.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}")
    return value


def int_query(query: Any, name: str, default: int, low: int = INT64_MIN, high: int = INT64_MAX, *,
              clamp: bool = False) -> int:
    """Query parameter ``name`` (``default`` when absent) as an integer in ``[low, high]``. With
    ``clamp``, any 64-bit value is brought into the range instead (a page size asked too large)."""
    raw = query.get(name)
    if raw is None:
        return default
    if not clamp:
        return parse_int(raw, name, low, high)
    return min(high, max(low, parse_int(raw, name)))


def int_field(body: dict[str, Any], name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """JSON field ``name`` as an integer in ``[low, high]`` (``true`` is not 1)."""
    value = body.get(name)
    low, high = _bounded(low, high)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}")
    return value


async def json_object(request: web.Request, example: str = "") -> dict[str, Any]:
    """The request's body as a JSON object; BadRequest for anything else (``example`` shows the shape)."""
    hint = f": {example}" if example else ""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest(f"body must be JSON{hint}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object{hint}")
    return body
