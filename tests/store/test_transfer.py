"""Transfer semantics straight against the Lua scripts (real Redis)."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub

from kefu.store import Queue, Scripts, ShopKeys, register_agent, touch
from kefu.store.transfer import Place

# The chat and queue flows run on one Redis and again on a three-master Redis Cluster.
REDIS_BACKENDS = ("single", "cluster")

SHOP = "shop1"
KEYS = ShopKeys(SHOP)


@pytest.fixture
def queue(redis: Redis) -> Queue:
    return Queue(redis, Scripts(redis), SHOP)


@pytest.fixture
async def events(redis: Redis) -> AsyncIterator[PubSub]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(KEYS.events)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    yield pubsub
    await pubsub.aclose()


async def drain_events(pubsub: PubSub) -> list[dict[str, object]]:
    out = []
    while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)) is not None:
        out.append(json.loads(msg["data"]))
    return out


async def conversation(redis: Redis, cid: str, *, session: str | None = None) -> str:
    await redis.hset(KEYS.conversation(cid), mapping={"state": "bot", "session": session or f"s-{cid}"})
    return cid


async def agent(
    queue: Queue,
    aid: str,
    *,
    capacity: int = 1,
    status: str = "online",
    groups: tuple[str, ...] = ("general",),
) -> None:
    await register_agent(queue.redis, SHOP, aid, name=aid.title(), capacity=capacity, groups=groups)
    await touch(queue.redis, agents=[(SHOP, aid)], agent_ttl_s=30, session_ttl_s=30)  # its socket is open
    await queue.set_agent(aid, status=status)  # type: ignore[arg-type]


async def state(redis: Redis, cid: str) -> dict[str, str]:
    return await redis.hgetall(KEYS.conversation(cid))


async def test_no_agent_online_means_offline_and_nothing_queued(queue: Queue, redis: Redis) -> None:
    await agent(queue, "away1", status="away")
    await agent(queue, "off1", status="offline")
    cid = await conversation(redis, "c1")
    result = await queue.request(cid, "general")
    assert result.status == "offline"
    assert (await state(redis, cid))["state"] == "bot"
    assert await queue.waiting() == {}


async def test_free_agent_is_assigned_at_once(queue: Queue, redis: Redis, events: PubSub) -> None:
    await agent(queue, "a1", capacity=2)
    cid = await conversation(redis, "c1")
    result = await queue.request(cid, "general")
    assert (result.status, result.agent) == ("assigned", "a1")
    conv = await state(redis, cid)
    assert conv["state"] == "assigned" and conv["agent"] == "a1"
    assert await redis.smembers(KEYS.agent_conversations("a1")) == {"c1"}
    assigned = [e for e in await drain_events(events) if e["event"] == "assigned"]
    assert len(assigned) == 1
    assert {
        k: assigned[0][k] for k in ("conversation_id", "session_id", "agent_id", "group", "waited_ms")
    } == {
        "conversation_id": "c1",
        "session_id": "s-c1",
        "agent_id": "a1",
        "group": "general",
        "waited_ms": 0,
    }
    # The shopper reads the change in order with the messages: it is a line of the session log.
    ((entry_id, fields),) = await redis.xrange(KEYS.log("s-c1"))
    assert entry_id == assigned[0]["entry_id"]
    assert fields["f"] == "system"
    assert json.loads(fields["x"]) == {"event": "agent_joined", "agent_id": "a1", "agent_name": "A1"}


async def test_busy_agents_queue_fifo_with_positions(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=1)
    for cid in ["c1", "c2", "c3", "c4"]:
        await conversation(redis, cid)
    assert (await queue.request("c1", "general")).status == "assigned"
    second = await queue.request("c2", "general")
    third = await queue.request("c3", "general")
    assert (second.status, second.position) == ("queued", 1)
    assert (third.status, third.position) == ("queued", 2)
    vip = await queue.request("c4", "general", priority=1)
    assert (vip.status, vip.position) == ("queued", 1)
    assert (await position(queue, "c2")) == 2
    assert await queue.waiting() == {"general": 3}


async def test_asking_again_never_queues_twice(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=1)
    for cid in ["c1", "c2"]:
        await conversation(redis, cid)
    await queue.request("c1", "general")
    await queue.request("c2", "general")
    again = await queue.request("c2", "general")
    assert (again.status, again.position) == ("already_queued", 1)
    assert (await queue.request("c1", "general")).status == "already_assigned"
    assert await redis.zcard(KEYS.queue("general")) == 1


@pytest.mark.parametrize("freed_by", ["close", "capacity", "agent_online"])
async def test_a_freed_slot_goes_to_the_oldest_waiting(
    queue: Queue, redis: Redis, events: PubSub, freed_by: str
) -> None:
    await agent(queue, "a1", capacity=1)
    for cid in ["c1", "c2", "c3"]:
        await conversation(redis, cid)
    await queue.request("c1", "general")
    await queue.request("c2", "general")
    await queue.request("c3", "general")
    await drain_events(events)
    if freed_by == "close":
        assert (await queue.close("c1", "agent", owner="a1")).status == "closed"
    elif freed_by == "capacity":
        await queue.set_agent("a1", capacity=2)
    else:
        await agent(queue, "a2", capacity=1)
    conv = await state(redis, "c2")
    assert conv["state"] == "assigned"
    assert (await state(redis, "c3"))["state"] == "queued"
    assert (await position(queue, "c3")) == 1
    seen = await drain_events(events)
    # One event for the group: the score that left (c2's), at the group's next version.
    (moved,) = [e for e in seen if e["event"] == "queue"]
    assert moved["group"] == "general" and len(moved["left"]) == 1 and "joined" not in moved
    assert any(e["event"] == "assigned" and e["conversation_id"] == "c2" for e in seen)


async def test_capacity_is_never_exceeded_and_away_agents_get_nothing(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=2)
    for i in range(5):
        await conversation(redis, f"c{i}")
        await queue.request(f"c{i}", "general")
    assert await redis.scard(KEYS.agent_conversations("a1")) == 2
    await queue.set_agent("a1", status="away")
    await queue.close("c0", "agent", owner="a1")
    assert await redis.scard(KEYS.agent_conversations("a1")) == 1  # away: the free slot stays empty
    assert await queue.waiting() == {"general": 3}


async def test_only_the_owner_may_close(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1")
    await agent(queue, "a2")
    await conversation(redis, "c1")
    await queue.request("c1", "general")
    owner = (await state(redis, "c1"))["agent"]
    other = "a2" if owner == "a1" else "a1"
    assert (await queue.close("c1", "agent", owner=other)).status == "not_yours"
    assert (await state(redis, "c1"))["state"] == "assigned"
    assert (await queue.close("c1", "agent", owner=owner)).status == "closed"
    assert (await queue.close("c1", "shopper")).status == "already_closed"


async def test_shopper_who_left_the_page_leaves_the_queue_after_the_grace(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1")
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=30, session_ttl_s=0.15)
    for cid in ["c1", "c2", "c3"]:
        await conversation(redis, cid)
        await queue.request(cid, "general")
    await touch(redis, sessions=[(SHOP, "s-c2"), (SHOP, "s-c3")], agent_ttl_s=30, session_ttl_s=0.15)
    await queue.janitor()
    assert await queue.waiting() == {"general": 2}  # still within the grace period
    await asyncio.sleep(0.2)
    await touch(redis, sessions=[(SHOP, "s-c3")], agent_ttl_s=30, session_ttl_s=30)  # c3 reloaded
    result = await queue.janitor()
    assert result["left"] == 1
    assert (await state(redis, "c2"))["state"] == "bot"
    assert (await state(redis, "c2"))["left_queue_reason"] == "gone"
    assert (await position(queue, "c3")) == 1


async def _pttl_calls(redis: Redis) -> int:
    """PTTL commands Redis ran (a cluster client answers per node: summed)."""
    if isinstance(redis, RedisCluster):
        stats = await redis.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
    else:
        stats = await redis.info("commandstats")
    nodes = [stats] if any(k.startswith("cmdstat_") for k in stats) else list(stats.values())
    return sum(int(node.get("cmdstat_pttl", {}).get("calls", 0)) for node in nodes)


async def test_the_janitor_looks_only_at_waiting_shoppers_that_are_due(queue: Queue, redis: Redis) -> None:
    """A run costs what is due, not the length of the queue: a waiting shopper is looked at
    when it joins and again when its presence would expire."""
    await agent(queue, "a1", capacity=0)
    sessions = []
    for n in range(300):
        cid = await conversation(redis, f"c{n}")
        sessions.append((SHOP, f"s-{cid}"))
        await queue.request(cid, "general")
    await touch(redis, sessions=sessions, agent_ttl_s=30, session_ttl_s=30)
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=30, session_ttl_s=30)
    before = await _pttl_calls(redis)
    assert (await queue.janitor())["left"] == 0
    assert await _pttl_calls(redis) - before == 300  # each looked at once, on joining
    before = await _pttl_calls(redis)
    for _ in range(3):
        assert (await queue.janitor())["left"] == 0
    assert await _pttl_calls(redis) - before == 0  # nobody due for ~30 s
    assert await queue.waiting() == {"general": 300}


async def test_shoppers_queued_before_the_schedules_are_still_looked_after(
    queue: Queue, redis: Redis
) -> None:
    await agent(queue, "a1", capacity=0)
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=30, session_ttl_s=30)
    for cid in ["c1", "c2"]:
        await conversation(redis, cid)
        await queue.request(cid, "general")
    # As an older kefu left them: in the queue, on no schedule.
    await redis.delete(KEYS.queue_checks("general"), KEYS.queue_since("general"))
    await touch(redis, sessions=[(SHOP, "s-c2")], agent_ttl_s=30, session_ttl_s=30)
    assert (await queue.janitor())["left"] == 1  # c1's shopper is gone, c2's is there
    assert (await state(redis, "c1"))["left_queue_reason"] == "gone"
    assert await redis.zcard(KEYS.queue_checks("general")) == 1


async def test_vanished_agent_hands_conversations_back_to_the_head(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=2)
    await agent(queue, "a2", capacity=1, status="away")  # at the desk, coming back: the queue waits
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=0.1, session_ttl_s=30)
    sessions = []
    for cid in ["c1", "c2", "c3"]:
        await conversation(redis, cid)
        sessions.append((SHOP, f"s-{cid}"))
        await queue.request(cid, "general")
    await touch(redis, sessions=sessions, agent_ttl_s=30, session_ttl_s=30)
    assert await queue.waiting() == {"general": 1}
    await asyncio.sleep(0.15)
    result = await queue.janitor()
    assert result["requeued"] == 2
    head = await redis.zrange(KEYS.queue("general"), 0, -1)
    assert head[2] == "c3" and set(head[:2]) == {"c1", "c2"}  # they were served before c3
    assert (await redis.hget(KEYS.agent("a1"), "status")) == "offline"
    await queue.set_agent("a2", status="online")
    assert (await state(redis, head[0]))["agent"] == "a2"


async def test_shoppers_waiting_for_a_group_nobody_staffs_any_more_are_told(
    queue: Queue, redis: Redis
) -> None:
    await agent(queue, "a1", capacity=1)
    for cid in ["c1", "c2", "c3"]:
        await conversation(redis, cid)
        await queue.request(cid, "general")
    await touch(redis, sessions=[(SHOP, "s-c2"), (SHOP, "s-c3")], agent_ttl_s=30, session_ttl_s=30)
    await queue.set_agent("a1", status="away")
    assert await queue.waiting() == {"general": 2}  # away for a moment: they keep their places
    await queue.set_agent("a1", status="offline")
    assert await queue.waiting() == {}
    for cid in ["c2", "c3"]:
        record = await state(redis, cid)
        assert (record["state"], record["left_queue_reason"]) == ("bot", "no_agents")
    assert (await state(redis, "c1"))["agent"] == "a1"  # its chat stays with it


async def test_transfer_to_another_group_keeps_the_conversation(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", groups=("general",))
    await agent(queue, "b1", groups=("billing",), capacity=1)
    await conversation(redis, "c1")
    await queue.request("c1", "general")
    assert (await queue.regroup("c1", "b1", "general")).status == "not_yours"
    assert (await queue.regroup("c1", "a1", "nobody")).status == "no_agents"
    moved = await queue.regroup("c1", "a1", "billing")
    assert (moved.status, moved.agent) == ("assigned", "b1")
    assert await redis.smembers(KEYS.agent_conversations("a1")) == set()
    assert (await state(redis, "c1"))["group"] == "billing"


async def test_queue_timeout_from_the_shop_config(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1")
    await redis.set(KEYS.config, json.dumps({"queue_timeout_s": 0.1}))
    for cid in ["c1", "c2"]:
        await conversation(redis, cid)
        await queue.request(cid, "general")
    await touch(redis, agents=[(SHOP, "a1")], sessions=[(SHOP, "s-c2")], agent_ttl_s=30, session_ttl_s=30)
    await asyncio.sleep(0.15)
    await queue.janitor()
    assert (await state(redis, "c2"))["left_queue_reason"] == "timeout"


async def position(queue: Queue, cid: str) -> int | None:
    place = await queue.place(cid, "general")
    return place.position if place else None


def test_a_place_moves_by_the_scores_that_joined_and_left_before_it() -> None:
    place = Place("general", position=3, score=30.0, version=7)
    assert place.apply(8, joined=[40.0], left=[10.0]) is True and place.position == 2
    assert place.apply(9, joined=[-1e12, 5.0], left=[]) is True and place.position == 4  # ahead
    assert place.apply(9, joined=[1.0], left=[]) is False and place.position == 4  # seen already
    assert place.apply(11, joined=[], left=[1.0]) is None  # version 10 was missed: read again
    assert place.apply(10, joined=[], left=[50.0]) is False and place.version == 10


async def test_estimated_wait_uses_recent_handling_times(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=2)
    await redis.lpush(KEYS.handle_times("general"), 100, 120, 140)
    assert await queue.wait_basis("general") == (120.0, 2)  # 3rd in line: 3 × 120 s ÷ 2 slots


async def test_idle_chats_close_by_timeout(queue: Queue, redis: Redis) -> None:
    await agent(queue, "a1", capacity=2)
    await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=30, session_ttl_s=30)
    await redis.set(KEYS.config, json.dumps({"idle_close_s": 0.2}))
    await conversation(redis, "c1")
    await queue.request("c1", "general")
    await asyncio.sleep(0.3)
    assert (await queue.janitor())["closed"] == 1
    conv = await state(redis, "c1")
    assert conv["state"] == "closed" and conv["closed_by"] == "timeout"
    assert await redis.scard(KEYS.agent_conversations("a1")) == 0
