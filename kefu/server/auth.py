"""Signed, expiring agent/admin tokens (HS256 JWTs carrying `Claims`)."""

from __future__ import annotations

import time

import jwt

from kefu.errors import Unauthorized
from kefu.store.accounts import Claims, User

__all__ = ["TokenSigner"]


class TokenSigner:
    """HS256 JWTs carrying `Claims`; verification checks signature and expiry."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, user: User, shop: str) -> tuple[str, int]:
        expires = int(time.time()) + self.ttl_s
        claims = Claims(sub=user.id, shop=shop, role=user.role, ver=user.token_version, exp=expires)
        return jwt.encode(claims.model_dump(), self._secret, algorithm="HS256"), expires

    def verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired; log in again", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token", code="token_invalid") from None
        return Claims.model_validate(payload)
