"""The numbered transfer semantics of the issue, through real websockets and a real Redis."""

import asyncio
import time

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from tests.server.conftest import SHOP, Socket, add_agent, agent, login, shopper, ticket

# The chat and queue flows run on one Redis and again on a three-master Redis Cluster.
REDIS_BACKENDS = ("single", "cluster")

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)


async def start(client: Client) -> Socket:
    s = await shopper(client)
    await s.expect("session")
    await s.expect("bot", decision="greeting")
    return s


async def test_every_bot_frame_offers_a_human_while_with_the_bot(client: Client) -> None:
    s = await start(client)
    for text in ["什么时候发货", "你好", "今天天气怎么样", "快递"]:
        await s.say(text)
        frame = await s.expect("bot")
        assert frame["actions"] == [{"type": "transfer", "label": "转人工"}], frame


async def test_no_agent_online_gives_the_offline_notice_and_a_leave_message(
    client: Client, redis: Redis
) -> None:
    await add_agent(redis, "away")
    await agent(client, "away", online=False)  # connected but offline; then away
    away = await agent(client, "away", online=False)
    await away.send({"type": "status", "status": "away"})
    await away.expect("status", status="away")
    s = await start(client)
    await s.send({"type": "transfer"})
    offline = await s.expect("offline")
    assert offline["leave_message"] is True and offline["text"]
    assert await redis.smembers(KEYS.queues) == set()
    await s.send({"type": "leave_message", "text": "请尽快联系我，订单有问题", "contact": "13800000000"})
    notice = await s.expect("bot", decision="notice")
    assert "留言" in notice["text"]
    tickets = await redis.xrange(KEYS.tickets)
    assert len(tickets) == 1 and tickets[0][1]["contact"] == "13800000000"
    # The conversation stays with the bot.
    await s.say("什么时候发货")
    assert (await s.expect("bot"))["decision"] == "answer"


async def test_typed_request_transfers_and_questions_about_humans_do_not(
    client: Client, redis: Redis
) -> None:
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s = await start(client)
    await s.say("人工客服几点上班")
    assert (await s.expect("bot"))["faq_id"] == "service-hours"
    await s.say("我要转人工")
    await s.expect("agent_joined")
    assigned = await alice.expect("assigned")
    froms = [m["from"] for m in assigned["conversation"]["transcript"]]
    assert froms[:3] == ["bot", "shopper", "bot"]  # the bot transcript comes with the chat


async def test_busy_agents_queue_shoppers_with_live_positions(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=1)
    alice = await agent(client, "alice")
    first, second, third = await start(client), await start(client), await start(client)
    await first.send({"type": "transfer"})
    await first.expect("agent_joined")
    conv1 = (await alice.expect("assigned"))["conversation"]["id"]
    await second.send({"type": "transfer"})
    queued = await second.expect("queued")
    assert queued["position"] == 1 and queued["group"] == "general" and queued["estimated_wait_s"] > 0
    await third.send({"type": "transfer"})
    assert (await third.expect("queued"))["position"] == 2
    queue_frame = await alice.expect("queue", waiting=2)
    assert queue_frame["groups"] == {"general": 2}
    # Asking again never queues twice; the shopper is told where they are.
    await third.send({"type": "transfer"})
    assert (await third.expect("queued"))["position"] == 2
    assert await redis.zcard(KEYS.queue("general")) == 2
    # The slot frees: the oldest waiting shopper gets the agent, the next moves up, at once.
    started = time.monotonic()
    await alice.send({"type": "close", "conversation_id": conv1})
    await alice.expect("conversation_closed", conversation_id=conv1)
    closed = await first.expect("closed")
    assert closed["by"] == "agent"
    await second.expect("agent_joined")
    assert time.monotonic() - started < 2
    assert (await third.expect("queued"))["position"] == 1
    await alice.expect("assigned")
    # The first shopper rates the closed conversation.
    await first.send({"type": "rate", "score": 5, "comment": "很快"})
    await first.expect("bot", decision="notice")
    conv = await redis.hgetall(KEYS.conversation(conv1))
    assert conv["rating"] == "5" and conv["closed_by"] == "agent"


