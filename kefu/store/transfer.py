"""The transfer queue of one shop: ask for a human, assign, close, requeue — each one Lua step."""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.scripts import Scripts

__all__ = ["AgentSlots", "CloseResult", "Place", "Queue", "TransferResult"]

AgentStatus = Literal["online", "away", "offline"]


@dataclass(slots=True)
class Place:
    """Where a waiting conversation stands: its position, its score (lower is served first)
    and the group's queue version these were read at. `QueueMoved` events move it on."""

    group: str
    position: int
    score: float
    version: int

    def apply(
        self, version: int, joined: list[float], left: list[float], *, first: int | None = None
    ) -> bool | None:
        """Move on by the events `first`…`version` (one event when `first` is None) merged:
        `joined` and `left` sorted, so each socket costs two binary searches however many
        events there were. True if the position changed, False if not, None when an event was
        missed in between (read the place again)."""
        if version <= self.version:
            return False  # already counted in what was read
        if (first if first is not None else version) != self.version + 1:
            return None
        before = self.position
        self.position += bisect.bisect_left(joined, self.score) - bisect.bisect_left(left, self.score)
        self.position = max(1, self.position)
        self.version = version
        return self.position != before


class TransferResult(BaseModel):
    status: Literal[
        "assigned",
        "queued",
        "offline",
        "already_queued",
        "already_assigned",
        "closed",
        "missing",
        "no_agents",
        "not_yours",
        "limited",
    ]
    agent: str | None = None
    group: str | None = None
    position: int | None = None


class CloseResult(BaseModel):
    status: Literal["closed", "already_closed", "missing", "not_yours"]
    prev: str | None = None
    agent: str | None = None


class AgentSlots(BaseModel):
    status: Literal["online", "away", "offline", "missing"]
    capacity: int = 0
    active: int = 0


class Queue:
    """Assignment is atomic in Redis: never two agents for one shopper, never an agent above
    capacity, FIFO within a group (priority and requeued shoppers first), also when several
    kefu instances race. Every change is published on the shop's event channel."""

    def __init__(self, redis: Redis, scripts: Scripts, shop: str) -> None:
        self.redis = redis
        self.scripts = scripts
        self.keys = ShopKeys(shop)

    async def request(
        self, conversation_id: str, group: str, *, priority: int = 0, client: str = "", places: int = 0
    ) -> TransferResult:
        """The shopper asks for a human: assigned at once, queued, or told the shop is offline;
        "limited" when `client` already holds `places` places in the shop's queues."""
        out = await self.scripts.json(
            "transfer",
            self.keys.queues,
            self.keys.prefix,
            conversation_id,
            group,
            priority,
            client,
            places,
        )
        return TransferResult.model_validate(out)

    async def close(self, conversation_id: str, by: str, *, owner: str | None = None) -> CloseResult:
        """Close; with `owner`, only if that agent holds the conversation. Frees the slot."""
        out = await self.scripts.json(
            "release", self.keys.queues, self.keys.prefix, conversation_id, by, owner or ""
        )
        return CloseResult.model_validate(out)

    async def set_agent(
        self, agent_id: str, *, status: AgentStatus | None = None, capacity: int | None = None
    ) -> AgentSlots:
        """Change status and/or capacity; a slot that opens is filled from the queue at once."""
        out = await self.scripts.json(
            "agent_status",
            self.keys.queues,
            self.keys.prefix,
            agent_id,
            status or "",
            "" if capacity is None else capacity,
        )
        return AgentSlots.model_validate(out)

    async def regroup(self, conversation_id: str, agent_id: str, group: str) -> TransferResult:
        """The agent hands the conversation to another skill group; it goes to that queue's head."""
        out = await self.scripts.json(
            "regroup", self.keys.queues, self.keys.prefix, conversation_id, agent_id, group
        )
        return TransferResult.model_validate(out)

    async def dequeue(self, conversation_id: str) -> str:
        """The shopper stops waiting: back with the bot. "left", or the state it was in instead."""
        out = await self.scripts.json("dequeue", self.keys.queues, self.keys.prefix, conversation_id)
        return str(out["status"])

    async def leave(self, agent_id: str, reason: str) -> int:
        """The agent left for good (logout, disabled, password reset, deleted): its chats go
        back to the head of the queue now, it goes offline, and every instance closes its
        sockets (a `signed_out` event). Returns how many chats went back."""
        out = await self.scripts.json("leave", self.keys.queues, self.keys.prefix, agent_id, reason)
        return int(out["requeued"])

    async def janitor(self, *, retention_s: float = 0) -> dict[str, int]:
        """Requeue conversations of agents whose presence expired; drop shoppers who left or
        waited past the shop's queue timeout; close idle chats; forget what is past retention."""
        return await self.scripts.json("janitor", self.keys.queues, self.keys.prefix, int(retention_s * 1000))

    async def held(self, agent_id: str) -> set[str]:
        """The conversations an agent holds now."""
        return {str(c) for c in await self.redis.smembers(self.keys.agent_conversations(agent_id))}

    async def anyone_online(self) -> bool:
        """Whether some agent of the shop is online (takes new chats)."""
        return bool(await self.redis.scard(self.keys.agents_online))

    async def agent_status(self, agent_id: str) -> str:
        return str(await self.redis.hget(self.keys.agent(agent_id), "status") or "offline")

    async def agent_name(self, agent_id: str) -> str | None:
        name = await self.redis.hget(self.keys.agent(agent_id), "name")
        return None if name is None else str(name)

    async def place(self, conversation_id: str, group: str) -> Place | None:
        """The conversation's place in its group's queue, read at one version (None: it is
        not waiting there)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrank(self.keys.queue(group), conversation_id)
            pipe.zscore(self.keys.queue(group), conversation_id)
            pipe.hget(self.keys.queue_versions, group)
            rank, score, version = await pipe.execute()
        if rank is None or score is None:
            return None
        return Place(group, int(rank) + 1, float(score), int(version or 0))

    async def versions(self, groups: list[str]) -> list[int]:
        """The queue version of each group (one round trip)."""
        if not groups:
            return []
        return [int(v or 0) for v in await self.redis.hmget(self.keys.queue_versions, groups)]

    async def waiting(self) -> dict[str, int]:
        """How many shoppers wait, per group."""
        groups = sorted(str(g) for g in await self.redis.smembers(self.keys.queues))
        if not groups:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zcard(self.keys.queue(group))
            counts = await pipe.execute()
        return {g: int(n) for g, n in zip(groups, counts, strict=True) if n}

    async def wait_basis(self, group: str) -> tuple[float, int]:
        """What a wait estimate is made of: the recent handling time of one conversation and
        the slots of the group's online agents. Estimate: position × time ÷ slots."""
        handled = [float(x) for x in await self.redis.lrange(self.keys.handle_times(group), 0, 49)]
        per_conversation = statistics.median(handled) if handled else 180.0
        slots = 0
        for agent_id in await self.redis.smembers(self.keys.group_agents(group)):
            status, capacity = await self.redis.hmget(self.keys.agent(str(agent_id)), "status", "capacity")
            if status == "online":
                slots += int(capacity or 0)
        return per_conversation, slots
