"""Error codes and close codes: the one place the wire vocabulary of failure is defined.

Error tree::

    RtError                      root: every error the server reports to a client
    ├── BadRequest               the request itself is wrong (client bug): do not retry unchanged
    │   ├── codes: malformed_frame, unknown_type, invalid_message, message_too_large
    ├── Forbidden                the user may not do this: forbidden, not_joined, room_not_found
    ├── LimitExceeded            a configured limit: rate_limited (retry after), room_full,
    │                            too_many_connections
    └── Unavailable              the server cannot do it now: unavailable, internal (retry)

A request error is sent as an ``error`` event (``rtserver.protocol.events.error_of``: ``code``,
``message``, the request's ``id``) and the connection stays open. A close code (``CloseCode``)
ends the connection; codes 4000-4099 tell the client to reconnect (and resume), 4100-4199 tell
it to stop until something changes.
"""

from __future__ import annotations

import enum

__all__ = [
    "BadRequest",
    "CloseCode",
    "ErrorCode",
    "Forbidden",
    "LimitExceeded",
    "RtError",
    "Unavailable",
]


class ErrorCode(enum.StrEnum):
    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    MESSAGE_TOO_LARGE = "message_too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_JOINED = "not_joined"
    ROOM_NOT_FOUND = "room_not_found"
    CONFLICT = "conflict"
    LEGAL_HOLD = "legal_hold"  # a legal hold on the follow-up refuses the person's erasure
    RATE_LIMITED = "rate_limited"
    ROOM_FULL = "room_full"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    NOT_FOUND = "not_found"  # follow-up workflow: no such user, follow-up, callback or appointment
    PORTFOLIO_FULL = "portfolio_full"  # the advisor's portfolio is at its cap
    ALREADY_CLAIMED = "already_claimed"  # another advisor or tab claimed the callback request first

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses. 4000-4099: reconnect; 4100-4199: do not."""

    NORMAL = 1000
    SERVICE_RESTART = 1012  # server shutting down: reconnect (to another node) and resume
    MESSAGE_TOO_BIG = 1009  # frame above the hard cap; reconnect
    TRY_AGAIN_LATER = 1013  # a dependency (the store) is unavailable: reconnect with backoff
    SLOW_CONSUMER = 4000  # outgoing buffer overflowed: reconnect and resume from offsets
    AUTH_TIMEOUT = 4001  # no auth message in time: reconnect
    TOKEN_EXPIRED = 4002  # get a fresh token, then reconnect
    UNAUTHORIZED = 4100  # token missing, forged or malformed: do not retry with it
    TOO_MANY_CONNECTIONS = 4101  # this user has too many connections open
    POLICY_VIOLATION = 4102  # repeated bad requests or flooding

    @property
    def should_reconnect(self) -> bool:
        return self.value < 4100


class RtError(Exception):
    """Root of every error reported to a client; carries its wire code."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None, retry_after_ms: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms



class BadRequest(RtError):
    code = ErrorCode.INVALID_MESSAGE


class Forbidden(RtError):
    code = ErrorCode.FORBIDDEN


class LimitExceeded(RtError):
    code = ErrorCode.RATE_LIMITED


class Unavailable(RtError):
    code = ErrorCode.UNAVAILABLE
