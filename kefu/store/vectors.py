"""The sentence encoder's vectors of a shop's FAQ texts, kept in Redis: a restart, a new worker
or another instance builds the shop's index without encoding its corpus again.

Encoding is most of an index build (≈ 0.8 ms a text on one core; a corpus of 1,000 entries has
≈ 3,000 texts to encode). The hash holds the texts of the shop's current corpus only — each
build adds what it encoded and drops what the corpus no longer has — and expires when no build
has touched it for `TTL_S`. Its size follows the corpus's caps (≈ 3 KB a text: ≈ 9 MiB at
1,000 entries); `server/bot.py` keeps vectors for corpora of 100 entries or more only. Two
instances building at once may each drop the other's newest texts: the cost of that race is
encoding them again, never a wrong vector (a vector is found by its text's digest).
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from kefu.store.keys import ShopKeys

__all__ = ["FaqVectors"]

TTL_S = 30 * 24 * 3600
# Vectors per command, reading or writing (≈ 540 KB).
_SLICE = 200


class FaqVectors:
    """`await FaqVectors(redis, shop, model).load()` → digest → vector, for `StoredVectors`."""

    def __init__(self, redis: Redis, shop: str, model: str) -> None:
        self.redis = redis
        self.key = ShopKeys(shop).faq_vectors(model)

    async def load(self) -> dict[str, str]:
        # In slices: one HGETALL of a big corpus's vectors (≈ 9 MB at 1,000 entries) would hold
        # Redis for ≈ 8 ms, every other shop's commands waiting behind it.
        vectors = {field: value async for field, value in self.redis.hscan_iter(self.key, count=_SLICE)}
        await self.redis.expire(self.key, TTL_S)
        return vectors

    async def save(self, fresh: Mapping[str, str], keep: set[str] | None) -> None:
        """Add `fresh` and drop every vector whose digest is not in `keep` (the corpus's texts;
        None: drop nothing)."""
        items = list(fresh.items())
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(items), _SLICE):  # separate commands: others run between
                mapping: dict[FieldT, EncodableT] = dict(items[start : start + _SLICE])
                pipe.hset(self.key, mapping=mapping)
            await pipe.execute()
        stale = [] if keep is None else [d for d in await self.redis.hkeys(self.key) if d not in keep]
        async with self.redis.pipeline(transaction=False) as pipe:
            if stale:
                pipe.hdel(self.key, *stale)
            pipe.expire(self.key, TTL_S)
            await pipe.execute()
