"""Where inspection flags live (kefu/reports/flags.py) on a real Redis: a re-inspection replaces
one conversation's flags without reading the shop's others, and retention removes a flag's
every record."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from kefu.reports.flags import FlagStore, QaWorker
from kefu.reports.qa import Flag, QaRules, Rule
from kefu.store.keys import SHOPS, ShopKeys
from kefu.store.scripts import Scripts
from kefu.store.transfer import Queue

SHOP = "demo"
KEYS = ShopKeys(SHOP)


def flag(conversation_id: str, rule: Rule, n: int = 0, *, at: int | None = None) -> Flag:
    return Flag(
        id=f"{conversation_id}:{rule}:{n}",
        conversation_id=conversation_id,
        rule=rule,
        agent_id="a1",
        at=at if at is not None else int(time.time() * 1000),
        detail="…",
        evidence=[],
    )


async def stored(redis: Redis) -> set[str]:
    ids = {str(i) for i in await redis.hkeys(KEYS.qa_flags)}
    assert ids == {str(i) for i in await redis.zrange(KEYS.qa_index, 0, -1)}
    assert ids == {str(i) for i in await redis.zrange(KEYS.qa_ids, 0, -1)}
    return ids


async def test_a_reinspection_replaces_only_that_conversations_flags(redis: Redis) -> None:
    store = FlagStore(redis, SHOP)
    await store.replace("ab", [flag("ab", "slow_reply"), flag("ab", "slow_reply", 1)])
    await store.replace("abc", [flag("abc", "slow_reply")])  # an id that begins like the other
    await store.add(flag("ab", "no_payment_reminder"))  # found later, kept by a re-inspection
    await store.replace("ab", [flag("ab", "over_messaging")])
    assert await stored(redis) == {"ab:over_messaging:0", "ab:no_payment_reminder:0", "abc:slow_reply:0"}
    await store.replace("ab", [])
    assert await stored(redis) == {"ab:no_payment_reminder:0", "abc:slow_reply:0"}


async def test_retention_removes_every_record_of_an_old_flag(redis: Redis) -> None:
    store = FlagStore(redis, SHOP)
    day = 86_400_000
    now = int(time.time() * 1000)
    await store.replace("old", [flag("old", "slow_reply", at=now - 100 * day)])
    await store.replace("new", [flag("new", "slow_reply", at=now - day)])
    await Queue(redis, Scripts(redis), SHOP).janitor(retention_s=90 * 86_400)
    assert await stored(redis) == {"new:slow_reply:0"}
    since = now - 200 * day
    assert [f.id for f in await store.query(since, now + 1)] == ["new:slow_reply:0"]


async def test_flags_stored_before_the_id_index_are_adopted_once(redis: Redis) -> None:
    """Before `qa_ids`, the janitor dropped old flags from `qa_index` only: their hash entries
    stayed. The QA worker indexes what is left and removes those, once per shop."""
    await redis.sadd(SHOPS, SHOP)
    kept, orphan = flag("c1", "slow_reply"), flag("c0", "slow_reply")
    for f in (kept, orphan):
        await redis.hset(KEYS.qa_flags, f.id, f.model_dump_json())
    await redis.zadd(KEYS.qa_index, {kept.id: kept.at})

    async def rules(shop: str) -> QaRules:
        return QaRules()

    await QaWorker(redis, rules).run_once()
    assert await stored(redis) == {kept.id}
    await FlagStore(redis, SHOP).replace("c1", [])  # found through the id index now
    assert await stored(redis) == set()
