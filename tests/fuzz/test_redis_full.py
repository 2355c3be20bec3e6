"""Redis full (maxmemory reached, noeviction): /healthz says so, a new shopper is told at once,
a live chat is never torn down because presence writes failed, and everything works again
once memory frees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.server.app import create_app
from kefu.settings import Settings
from tests.server.conftest import SHOP, Socket, add_agent, agent, session_protocols, shopper

Client = TestClient[web.Request, web.Application]
Full = Callable[[bool], Awaitable[None]]


@pytest.fixture
async def full(redis: Redis) -> AsyncIterator[Full]:
    """`await full(True)`: every write that needs memory is refused, as on a full Redis
    (maxmemory below what is used, noeviction); `await full(False)` frees it again."""

    async def set_full(on: bool) -> None:
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", "1" if on else "0")

    yield set_full
    await redis.config_set("maxmemory", "0")


async def chat(client: Client, redis: Redis) -> tuple[Socket, Socket, dict[str, str]]:
    """A shopper talking with agent alice."""
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s = await shopper(client)
    session = await s.expect("session")
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    await alice.expect("assigned")
    return s, alice, session


async def test_a_full_redis_shows_in_health_and_new_shoppers_are_told_at_once(
    client: Client, redis: Redis, full: Full
) -> None:
    assert (await (await client.get("/healthz")).json())["redis"] == "ok"
    await full(True)
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["redis"] == "full"

    ws = await client.ws_connect("/ws/shopper", params={"shop": SHOP}, protocols=session_protocols(None))
    first = await ws.receive(timeout=5)
    assert first.type == WSMsgType.TEXT
    frame = first.json()
    assert frame["type"] == "error" and frame["code"] == "unavailable"
    assert "full" in frame["message"]
    closing = await ws.receive(timeout=5)
    assert closing.type == WSMsgType.CLOSE and closing.data == WSCloseCode.TRY_AGAIN_LATER

    await full(False)
    assert (await client.get("/healthz")).status == 200
    s = await shopper(client)
    await s.expect("session")
    await s.expect("bot", decision="greeting")


async def test_a_live_chat_survives_a_full_redis(
    client: Client, redis: Redis, full: Full, aiohttp_client: Any, settings: Settings
) -> None:
    # A second instance holding no socket: its janitor must wait as well.
    await aiohttp_client(create_app(settings))
    s, alice, _ = await chat(client, redis)
    await full(True)
    # Longer than both grace periods (1 s in tests): every presence key has expired meanwhile.
    await asyncio.sleep(2.5)
    health = await (await client.get("/healthz")).json()
    assert health["loops"]["janitor"]["paused"] == "presence writes failing"
    await full(False)
    await asyncio.sleep(2.5)  # the janitor runs again (after one more grace period)

    shopper_saw, agent_saw = await s.silent(0.1), await alice.silent(0.1)
    torn = [
        f
        for f in shopper_saw
        if f["type"] in ("closed", "queued") or f.get("event") in ("requeued", "left_queue")
    ]
    assert not torn, shopper_saw
    assert not [f for f in agent_saw if f["type"] in ("unassigned", "closed")], agent_saw
    # Still the same chat, both ways.
    await s.say("还在吗")
    got = await alice.expect("message", timeout=5)
    assert got["text"] == "还在吗"
    assert (await (await client.get("/healthz")).json())["loops"]["janitor"].get("paused") is None
