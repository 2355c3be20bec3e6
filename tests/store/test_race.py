"""Many claimers on several connections (standing in for kefu instances) race for few slots."""

import asyncio
import json
import random

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from kefu.redisserver import RedisServer
from kefu.store import Queue, Scripts, ShopKeys, connect, register_agent, touch

# Claims race on one Redis and on a three-master Redis Cluster.
REDIS_BACKENDS = ("single", "cluster")

SHOP = "race"
KEYS = ShopKeys(SHOP)


async def test_thousand_concurrent_claims_keep_every_invariant(
    redis: Redis, redis_server: RedisServer
) -> None:
    figures = await race(redis, redis_server.url, total=1000)
    assert figures["queued_first"] > 100, "too few claims had to wait: the race was not a race"
    assert {k: v for k, v in figures.items() if k != "queued_first"} == {
        "claims": 1000,
        "assigned_once": 1000,
        "double_assignments": 0,
        "capacity_overruns": 0,
        "fifo_inversions": 0,
        "left_holding": 0,
    }


async def race(
    redis: Redis, url: str, *, total: int, claimers: int = 4, spread_s: float = 0.5
) -> dict[str, int]:
    """`total` shoppers ask for a human through `claimers` clients (each one a kefu instance's
    pool) while 8 agents of capacities 1–3 close chats as fast as they get them; then the event
    log is replayed to check every invariant. bench/race.py runs it with 100k claims."""
    instances = [connect(url, max_connections=16) for _ in range(claimers)]
    queues = [Queue(client, Scripts(client), SHOP) for client in instances]
    capacities = {f"a{i}": 1 + i % 3 for i in range(8)}
    for aid, capacity in capacities.items():
        await register_agent(redis, SHOP, aid, name=aid, capacity=capacity, groups=["general"])
        await touch(redis, agents=[(SHOP, aid)], agent_ttl_s=3600, session_ttl_s=3600)
        await queues[0].set_agent(aid, status="online")
    pipe = redis.pipeline(transaction=False)
    for i in range(total):
        pipe.hset(KEYS.conversation(f"c{i}"), mapping={"state": "bot", "session": f"s{i}"})
    await pipe.execute()

    events: list[dict[str, str]] = []
    listener = redis.pubsub()
    await listener.subscribe(KEYS.events)
    await listener.get_message(timeout=1)
    done = asyncio.Event()

    closed = 0
    claims = asyncio.Semaphore(256)

    async def claim(i: int) -> None:
        await asyncio.sleep(random.random() * spread_s)
        async with claims:
            await random.choice(queues).request(f"c{i}", "general")

    async def agent_worker(aid: str) -> None:
        nonlocal closed
        q = random.choice(queues)
        while closed < total:
            mine = await q.redis.smembers(KEYS.agent_conversations(aid))
            for cid in mine:
                if (await q.close(cid, "agent", owner=aid)).status == "closed":
                    closed += 1
            await asyncio.sleep(random.random() * 0.01)

    listening = asyncio.create_task(collect(listener, done, events))
    await asyncio.wait_for(
        asyncio.gather(*(claim(i) for i in range(total)), *(agent_worker(a) for a in capacities)),
        timeout=max(120, total / 100),
    )
    await asyncio.sleep(0.3)
    done.set()
    await listening
    await listener.aclose()
    for client in instances:
        await client.aclose()

    return replay(events, capacities, total)


async def collect(listener: PubSub, done: asyncio.Event, events: list[dict[str, str]]) -> None:
    while True:
        msg = await listener.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg:
            events.append(json.loads(msg["data"]))
        elif done.is_set():
            return


def replay(events: list[dict[str, str]], capacities: dict[str, int], total: int) -> dict[str, int]:
    """Redis ran the scripts one at a time, so the event log is a true history: count every
    broken invariant in it."""
    first_seen: dict[str, int] = {}
    assigned_order: list[str] = []
    holder: dict[str, str] = {}
    load = dict.fromkeys(capacities, 0)
    doubles = overruns = 0
    for n, event in enumerate(events):
        cid = str(event.get("conversation_id", ""))
        if event["event"] in ("assigned", "queued") and cid not in first_seen:
            first_seen[cid] = n
        if event["event"] == "assigned":
            doubles += cid in holder
            holder[cid] = str(event["agent_id"])
            load[holder[cid]] += 1
            overruns += load[holder[cid]] > capacities[holder[cid]]
            assigned_order.append(cid)
        elif event["event"] == "closed" and cid in holder:
            load[holder.pop(cid)] -= 1
    # FIFO: shoppers were served in the order their requests reached Redis.
    fifo = sorted(assigned_order, key=first_seen.__getitem__)
    return {
        "claims": total,
        "assigned_once": len(set(assigned_order)),
        "queued_first": sum(1 for e in events if e["event"] == "queued"),
        "double_assignments": doubles,
        "capacity_overruns": overruns,
        "fifo_inversions": sum(a != b for a, b in zip(assigned_order, fifo, strict=True)),
        "left_holding": sum(load.values()),
    }
