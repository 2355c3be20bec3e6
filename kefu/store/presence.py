"""Presence: sockets keep short-lived keys alive; the janitor acts on the ones that expired."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from redis.asyncio import Redis

from kefu.store.keys import HEALTH_PROBE, SHOPS, ShopKeys
from kefu.store.scripts import Scripts
from kefu.store.transfer import Queue

__all__ = ["Janitor", "forget_live", "touch"]

log = structlog.get_logger(__name__)


async def touch(
    redis: Redis,
    *,
    agents: Iterable[tuple[str, str]] = (),
    sessions: Iterable[tuple[str, str]] = (),
    agent_ttl_s: float,
    session_ttl_s: float,
    live_ttl_s: float | None = None,
) -> None:
    """Refresh presence keys of (shop, agent id) and (shop, session id) pairs in one round trip.

    A key outlives its last refresh by its TTL: that is the grace period a reload gets. Agents
    also get a short "live" key (`live_ttl_s`, a few refresh intervals; default the grace):
    only live agents are given new chats.

    The round trip always writes (the health probe key), so an instance holding no socket
    also fails here while Redis refuses writes: the janitor of every instance then waits
    (app.py), not only of those whose sockets' keys are expiring.
    """
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(HEALTH_PROBE, "1", px=10_000)
        for shop, agent_id in agents:
            keys = ShopKeys(shop)
            pipe.set(keys.agent_presence(agent_id), "1", px=int(agent_ttl_s * 1000))
            pipe.set(keys.agent_live(agent_id), "1", px=int((live_ttl_s or agent_ttl_s) * 1000))
        for shop, session_id in sessions:
            pipe.set(ShopKeys(shop).shopper_presence(session_id), "1", px=int(session_ttl_s * 1000))
        await pipe.execute()


async def forget_live(redis: Redis, shop: str, agent_id: str) -> None:
    """The agent's last socket here closed: no new chats until a socket (here or on another
    instance, at its next refresh) says it is live again."""
    await redis.delete(ShopKeys(shop).agent_live(agent_id))


class Janitor:
    """Runs the janitor script for every shop, every `interval_s`, on every instance.

    Running it everywhere is safe (each run is one atomic script) and means a crashed instance
    cannot leave agents "online" or shoppers "queued" forever.
    """

    def __init__(self, redis: Redis, scripts: Scripts, *, interval_s: float, retention_s: float = 0) -> None:
        self.redis = redis
        self.scripts = scripts
        self.interval_s = interval_s
        self.retention_s = retention_s

    async def run_once(self) -> None:
        for shop in sorted(str(s) for s in await self.redis.smembers(SHOPS)):
            await Queue(self.redis, self.scripts, shop).janitor(retention_s=self.retention_s)
