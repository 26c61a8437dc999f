"""Tokens: who the user is. Signed JWTs (HS256 by default, PyJWT); what they may join is the server's call."""

from __future__ import annotations

import dataclasses
import enum
import time

import jwt

from .errors import ErrorCode, RtError

__all__ = ["Identity", "Role", "TokenVerifier", "mint_token"]


MIN_SECRET_CHARS = 32  # RFC 7518 section 3.2: an HS256 key at least as long as the hash


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
    def __init__(self, *, secret: str, algorithm: str = "HS256", leeway_s: float = 30.0, issuer: str = ""):
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the token secret must have at least {MIN_SECRET_CHARS} characters")
        self._secret = secret
        self._algorithm = algorithm
        self._leeway_s = leeway_s
        self._issuer = issuer or None

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
        sub, role = claims.get("sub"), claims.get("role")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise TokenError("invalid token: 'sub' must be a non-empty string of at most 128 characters")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise TokenError("invalid token: 'role' must be advisor or jobseeker") from None
        name = claims.get("name") if isinstance(claims.get("name"), str) else sub
        return Identity(sub, parsed_role, name[:200], float(claims["exp"]) + self._leeway_s)


def mint_token(
    *, secret: str, user_id: str, role: Role | str, name: str | None = None, ttl_s: float = 3600.0,
    algorithm: str = "HS256", issuer: str = "", now: float | None = None,
) -> str:
    issued = time.time() if now is None else now
    claims: dict[str, object] = {
        "sub": user_id, "role": str(Role(role)), "name": name or user_id,
        "iat": int(issued), "exp": int(issued + ttl_s),
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=algorithm)
