"""Many claimers on several connections (standing in for kefu instances) race for few slots."""

import asyncio
import json
import random

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from kefu.queue import Queue, Scripts, ShopKeys, connect, register_agent, touch
from kefu.redisserver import RedisServer

# Claims race on one Redis and on a three-master Redis Cluster.
REDIS_BACKENDS = ("single", "cluster")

SHOP = "race"
KEYS = ShopKeys(SHOP)


async def test_thousand_concurrent_claims_keep_every_invariant(
    redis: Redis, redis_server: RedisServer
) -> None:
    instances = [connect(redis_server.url, max_connections=16) for _ in range(4)]
    queues = [Queue(client, Scripts(client), SHOP) for client in instances]
    capacities = {f"a{i}": 1 + i % 3 for i in range(8)}
    for aid, capacity in capacities.items():
        await register_agent(redis, SHOP, aid, name=aid, capacity=capacity, groups=["general"])
        await touch(redis, agents=[(SHOP, aid)], agent_ttl_s=120, session_ttl_s=120)
        await queues[0].set_agent(aid, status="online")
    total = 1000
    for i in range(total):
        await redis.hset(KEYS.conversation(f"c{i}"), mapping={"state": "bot", "session": f"s{i}"})

    events: list[dict[str, str]] = []
    listener = redis.pubsub()
    await listener.subscribe(KEYS.events)
    await listener.get_message(timeout=1)
    done = asyncio.Event()

    closed = 0

    async def claim(i: int) -> None:
        await asyncio.sleep(random.random() * 0.5)
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
        asyncio.gather(*(claim(i) for i in range(total)), *(agent_worker(a) for a in capacities)), timeout=120
    )
    await asyncio.sleep(0.3)
    done.set()
    await listening
    await listener.aclose()
    for client in instances:
        await client.aclose()

    replay(events, capacities, total)


async def collect(listener: PubSub, done: asyncio.Event, events: list[dict[str, str]]) -> None:
    while True:
        msg = await listener.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg:
            events.append(json.loads(msg["data"]))
        elif done.is_set():
            return


def replay(events: list[dict[str, str]], capacities: dict[str, int], total: int) -> None:
    """Redis ran the scripts one at a time, so the event log is a true history: check it."""
    first_seen: dict[str, int] = {}
    assigned_order: list[str] = []
    holder: dict[str, str] = {}
    load = dict.fromkeys(capacities, 0)
    for n, event in enumerate(events):
        cid = str(event.get("conv", ""))
        if event["e"] in ("assigned", "queued") and cid not in first_seen:
            first_seen[cid] = n
        if event["e"] == "assigned":
            assert cid not in holder, f"{cid} assigned twice"
            holder[cid] = str(event["agent"])
            load[holder[cid]] += 1
            assert load[holder[cid]] <= capacities[holder[cid]], "capacity overrun"
            assigned_order.append(cid)
        elif event["e"] == "closed":
            load[holder.pop(cid)] -= 1
    assert len(assigned_order) == total == len(set(assigned_order))
    # FIFO: shoppers were served in the order their requests reached Redis.
    assert assigned_order == sorted(assigned_order, key=first_seen.__getitem__)
    assert all(v == 0 for v in load.values())
