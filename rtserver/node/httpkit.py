"""What every HTTP API module shares, once: the API-key check, the error-to-status table, the
error body, JSON replies and the id checks (the patterns themselves are ``rtserver/ids.py``'s).

JSON bodies and integer parameters are ``params.py``'s (``json_object``, ``int_query``,
``int_field``). Business rules are not here: they are the services', so a request answers the
same over HTTP and over the WebSocket.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import BadRequest, ErrorCode, RtError
from ..ids import ID_CHARS, MAX_ROOM_ID_CHARS, MAX_USER_ID_CHARS, valid_room_id, valid_user_id

__all__ = ["API_KEY", "STATUS", "api_errors", "error_response", "json_text", "keyed", "require_api_key",
           "room_id", "user_id"]

API_KEY: web.AppKey[str] = web.AppKey("rtserver_api_key", str)
"""The server-to-server API key (``api_key``); empty: the API is disabled."""

STATUS = {
    ErrorCode.INVALID_MESSAGE: 400, ErrorCode.MALFORMED_FRAME: 400, ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403, ErrorCode.NOT_JOINED: 403, ErrorCode.ROOM_NOT_FOUND: 404, ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409, ErrorCode.ALREADY_CLAIMED: 409, ErrorCode.PORTFOLIO_FULL: 409, ErrorCode.ROOM_FULL: 409,
    ErrorCode.LEGAL_HOLD: 409,
    ErrorCode.RATE_LIMITED: 429, ErrorCode.UNAVAILABLE: 503,
}
"""HTTP status of each wire code (docs/workflow.md); any other is 500."""


def error_response(exc: RtError) -> web.Response:
    return web.json_response({"error": {"code": str(exc.code), "message": exc.message}},
                             status=STATUS.get(exc.code, 500))


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``RtError`` a handler raises, as ``{"error": {"code", "message"}}`` with its status."""
    try:
        return await handler(request)
    except RtError as exc:
        return error_response(exc)


def require_api_key(request: web.Request) -> None:
    """Raises ``forbidden`` when the API is disabled, ``unauthorized`` for a missing or wrong key
    (compared in constant time)."""
    expected = request.app[API_KEY]
    if not expected:
        raise RtError("the API is disabled: set RTSERVER_API_KEY", code=ErrorCode.FORBIDDEN)
    if not hmac.compare_digest(request.headers.get("X-Api-Key", "").encode(), expected.encode()):
        raise RtError("missing or wrong X-Api-Key", code=ErrorCode.UNAUTHORIZED)


def json_text(body: Any) -> str:
    """A body as the WebSocket's JSON frames are written (orjson): NaN and infinities as null,
    where json.dumps writes a bare ``NaN`` that strict parsers refuse, failing the whole body."""
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()


def keyed(status: int = 200) -> Callable[[Callable[[web.Request], Awaitable[Any]]],
                                         Callable[[web.Request], Awaitable[web.Response]]]:
    """An API endpoint: the key checked first, the handler's value as the JSON body with ``status``
    (errors: ``api_errors``)."""

    def wrap(handler: Callable[[web.Request], Awaitable[Any]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.Response:
            require_api_key(request)
            return web.json_response(await handler(request), status=status, dumps=json_text)

        return run

    return wrap


def user_id(value: Any, what: str = "user id") -> str:
    """``value`` if it is a user id (``ids.USER_ID``); ``invalid_message`` naming ``what`` otherwise."""
    if not valid_user_id(value):
        raise BadRequest(f"{what}: 1-{MAX_USER_ID_CHARS} characters among {ID_CHARS}")
    return value


def room_id(value: Any, what: str = "room id") -> str:
    if not valid_room_id(value):
        raise BadRequest(f"{what}: 1-{MAX_ROOM_ID_CHARS} characters among {ID_CHARS}")
    return value
