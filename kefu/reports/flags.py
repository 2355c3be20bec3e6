"""Where inspection results live: flags stored per shop, the worker that inspects closed
conversations, and batch inspection for a period."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from kefu.reports.qa import LATER_RULES, Flag, QaRules, inspect
from kefu.reports.records import ConversationRecord, load_records, load_transcript
from kefu.store.keys import SHOPS, ShopKeys

__all__ = ["FlagStore", "QaWorker", "RulesFor", "inspect_period"]

log = structlog.get_logger(__name__)


class FlagStore:
    """Flags of one shop. Saving is idempotent: a flag id names conversation, rule and number."""

    def __init__(self, redis: Redis, shop: str) -> None:
        self.redis = redis
        self.keys = ShopKeys(shop)

    async def replace(self, conversation_id: str, flags: list[Flag]) -> None:
        """The flags of one conversation, replacing an earlier inspection of it. A flag id begins
        with its conversation's id and a colon: the conversation's flags are one range of
        `qa_ids` (";" follows ":"), whatever the shop holds."""
        mine = await self.redis.zrangebylex(self.keys.qa_ids, f"[{conversation_id}:", f"({conversation_id};")
        old = [str(k) for k in mine if str(k).split(":")[1] not in LATER_RULES]
        async with self.redis.pipeline(transaction=True) as pipe:
            if old:
                pipe.hdel(self.keys.qa_flags, *old)
                pipe.zrem(self.keys.qa_index, *old)
                pipe.zrem(self.keys.qa_ids, *old)
            for f in flags:
                self._store(pipe, f)
            await pipe.execute()

    async def add(self, flag: Flag) -> None:
        """One flag found after the conversation's inspection (kept when it is inspected again)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            self._store(pipe, flag)
            await pipe.execute()

    async def adopt_earlier(self) -> None:
        """Flags stored before `qa_ids` existed: indexed by id now, and the hash entries of
        flags the janitor of then dropped from `qa_index` (past retention) removed. A no-op
        once the shop has `qa_ids`; safe to run on several instances at once."""
        if await self.redis.exists(self.keys.qa_ids) or not await self.redis.exists(self.keys.qa_flags):
            return
        indexed = {str(i) for i in await self.redis.zrange(self.keys.qa_index, 0, -1)}
        # HSCAN, not HKEYS: a shop's flags of months are not read in one blocking step.
        orphans = [
            str(i) async for i, _ in self.redis.hscan_iter(self.keys.qa_flags) if str(i) not in indexed
        ]
        ids = sorted(indexed)
        for start in range(0, len(ids), 500):
            await self.redis.zadd(self.keys.qa_ids, dict.fromkeys(ids[start : start + 500], 0))
        for start in range(0, len(orphans), 500):
            await self.redis.hdel(self.keys.qa_flags, *orphans[start : start + 500])
        log.info("qa_flags_adopted", shop=self.keys.shop, flags=len(indexed), orphans=len(orphans))

    def _store(self, pipe: Pipeline, flag: Flag) -> None:
        # The three go together; the janitor removes them together at the end of retention.
        pipe.hset(self.keys.qa_flags, flag.id, flag.model_dump_json())
        pipe.zadd(self.keys.qa_index, {flag.id: flag.at})
        pipe.zadd(self.keys.qa_ids, {flag.id: 0})

    async def query(
        self, since: int, until: int, *, agent: str | None = None, rule: str | None = None, limit: int = 1000
    ) -> list[Flag]:
        ids = [str(i) for i in await self.redis.zrangebyscore(self.keys.qa_index, since, f"({until}")]
        if not ids:
            return []
        raw = await self.redis.hmget(self.keys.qa_flags, ids)

        def parsed() -> list[Flag]:
            flags = [Flag.model_validate_json(r) for r in raw if r]
            flags = [
                f
                for f in flags
                if (agent is None or f.agent_id == agent) and (rule is None or f.rule == rule)
            ]
            return sorted(flags, key=lambda f: -f.at)[:limit]

        # Off the event loop: a period's flags may number 100,000 (seconds of parsing).
        return await asyncio.to_thread(parsed)


# The rules of a shop (its settings), looked up by whoever runs the inspection.
RulesFor = Callable[[str], Awaitable[QaRules]]


async def inspect_record(redis: Redis, shop: str, record: ConversationRecord, rules: QaRules) -> list[Flag]:
    transcript = await load_transcript(redis, shop, record)
    # Off the loop: a chat of a thousand long lines is tens of milliseconds of counting.
    flags = await asyncio.to_thread(inspect, record, transcript, rules)
    await FlagStore(redis, shop).replace(record.id, flags)
    return flags


async def inspect_period(redis: Redis, shop: str, since: int, until: int, rules: QaRules) -> list[Flag]:
    """Batch inspection: every conversation created in the period (stored, then returned)."""
    flags: list[Flag] = []
    for record in await load_records(redis, shop, since, until):
        if record.reached_agent or record.first_queued_at is not None:
            flags.extend(await inspect_record(redis, shop, record, rules))
    return sorted(flags, key=lambda f: f.at)


class QaWorker:
    """Inspects conversations as they close (the scripts queue them per shop). Every instance
    runs one; LPOP hands each conversation to exactly one of them."""

    def __init__(self, redis: Redis, rules_for: RulesFor, *, interval_s: float = 1.0) -> None:
        self.redis = redis
        self.rules_for = rules_for
        self.interval_s = interval_s
        # Shops whose flags of before `qa_ids` this process has seen to (FlagStore.adopt_earlier).
        self._adopted: set[str] = set()

    async def run_once(self) -> int:
        done = 0
        for shop in sorted(str(s) for s in await self.redis.smembers(SHOPS)):
            if shop not in self._adopted:
                await FlagStore(self.redis, shop).adopt_earlier()
                self._adopted.add(shop)
            keys = ShopKeys(shop)
            pending = await self.redis.lpop(keys.qa_pending, 50)
            if not pending:
                continue
            rules = await self.rules_for(shop)
            for conversation_id in pending:
                data = await self.redis.hgetall(keys.conversation(str(conversation_id)))
                if data:
                    record = ConversationRecord.from_hash({str(k): str(v) for k, v in data.items()})
                    await inspect_record(self.redis, shop, record, rules)
                    done += 1
        return done
