"""Limits on what outlives a socket (new sessions, left messages) per client, in Redis so that
every instance counts together: fixed windows, one round trip per counted action."""

from __future__ import annotations

from redis.asyncio import Redis

from kefu.errors import RateLimited
from kefu.store.keys import ShopKeys

__all__ = ["Limits"]


class Limits:
    def __init__(self, redis: Redis, shop: str) -> None:
        self.redis = redis
        self.keys = ShopKeys(shop)

    async def take(self, kind: str, client: str, *, limit: int, window_s: int, message: str) -> None:
        """Count one `kind` for `client` in the current window; RateLimited past `limit`."""
        key = self.keys.rate(kind, client)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, nx=True, ex=window_s)  # the window starts with its first action
            pipe.incr(key)
            pipe.pttl(key)
            _, count, ttl_ms = await pipe.execute()
        if int(count) > limit:
            raise RateLimited(message, retry_after=max(int(ttl_ms), 1000) / 1000)
