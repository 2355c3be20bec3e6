"""Reconnects racing with traffic, as after every fault: a failover moves dozens of sockets at
once while the other side keeps writing. These storms make the race deterministic enough to
check the protocol's promises on a new socket:

- shopper: `session` is always first; a resume with `last_id` shows each line exactly once;
- agent: `hello` is the first frame, and nothing the agent is shown before it is missing from it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.chaos.cluster import Cluster
from tests.chaos.sockets import (
    Sock,
    agent_socket,
    burst,
    first,
    id_key,
    lines,
    login,
    next_id,
    shopper_socket,
    ticket,
)

pytestmark = pytest.mark.slow


@pytest.mark.timeout(60)
async def test_shopper_resume_storm_session_first_each_line_once(tmp_path: Path) -> None:
    """One shopper with an agent resumes (token + last_id) over and over while four sockets of
    the agent write as fast as the rate limit lets them."""
    cluster = Cluster(tmp_path, instances=1)
    await cluster.start()
    try:
        await cluster.setup_shop(["storm"], capacity=1)
        base = cluster.instances[0].base
        async with aiohttp.ClientSession() as http:
            token = await login(http, base, "storm")
            agents = [await agent_socket(http, base, token) for _ in range(4)]
            await agents[0].say({"type": "status", "status": "online"})
            await agents[0].until("status")
            shopper = await shopper_socket(http, base)
            session = await shopper.until("session")
            await shopper.until("bot")
            await shopper.say({"type": "transfer"})
            await shopper.until("agent_joined")
            assigned = await agents[0].until("assigned")
            conv = assigned["conversation"]["id"]
            await shopper.drain(0.2)
            sockets: list[Sock] = [shopper]
            for round_ in range(2):
                writers = [
                    asyncio.create_task(
                        burst(
                            a,
                            [
                                {
                                    "type": "message",
                                    "conversation_id": conv,
                                    "text": f"r{round_} a{n} #{i}",
                                    "client_msg_id": f"st{next_id()}",
                                }
                                for i in range(16)
                            ],
                            0.003,
                        )
                    )
                    for n, a in enumerate(agents)
                ]
                while not all(w.done() for w in writers):
                    await sockets[-1].close()
                    last_id = max((f["id"] for s in sockets for f in lines(s.frames)), key=id_key)
                    nxt = await shopper_socket(http, base, token=session["token"], last_id=last_id)
                    sockets.append(nxt)
                    await nxt.until("history")
                    await nxt.drain(0.004)
                await asyncio.gather(*writers)
                await asyncio.sleep(4.2)  # the agents' rate buckets refill (burst 20, 5/s)
            await sockets[-1].drain(1.0)
            for a in agents:
                await a.close()
            for s in sockets:
                await s.close()
    finally:
        await cluster.stop()
    not_first = [
        f"resume {n}: {[f['type'] for f in s.frames[: s.frames.index(first(s, 'session')) + 1]]}"
        for n, s in enumerate(sockets)
        if s.frames and s.frames[0]["type"] != "session"
    ]
    seen = [(n, line) for n, s in enumerate(sockets) for line in lines(s.frames)]
    counts = Counter(line["id"] for _, line in seen)
    twice = {
        i: [
            f"resume {n} {'history' if 'from' in line else 'live'} {line.get('text', '')!r}"
            for n, line in seen
            if line["id"] == i
        ]
        for i, c in counts.items()
        if c > 1
    }
    summary = (
        f"{len(sockets) - 1} resumes, {len(counts)} lines, {len(twice)} shown more than once, "
        f"{len(not_first)} sockets where `session` was not first"
    )
    print(summary)
    assert (not_first, twice) == ([], {}), (
        f"{summary}\nnot first: {not_first[:5]}\ntwice: {list(twice.items())[:5]}"
    )


@pytest.mark.timeout(60)
async def test_agent_reconnect_storm_hello_first(tmp_path: Path) -> None:
    """An agent holding six busy chats opens fresh sockets over and over (as after a failover)
    while the six shoppers write as fast as the rate limit lets them."""
    cluster = Cluster(tmp_path, instances=1)
    await cluster.start()
    try:
        await cluster.setup_shop(["storm"], capacity=6)
        base = cluster.instances[0].base
        async with aiohttp.ClientSession() as http:
            token = await login(http, base, "storm")
            agent = await agent_socket(http, base, token)
            await agent.say({"type": "status", "status": "online"})
            await agent.until("status")
            shoppers = []
            for _ in range(6):
                s = await shopper_socket(http, base)
                await s.until("session")
                await s.say({"type": "transfer"})
                await s.until("agent_joined")
                shoppers.append(s)
            sockets: list[Sock] = [agent]
            for round_ in range(3):
                # Lines and typing, alternating: 18 frames each, within the burst of 20.
                writers = [
                    asyncio.create_task(
                        burst(
                            s,
                            [
                                {
                                    "type": "message",
                                    "text": f"r{round_} s{n} #{i}",
                                    "client_msg_id": next_id(),
                                }
                                if i % 2 == 0
                                else {"type": "typing"}
                                for i in range(18)
                            ],
                            0.02,
                        )
                    )
                    for n, s in enumerate(shoppers)
                ]
                while not all(w.done() for w in writers):
                    await sockets[-1].close()
                    nxt = Sock(
                        await http.ws_connect(base + "/ws/agent", params=await ticket(http, base, token))
                    )
                    sockets.append(nxt)
                    await nxt.until("hello")
                    await nxt.drain(0.004)
                await asyncio.gather(*writers)
                await asyncio.sleep(4.2)  # the shoppers' rate buckets refill
            for s in [*shoppers, *sockets]:
                await s.close()
    finally:
        await cluster.stop()
    before_hello, hidden = [], []
    for n, sock in enumerate(sockets[1:], 1):
        hello_at = sock.frames.index(first(sock, "hello"))
        early = sock.frames[:hello_at]
        if early:
            before_hello.append(f"socket {n}: {[f['type'] for f in early]}")
        in_hello = {line["id"] for c in sock.frames[hello_at]["conversations"] for line in c["transcript"]}
        # A console that opens fresh drops `message` frames of chats it does not know yet:
        # a line shown only before `hello`, and missing from it, is a line that agent never sees.
        hidden += [
            f"socket {n}: {f['id']} {f['text']!r}"
            for f in early
            if f["type"] == "message" and f["id"] not in in_hello
        ]
    summary = (
        f"{len(sockets) - 1} reconnects, {len(before_hello)} with frames before hello, "
        f"{len(hidden)} shopper lines shown only before hello and missing from it"
    )
    print(summary)
    assert (before_hello, hidden) == ([], []), (
        f"{summary}\nbefore hello: {before_hello[:6]}\nhidden: {hidden[:6]}"
    )
