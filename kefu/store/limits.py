"""Limits on what outlives a socket (new sessions, left messages) per client, in Redis so that
every instance counts together: fixed windows, one round trip per counted action."""

from __future__ import annotations

from redis.asyncio import Redis

from kefu.errors import RateLimited
from kefu.store.keys import ShopKeys

__all__ = ["Limits", "window_count"]


async def window_count(redis: Redis, key: str, window_ms: int) -> tuple[int, int]:
    """One more in a fixed-window counter whose window starts with its first count: (count,
    ms left in the window). One transaction."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, nx=True, px=window_ms)  # the window starts with its first action
        pipe.incr(key)  # (INCR keeps the expiry)
        pipe.pttl(key)
        _, count, ttl_ms = await pipe.execute()
    return int(count), int(ttl_ms)


class Limits:
    def __init__(self, redis: Redis, shop: str) -> None:
        self.redis = redis
        self.keys = ShopKeys(shop)

    async def take(self, kind: str, client: str, *, limit: int, window_s: int, message: str) -> None:
        """Count one `kind` for `client` in the current window; RateLimited past `limit`."""
        count, ttl_ms = await window_count(self.redis, self.keys.rate(kind, client), window_s * 1000)
        if count > limit:
            raise RateLimited(message, retry_after=max(ttl_ms, 1000) / 1000)
