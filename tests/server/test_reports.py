"""Metrics, statistics and quality flags as a scripted conversation runs (real server, Redis)."""

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from kefu.store.shops import ShopConfig, ShopStore
from tests.server.conftest import METRICS_TOKEN, SHOP, add_agent, agent, login, shopper

Client = TestClient[web.Request, web.Application]


async def metrics(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_as_a_conversation_runs(client: Client, redis: Redis) -> None:
    before = await metrics(client)
    assert value(before, "kefu_sockets_open", role="shopper") == 0
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s = await shopper(client)
    await s.expect("bot", decision="greeting")
    await s.say("退货运费谁出")
    await s.expect("bot", decision="answer")
    m = await metrics(client)
    assert value(m, "kefu_sockets_open", role="shopper") == 1
    assert value(m, "kefu_sockets_open", role="agent") == 1
    assert value(m, "kefu_messages_received_total", shop=SHOP, sender="shopper") == 1
    assert value(m, "kefu_messages_delivered_total", shop=SHOP, sender="bot") == 2
    assert value(m, "kefu_bot_decisions_total", shop=SHOP, decision="answer") == 1
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await alice.send({"type": "message", "conversation_id": conv, "text": "您好", "client_msg_id": "x1"})
    await s.expect("agent")
    await alice.send({"type": "close", "conversation_id": conv})
    await s.expect("closed")
    await s.send({"type": "rate", "score": 5})
    await s.expect("bot", decision="notice")
    m = await metrics(client)
    assert value(m, "kefu_transfers_total", shop=SHOP, result="assigned") == 1
    assert value(m, "kefu_messages_received_total", shop=SHOP, sender="agent") == 1
    assert value(m, "kefu_messages_delivered_total", shop=SHOP, sender="agent") == 1
    assert value(m, "kefu_queue_wait_seconds_count", shop=SHOP, group="general") == 1
    assert value(m, "kefu_assignment_latency_seconds_count", shop=SHOP) == 1
    assert value(m, "kefu_agent_first_response_seconds_count", shop=SHOP) == 1
    assert value(m, "kefu_conversation_duration_seconds_count", shop=SHOP) == 1
    assert value(m, "kefu_ratings_total", shop=SHOP, score="5") == 1
    # Nobody online: an offline notice.
    await alice.send({"type": "status", "status": "offline"})
    await alice.expect("status")
    s2 = await shopper(client)
    await s2.expect("bot", decision="greeting")
    await s2.send({"type": "transfer"})
    await s2.expect("offline")
    m = await metrics(client)
    assert value(m, "kefu_offline_notices_total", shop=SHOP) == 1
    assert value(m, "kefu_transfers_total", shop=SHOP, result="offline") == 1
    # No label ever carries a session or conversation id.
    assert all(k not in dict(labels) for (_, labels) in m for k in ("session", "conversation", "session_id"))


async def test_a_closed_conversation_is_inspected_and_counted(client: Client, redis: Redis) -> None:
    await ShopStore(redis, SHOP).save_config(ShopConfig(qa={"slow_first_response_s": 1}))  # type: ignore[arg-type]
    await add_agent(redis, "alice")
    await add_agent(redis, "boss", role="admin")
    alice = await agent(client, "alice")
    s = await shopper(client)
    await s.expect("bot", decision="greeting")
    await s.say("转人工")
    await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await asyncio.sleep(1.3)  # too slow for the shop's 1 s rule
    await alice.send({"type": "message", "conversation_id": conv, "text": "您好", "client_msg_id": "x1"})
    await alice.send({"type": "close", "conversation_id": conv})
    await s.expect("closed")
    headers = {"Authorization": f"Bearer {await login(client, 'boss')}"}
    for _ in range(40):  # the QA worker picks it up within about a second
        flags = (await (await client.get("/api/admin/qa", headers=headers)).json())["items"]
        if flags:
            break
        await asyncio.sleep(0.1)
    (flag,) = flags
    assert flag["rule"] == "slow_first_response" and flag["conversation_id"] == conv
    assert flag["agent_name"] == "Alice" and len(flag["evidence"]) == 2
    only = await (await client.get("/api/admin/qa?rule=slow_reply", headers=headers)).json()
    assert only["items"] == []
    stats = await (await client.get("/api/admin/stats", headers=headers)).json()
    assert stats["conversations"] == 1 and stats["transfer_rate"] == 1.0
    assert stats["agents"][0]["name"] == "Alice" and stats["first_response_s"]["count"] == 1
    assert (await client.get("/api/admin/stats?since=2026-13-01", headers=headers)).status == 400
    rerun = await (await client.post("/api/admin/qa/run", headers=headers)).json()
    assert rerun == {"conversations_flagged": 1, "flags": 1}
    assert json.dumps(stats)
