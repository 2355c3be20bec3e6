"""Short Redis outages seen from one shopper and one agent in a chat: a socket must outlive a
stall or a restart of Redis (frames wait, then get their answers), not be closed by the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.chaos.cluster import Cluster
from tests.chaos.sockets import Sock, agent_socket, login, next_id, shopper_socket

pytestmark = pytest.mark.slow


@dataclass
class Chat:
    cluster: Cluster
    shopper: Sock
    agent: Sock
    conv: str

    async def both_say(self, label: str) -> None:
        await self.shopper.say({"type": "message", "text": f"shopper {label}", "client_msg_id": next_id()})
        await self.agent.say(
            {
                "type": "message",
                "conversation_id": self.conv,
                "text": f"agent {label}",
                "client_msg_id": next_id(),
            }
        )

    async def acks(self, timeout: float) -> dict[str, str]:
        """'ack', or how the socket ended, for each side."""
        out = {}
        for name, sock in (("shopper", self.shopper), ("agent", self.agent)):
            try:
                await sock.until("ack", timeout=timeout)
                out[name] = "ack"
            except (ConnectionError, TimeoutError) as exc:
                out[name] = f"{type(exc).__name__}: {exc}"
        return out

    def failures(self) -> list[str]:
        return [
            line[:400]
            for line in self.cluster.instances[0].log_path.read_text().splitlines()
            if '"request_failed"' in line
        ]


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    cluster = Cluster(tmp_path)
    await cluster.start()
    try:
        await cluster.setup_shop(["blip"], capacity=1)
        base = cluster.instances[0].base
        async with aiohttp.ClientSession() as http:
            agent = await agent_socket(http, base, await login(http, base, "blip"))
            await agent.say({"type": "status", "status": "online"})
            await agent.until("status")
            shopper = await shopper_socket(http, base)
            await shopper.until("session")
            await shopper.say({"type": "transfer"})
            await shopper.until("agent_joined")
            conv = (await agent.until("assigned"))["conversation"]["id"]
            yield Chat(cluster, shopper, agent, conv)
            await shopper.close()
            await agent.close()
    finally:
        await cluster.stop()


@pytest.mark.timeout(60)
async def test_redis_pause_5s_delays_but_keeps_sockets(chat: Chat) -> None:
    await chat.cluster.pause_redis(5000)
    await chat.both_say("during the pause")
    outcome = await chat.acks(timeout=15)
    assert outcome == {"shopper": "ack", "agent": "ack"}, f"{outcome}; server: {chat.failures()}"


@pytest.mark.timeout(60)
async def test_redis_restart_then_first_frame_is_answered(chat: Chat) -> None:
    await asyncio.sleep(1.0)  # presence, janitor and events have used the pool
    await chat.cluster.kill_redis()
    await chat.cluster.start_redis()
    await asyncio.sleep(0.05)  # Redis answers PING: it is back
    await chat.both_say("after the restart")
    outcome = await chat.acks(timeout=10)
    assert outcome == {"shopper": "ack", "agent": "ack"}, f"{outcome}; server: {chat.failures()}"
