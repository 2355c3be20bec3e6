"""Signed, expiring agent/admin tokens (HS256 JWTs carrying `Claims`): access tokens for the
REST API (header only) and single-use socket tickets that open one agent socket."""

from __future__ import annotations

import secrets
import time
from typing import Literal

import jwt

from kefu.errors import Unauthorized
from kefu.store.accounts import Claims, User

__all__ = ["TokenSigner"]


class TokenSigner:
    """HS256 JWTs carrying `Claims`; verification checks signature and expiry."""

    # A socket ticket is good for this long: fetched just before the socket opens.
    TICKET_TTL_S = 30

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, user: User, shop: str) -> tuple[str, int]:
        expires = int(time.time()) + self.ttl_s
        claims = Claims(sub=user.id, shop=shop, role=user.role, ver=user.token_version, exp=expires)
        return jwt.encode(claims.model_dump(exclude_none=True), self._secret, algorithm="HS256"), expires

    def ticket(self, access: Claims) -> str:
        """A single-use ticket for one agent socket, made from a verified access token: it
        may sit in the socket URL (logged by proxies) because it is spent on first use and
        dies in seconds."""
        claims = access.model_copy(
            update={
                "typ": "socket",
                "exp": int(time.time()) + self.TICKET_TTL_S,
                "jti": secrets.token_urlsafe(12),
                "aexp": access.exp,
            }
        )
        return jwt.encode(claims.model_dump(exclude_none=True), self._secret, algorithm="HS256")

    def verify(self, token: str, typ: Literal["access", "socket"] = "access") -> Claims:
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired; log in again", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token", code="token_invalid") from None
        claims = Claims.model_validate(payload)
        if claims.typ != typ or (typ == "socket" and not claims.jti):
            raise Unauthorized("invalid token", code="token_invalid")
        return claims
