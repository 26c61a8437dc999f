"""Tokens: who the user is. Signed JWTs (HS256 by default, PyJWT); what they may join is the server's call."""

from __future__ import annotations

import dataclasses
import enum
import time
from typing import TYPE_CHECKING

import jwt

from .errors import ErrorCode, RtError
from .ids import ID_CHARS, MAX_USER_ID_CHARS, valid_user_id
from .text import NOT_IN_ONE_LINE

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["Identity", "Role", "TokenError", "TokenVerifier", "mint_token", "name_problem"]


MIN_SECRET_CHARS = 32  # RFC 7518 section 3.2: an HS256 key at least as long as the hash
DEFAULT_MAX_LIFETIME_S = 86_400.0
DEFAULT_MAX_NAME_CHARS = 200


def name_problem(name: object, max_chars: int = DEFAULT_MAX_NAME_CHARS) -> str | None:
    """Why ``name`` cannot be a display name, or None when it can."""
    if not isinstance(name, str) or not 1 <= len(name) <= max_chars:
        return f"must be a string of 1 to {max_chars} characters"
    if NOT_IN_ONE_LINE.search(name):  # shown to others (member lists, messages, mails): rtserver.text
        return "must not contain control characters"
    return None


class Role(enum.StrEnum):
    JOBSEEKER = "jobseeker"
    ADVISOR = "advisor"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    role: Role
    name: str
    expires_at: float


class TokenError(RtError):
    code = ErrorCode.UNAUTHORIZED


class TokenVerifier:
    def __init__(self, *, secret: str, algorithm: str = "HS256", leeway_s: float = 30.0, issuer: str = "",
                 max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S, max_name_chars: int = DEFAULT_MAX_NAME_CHARS):
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the token secret must have at least {MIN_SECRET_CHARS} characters")
        if max_lifetime_s <= 0:
            raise ValueError("jwt_max_lifetime_s must be positive")
        if max_name_chars < 1:
            raise ValueError("max_name_chars must be at least 1")
        self._secret = secret
        self._algorithm = algorithm
        self._leeway_s = leeway_s
        self._issuer = issuer or None
        self._max_lifetime_s = max_lifetime_s
        self._max_name_chars = max_name_chars

    @classmethod
    def from_settings(cls, s: Settings) -> TokenVerifier:
        return cls(secret=s.resolved_secret(), algorithm=s.jwt_algorithm, leeway_s=s.jwt_leeway_s,
                   issuer=s.jwt_issuer, max_lifetime_s=s.jwt_max_lifetime_s, max_name_chars=s.max_name_chars)

    def verify(self, token: str) -> Identity:
        """Return the identity a valid token names; raise TokenError (code unauthorized) otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                leeway=self._leeway_s,
                issuer=self._issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        exp = float(claims["exp"])  # PyJWT checked it is a number
        self._check_lifetime(exp, claims.get("iat"))
        sub, role = claims.get("sub"), claims.get("role", "")  # missing: refused below, as a wrong one
        if not valid_user_id(sub):
            raise TokenError(f"invalid token: 'sub' must be 1 to {MAX_USER_ID_CHARS} {ID_CHARS}")
        assert isinstance(sub, str)
        try:
            parsed_role = Role(role)
        except ValueError:
            raise TokenError("invalid token: 'role' must be advisor or jobseeker") from None
        name = claims.get("name", sub)
        problem = name_problem(name, self._max_name_chars)
        if problem is not None:
            raise TokenError(f"invalid token: 'name' {problem}")
        return Identity(sub, parsed_role, name, exp + self._leeway_s)

    def _check_lifetime(self, exp: float, iat: object) -> None:
        """``exp - iat`` at most the maximum; without ``iat``, ``exp - now`` (give or take the leeway).

        PyJWT refuses an ``iat`` in the future, so both bound the expiry to now + the maximum:
        a stolen token cannot stay usable for years.
        """
        if isinstance(iat, int | float):
            lifetime = exp - float(iat)
        else:
            lifetime = exp - time.time() - self._leeway_s
        if lifetime > self._max_lifetime_s:
            raise TokenError(f"invalid token: 'exp' is beyond the maximum lifetime of {self._max_lifetime_s:g} s")


def mint_token(
    *, secret: str, user_id: str, role: Role | str, name: str | None = None, ttl_s: float = 3600.0,
    algorithm: str = "HS256", issuer: str = "", now: float | None = None,
) -> str:
    """A signed token; ValueError for a user id or name the server would refuse."""
    if not valid_user_id(user_id):
        raise ValueError(f"the user id must be 1 to {MAX_USER_ID_CHARS} {ID_CHARS}")
    if name is not None and (problem := name_problem(name)) is not None:
        raise ValueError(f"the name {problem}")
    issued = time.time() if now is None else now
    claims: dict[str, object] = {
        "sub": user_id, "role": str(Role(role)), "name": name or user_id,
        "iat": int(issued), "exp": int(issued + ttl_s),
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=algorithm)