async def test_capacity_change_and_agent_coming_online_serve_the_queue(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=1)
    await add_agent(redis, "bob", capacity=1)
    alice = await agent(client, "alice")
    bob = await agent(client, "bob", online=False)
    a, b = await start(client), await start(client)
    await a.send({"type": "transfer"})
    await a.expect("agent_joined")
    await b.send({"type": "transfer"})
    await b.expect("queued")
    await bob.send({"type": "status", "status": "online"})
    joined = await b.expect("agent_joined")
    assert joined["agent"]["name"] == "Bob"
    await bob.expect("assigned")
    await alice.expect("assigned")


async def test_agent_sees_transcript_and_they_chat_both_ways(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=2)
    alice = await agent(client, "alice")
    s = await start(client)
    await s.say("退货运费谁出")
    await s.expect("bot")
    await s.send({"type": "transfer"})
    conversation = (await alice.expect("assigned"))["conversation"]
    bot_line = next(m for m in conversation["transcript"] if m["from"] == "bot" and m.get("faq_id"))
    assert bot_line["faq_id"] == "return-shipping-fee"
    conv = conversation["id"]
    await s.send({"type": "typing"})
    await alice.expect("typing", conversation_id=conv)
    await alice.send({"type": "typing", "conversation_id": conv})
    await s.expect("typing", **{"from": "agent"})
    for i in range(5):
        await alice.send(
            {"type": "message", "conversation_id": conv, "text": f"第{i}条", "client_msg_id": f"x{i}"}
        )
    texts = [(await s.expect("agent"))["text"] for _ in range(5)]
    assert texts == [f"第{i}条" for i in range(5)]
    await s.send({"type": "close"})
    await alice.expect("conversation_closed", conversation_id=conv, by="shopper")
    await s.expect("closed", by="shopper")


