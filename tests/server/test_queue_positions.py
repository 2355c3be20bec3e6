"""Waiting shoppers' positions move with `queue` events, worked out by each socket from its own
score: an assignment costs Redis nothing per waiting shopper, a burst of changes is one frame
per shopper, and the positions are right — priorities, requeues to the head and shoppers
leaving from the middle included."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.redisserver import RedisServer
from kefu.server.app import create_app
from tests.server.conftest import Socket, add_agent, agent, make_settings, shopper

Client = TestClient[web.Request, web.Application]


async def queued_shoppers(client: Client, n: int) -> list[Socket]:
    out = []
    for _ in range(n):
        s = await shopper(client)
        await s.expect("session")
        await s.send({"type": "transfer"})
        await s.expect("queued")
        out.append(s)
    return out


def last_position(s: Socket) -> int:
    return [f for f in s.frames if f["type"] == "queued"][-1]["position"]


# What a new connection of the pool (or the test itself) costs, not what the event does.
OVERHEAD = ("cmdstat_info", "cmdstat_hello", "cmdstat_ping", "cmdstat_script|load", "cmdstat_client|")


async def commands(redis: Redis) -> int:
    stats: dict[str, Any] = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if not k.startswith(OVERHEAD))


async def settle(sockets: list[Socket], seconds: float = 1.6) -> None:
    """Let the coalesced position frames (one a second) arrive."""
    await asyncio.gather(*(s.silent(seconds) for s in sockets))


@pytest.fixture
async def quiet_client(aiohttp_client: Any, redis_server: RedisServer, shop: str) -> Client:
    """A server whose periodic loops (presence, janitor, backstop) wait 30 s: what Redis does
    in the test is what the events cost."""
    settings = make_settings(redis_server, presence_interval_s=30, janitor_interval_s=30, catch_up_s=30)
    settings = settings.model_copy(update={"agent_grace_s": 60, "shopper_grace_s": 60})
    return cast(Client, await aiohttp_client(create_app(settings)))


async def test_an_assignment_costs_redis_nothing_per_waiting_shopper(
    quiet_client: Client, redis: Redis
) -> None:
    client = quiet_client
    await add_agent(redis, "alice", capacity=1)
    desk = await agent(client, "alice")
    first = await shopper(client)
    await first.expect("session")
    await first.send({"type": "transfer"})
    conversation = (await desk.expect("assigned"))["conversation"]["id"]
    waiting = await queued_shoppers(client, 40)
    assert [last_position(s) for s in waiting] == list(range(1, 41))
    await settle(waiting, 2.5)  # quiet: the backstop runs once or twice meanwhile

    before = await commands(redis)
    await desk.send({"type": "close", "conversation_id": conversation})
    await waiting[0].expect("agent_joined")
    await settle(waiting[1:])
    spent = await commands(redis) - before
    # The close script, the assignment, the agent's and the first shopper's catch-ups: a fixed
    # ≈ 70 commands (most inside the scripts, a few more when a catch-up lands in the window),
    # not several per waiting shopper (before: 345 here, ≈ 7 per waiting shopper).
    assert spent < 3 * len(waiting), spent
    assert [last_position(s) for s in waiting[1:]] == list(range(1, 40))
    # One position frame each for the move, however it was coalesced.
    for s in waiting[1:]:
        assert len([f for f in s.frames if f["type"] == "queued"]) == 2


async def test_a_burst_of_changes_is_one_frame_each_and_positions_stay_right(
    client: Client, redis: Redis
) -> None:
    await add_agent(redis, "alice", capacity=1)
    await add_agent(redis, "bob", capacity=0)  # at the desk, full: the queue stays open
    desk = await agent(client, "alice")
    await agent(client, "bob")
    first = await shopper(client)
    await first.expect("session")
    await first.send({"type": "transfer"})
    await desk.expect("assigned")
    waiting = await queued_shoppers(client, 12)
    await settle(waiting)
    frames_before = [len(s.frames) for s in waiting]
    # Five leave from the middle at once (cancel), one at the head.
    leaving = [waiting[i] for i in (0, 3, 4, 7, 9)]
    await asyncio.gather(*(s.send({"type": "close"}) for s in leaving))
    staying = [s for s in waiting if s not in leaving]
    await settle(staying)
    assert [last_position(s) for s in staying] == list(range(1, len(staying) + 1))
    for s, before in zip(waiting, frames_before, strict=True):
        if s in staying:
            moved = [f for f in s.frames[before:] if f["type"] == "queued"]
            assert len(moved) <= 2  # coalesced: at most one frame per second each

    # The agent vanishes: its chat goes back to the head; everyone waiting moves down by one.
    await desk.close()
    await first.expect("queued", timeout=8)
    await settle(staying, 2.5)
    assert [last_position(s) for s in staying] == list(range(2, len(staying) + 2))
