"""Agent seats in Redis: registration, skill groups, and the records the queue scripts read."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from kefu.store.keys import ShopKeys

__all__ = ["agent_groups", "register_agent", "unregister_agent"]


async def register_agent(
    redis: Redis, shop: str, agent_id: str, *, name: str, capacity: int, groups: Iterable[str]
) -> None:
    """Create or update the seat: name, capacity and group memberships (status is kept)."""
    keys = ShopKeys(shop)
    wanted = sorted(set(groups))
    current = await agent_groups(redis, shop, agent_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            keys.agent(agent_id), mapping={"name": name, "capacity": capacity, "groups": ",".join(wanted)}
        )
        pipe.hsetnx(keys.agent(agent_id), "status", "offline")
        pipe.sadd(keys.agents, agent_id)
        for group in set(current) - set(wanted):
            pipe.srem(keys.group_agents(group), agent_id)
        for group in wanted:
            pipe.sadd(keys.group_agents(group), agent_id)
        await pipe.execute()


async def agent_groups(redis: Redis, shop: str, agent_id: str) -> list[str]:
    raw = await redis.hget(ShopKeys(shop).agent(agent_id), "groups")
    return [g for g in str(raw or "").split(",") if g]


async def unregister_agent(redis: Redis, shop: str, agent_id: str) -> None:
    """Take the seat out of every group and offline (its open conversations stay until closed)."""
    keys = ShopKeys(shop)
    groups = await agent_groups(redis, shop, agent_id)
    async with redis.pipeline(transaction=True) as pipe:
        for group in groups:
            pipe.srem(keys.group_agents(group), agent_id)
        pipe.hset(keys.agent(agent_id), mapping={"status": "offline", "groups": ""})
        pipe.srem(keys.agents_online, agent_id)
        pipe.srem(keys.agents_present, agent_id)
        await pipe.execute()