async def test_new_message_after_close_starts_a_new_bot_conversation(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s = await start(client)
    await s.send({"type": "transfer"})
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await alice.send({"type": "close", "conversation_id": conv})
    await s.expect("closed")
    await s.say("什么时候发货")
    answer = await s.expect("bot")
    assert answer["decision"] == "answer" and answer["actions"]


async def test_auto_offer_after_consecutive_misses(client: Client) -> None:
    s = await start(client)
    await s.say("推荐一部电影")
    assert (await s.expect("bot"))["decision"] == "fallback"
    await s.say("你们老板喜欢什么颜色")
    assert (await s.expect("bot"))["decision"] in ("fallback", "suggest")
    offer = await s.expect("bot", decision="notice")
    assert "人工" in offer["text"] and offer["actions"][0]["type"] == "transfer"


async def test_reload_while_queued_keeps_the_place(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=1)
    await agent(client, "alice")
    first, second = await start(client), await start(client)
    await first.send({"type": "transfer"})
    await first.expect("agent_joined")
    token = (second.frames[0])["token"]
    await second.send({"type": "transfer"})
    await second.expect("queued", position=1)
    await second.close()
    await asyncio.sleep(0.3)  # shorter than the 1 s grace in the test settings
    again = await shopper(client, token=token)
    assert (await again.expect("session"))["resumed"] is True
    history = await again.expect("history")
    assert any(m.get("event") == "queued" for m in history["messages"])
    assert (await again.expect("queued"))["position"] == 1


async def test_shopper_gone_past_the_grace_leaves_the_queue(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=1)
    await agent(client, "alice")
    first, second, third = await start(client), await start(client), await start(client)
    await first.send({"type": "transfer"})
    await first.expect("agent_joined")
    await second.send({"type": "transfer"})
    await second.expect("queued", position=1)
    await third.send({"type": "transfer"})
    await third.expect("queued", position=2)
    await second.close()
    await third.expect("queued", position=1, timeout=5)
    assert await redis.zcard(KEYS.queue("general")) == 1


async def test_vanished_agent_hands_chats_back_to_the_head_of_the_queue(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=1)
    await add_agent(redis, "bob", capacity=1)
    alice = await agent(client, "alice")
    s = await start(client)
    waiting = await start(client)
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    await alice.expect("assigned")
    bob = await agent(client, "bob", online=False)
    await alice.close()  # the agent's browser dies
    await bob.send({"type": "status", "status": "online"})
    await waiting.send({"type": "transfer"})
    await waiting.expect("agent_joined")  # bob was free
    await bob.expect("assigned")
    # After the grace period alice's shopper is back at the head; a slot opens for them first.
    notice = await s.expect("bot", decision="notice", timeout=5)
    assert notice["text"]
    assert (await s.expect("queued"))["position"] == 1
    conv = (bob.frames[-1])["conversation"]["id"] if bob.frames[-1]["type"] == "assigned" else None
    assert conv is not None
    await bob.send({"type": "close", "conversation_id": conv})
    joined = await s.expect("agent_joined")
    assert joined["agent"]["name"] == "Bob"


async def test_agent_transfers_to_another_group_with_the_transcript(client: Client, redis: Redis) -> None:
    from kefu.store.shops import ShopConfig, ShopStore

    await ShopStore(redis, SHOP).save_config(ShopConfig(groups=["general", "billing"]))
    await add_agent(redis, "alice", groups=["general"])
    await add_agent(redis, "carol", groups=["billing"])
    alice = await agent(client, "alice")
    carol = await agent(client, "carol")
    s = await start(client)
    await s.say("发票怎么开")
    await s.expect("bot")
    await s.send({"type": "transfer"})
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await alice.send({"type": "transfer", "conversation_id": conv, "group": "nowhere"})
    assert (await alice.expect("error"))["code"] == "unknown_group"
    await alice.send({"type": "transfer", "conversation_id": conv, "group": "billing"})
    await alice.expect("transferred", conversation_id=conv)
    await alice.expect("conversation_closed", conversation_id=conv)
    handed = await carol.expect("assigned")
    assert handed["conversation"]["id"] == conv
    assert any(m["text"] == "发票怎么开" for m in handed["conversation"]["transcript"])
    assert (await s.expect("agent_joined"))["agent"]["name"] == "Alice"
    assert (await s.expect("agent_joined"))["agent"]["name"] == "Carol"


async def test_an_agent_whose_socket_dropped_gets_no_new_chats(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice", capacity=3)
    alice = await agent(client, "alice")
    await alice.close()  # still "online" for the grace period, but no socket
    await asyncio.sleep(0.1)
    s = await start(client)
    await s.send({"type": "transfer"})
    assert (await s.expect("queued"))["position"] == 1  # queued, not given to a closed browser
    # Reconnects, still online: served at once.
    back = Socket(
        await client.ws_connect("/ws/agent", params=await ticket(client, await login(client, "alice")))
    )
    hello = await back.expect("hello")
    joined = await s.expect("agent_joined")
    assert joined["agent"]["name"] == "Alice"
    # The chat reaches the console in `hello` or, if assigned just after it, as `assigned`:
    # which one depends on whether the socket's presence or `hello` came first.
    if not hello["conversations"]:
        await back.expect("assigned")
    await back.close()


async def test_a_held_chat_whose_record_expired_gives_its_slot_back(client: Client, redis: Redis) -> None:
    """With no idle close, a chat an agent still holds when its retention runs out left a slot
    taken forever: nobody could see it to close it. The agent's next socket lets go of it."""
    await add_agent(redis, "alice", capacity=1)
    alice = await agent(client, "alice")
    first, second = await start(client), await start(client)
    await first.send({"type": "transfer"})
    held = (await alice.expect("assigned"))["conversation"]["id"]
    await second.send({"type": "transfer"})
    await second.expect("queued")
    await alice.ws.close()
    await redis.delete(KEYS.conversation(held))  # its retention ran out
    again = await agent(client, "alice")
    assert held not in [c["id"] for c in again.frames[0]["conversations"]]
    await second.expect("agent_joined")
    await again.expect("assigned")
