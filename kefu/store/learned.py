"""Learned phrasings of one shop: questions shoppers resolved by clicking a suggestion, waiting
for an admin to approve them as phrasings of that FAQ (or reject them for good)."""

from __future__ import annotations

import hashlib
from typing import cast

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.scripts import Scripts

__all__ = ["LearnedPhrasing", "LearnedPhrasings", "candidate_id", "voter_id"]

# Candidates kept per shop (the least voted go first), voters kept per candidate, and rejected
# candidates remembered: every structure here is bounded whatever shoppers do.
MAX_CANDIDATES = 1000
MAX_VOTERS = 50
MAX_REJECTED = 5000


def candidate_id(faq_id: str, key: str) -> str:
    """A short stable id for "question `key` (normalized) means FAQ `faq_id`"."""
    return hashlib.sha256(f"{faq_id}\t{key}".encode()).hexdigest()[:20]


def voter_id(session_id: str) -> str:
    """Who voted, without storing the session id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


class LearnedPhrasing(BaseModel):
    id: str
    text: str  # the shopper's words, as last written
    key: str  # the same, normalized (what the unanswered list counts)
    faq_id: str
    shoppers: int
    first: int  # ms
    last: int  # ms


class LearnedPhrasings:
    def __init__(self, redis: Redis, scripts: Scripts, shop: str) -> None:
        self.redis = redis
        self.scripts = scripts
        self.keys = ShopKeys(shop)

    async def vote(self, *, faq_id: str, text: str, key: str, session_id: str, now: int) -> tuple[str, int]:
        """Count one shopper for the candidate; returns (id, distinct shoppers), shoppers -1 when
        an admin rejected this candidate before."""
        cid = candidate_id(faq_id, key)
        record = orjson.dumps({"text": text[:500], "key": key, "faq_id": faq_id}).decode()
        count = await self.scripts.raw(
            "learn",
            self.keys.learn_votes,
            self.keys.prefix,
            "vote",
            cid,
            voter_id(session_id),
            record,
            now,
            MAX_CANDIDATES,
            MAX_VOTERS,
        )
        return cid, int(count)

    async def retract(self, cid: str, session_id: str) -> int:
        """Take a shopper's vote back (they asked for a human or said it was wrong)."""
        count = await self.scripts.raw(
            "learn",
            self.keys.learn_votes,
            self.keys.prefix,
            "retract",
            cid,
            voter_id(session_id),
            "{}",
            0,
            0,
            0,
        )
        return int(count)

    async def list(self, limit: int = 200) -> list[LearnedPhrasing]:
        """Candidates, most shoppers first."""
        ranked = cast(
            list[tuple[str, float]],
            await self.redis.zrevrange(self.keys.learn_votes, 0, limit - 1, withscores=True),
        )
        if not ranked:
            return []
        records = await self.redis.hmget(self.keys.learn_data, [cid for cid, _ in ranked])
        out = []
        for (cid, count), raw in zip(ranked, records, strict=True):
            if raw is None:
                continue
            data = orjson.loads(raw)
            out.append(LearnedPhrasing(id=cid, shoppers=int(count), **data))
        return out

    async def get(self, cid: str) -> LearnedPhrasing | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.learn_data, cid)
            pipe.zscore(self.keys.learn_votes, cid)
            raw, count = await pipe.execute()
        if raw is None or count is None:
            return None
        return LearnedPhrasing(id=cid, shoppers=int(count), **orjson.loads(raw))

    async def forget(self, cid: str, *, rejected_at: int | None = None) -> None:
        """Drop a candidate (approved or rejected); a rejected one is remembered and never
        collects votes again."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.learn_votes, cid)
            pipe.hdel(self.keys.learn_data, cid)
            pipe.hdel(self.keys.learn_voters, cid)
            if rejected_at is not None:
                pipe.zadd(self.keys.learn_rejected, {cid: rejected_at})
                pipe.zremrangebyrank(self.keys.learn_rejected, 0, -MAX_REJECTED - 1)
            await pipe.execute()
