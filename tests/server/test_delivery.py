"""Delivery: stored before acked, idempotent resends, resume with last_id, two instances,
restarts, graceful shutdown."""

import asyncio

from aiohttp import WSCloseCode, web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.redisserver import RedisServer
from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store.keys import ShopKeys
from tests.server.conftest import SHOP, AppClient, Socket, add_agent, agent, shopper

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)


async def start(client: Client, **query: str) -> tuple[Socket, dict[str, object]]:
    s = await shopper(client, **query)
    session = await s.expect("session")
    return s, session


async def test_a_resent_message_is_stored_once_and_answered_once(client: Client, redis: Redis) -> None:
    s, session = await start(client)
    await s.expect("bot", decision="greeting")
    await s.send({"type": "message", "text": "什么时候发货", "client_msg_id": "same-1"})
    first = await s.expect("ack", client_msg_id="same-1")
    await s.expect("bot", decision="answer")
    await s.send({"type": "message", "text": "什么时候发货", "client_msg_id": "same-1"})
    again = await s.expect("ack", client_msg_id="same-1")
    assert again["id"] == first["id"]
    assert [f for f in await s.silent(0.3) if f["type"] == "bot"] == []
    log = await redis.xrange(KEYS.log(str(session["session_id"])))
    assert [fields["t"] for _, fields in log if fields["f"] == "shopper"] == ["什么时候发货"]


async def test_resume_with_last_id_returns_exactly_what_was_missed(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s, session = await start(client)
    token = str(session["token"])
    await s.expect("bot", decision="greeting")
    await s.send({"type": "transfer"})
    joined = await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await s.close()
    for i in range(3):
        await alice.send(
            {"type": "message", "conversation_id": conv, "text": f"missed {i}", "client_msg_id": f"a{i}"}
        )
        await alice.expect("ack", client_msg_id=f"a{i}")
    back, again = await start(client, token=token, last_id=str(joined["id"]))
    assert again["resumed"] is True and again["session_id"] == session["session_id"]
    history = await back.expect("history")
    assert [m["text"] for m in history["messages"]] == ["missed 0", "missed 1", "missed 2"]
    assert all(m["from"] == "agent" and m["agent"]["name"] == "Alice" for m in history["messages"])
    assert (await back.expect("agent_joined"))["agent"]["name"] == "Alice"  # the current state
    # Nothing is shown twice afterwards.
    await alice.send({"type": "message", "conversation_id": conv, "text": "after", "client_msg_id": "a9"})
    assert (await back.expect("agent"))["text"] == "after"
    assert [f for f in await back.silent(0.3) if f["type"] == "agent"] == []


async def test_resume_without_last_id_replays_everything_in_order(client: Client) -> None:
    s, session = await start(client)
    await s.expect("bot", decision="greeting")
    await s.say("包邮吗")
    await s.expect("bot", decision="answer")
    await s.close()
    back, _ = await start(client, token=str(session["token"]))
    history = await back.expect("history")
    assert [m["from"] for m in history["messages"]] == ["bot", "shopper", "bot"]
    assert history["messages"][1]["text"] == "包邮吗"
    assert history["messages"][2]["faq_id"] == "shipping-fee"


async def test_an_unknown_token_starts_a_new_session_and_says_so(client: Client) -> None:
    s, session = await start(client, token="no-such-token")
    assert session["resumed"] is False and session["token"] != "no-such-token"
    assert (await s.expect("error"))["code"] == "session_expired"
    await s.expect("bot", decision="greeting")


async def test_tokens_are_bound_to_their_shop(client: Client, redis: Redis) -> None:
    from tests.server.conftest import setup_shop

    await setup_shop(redis, "other")
    _, session = await start(client)
    s, elsewhere = await start(client, shop="other", token=str(session["token"]))
    assert elsewhere["resumed"] is False and elsewhere["session_id"] != session["session_id"]


async def test_two_instances_on_one_redis(
    aiohttp_client: AppClient, settings: Settings, shop: str, redis: Redis
) -> None:
    one = await aiohttp_client(create_app(settings.model_copy(update={"instance_id": "one"})))
    two = await aiohttp_client(create_app(settings.model_copy(update={"instance_id": "two"})))
    await add_agent(redis, "alice", capacity=1)
    alice = await agent(two, "alice")  # the agent on instance two
    s, _ = await start(one)  # the shopper on instance one
    await s.expect("bot", decision="greeting")
    await s.say("退货地址是哪里")
    await s.expect("bot")
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    for i in range(10):
        await s.say(f"shopper {i}")
        await alice.send(
            {"type": "message", "conversation_id": conv, "text": f"agent {i}", "client_msg_id": f"k{i}"}
        )
    got_agent = [(await s.expect("agent"))["text"] for _ in range(10)]
    got_shopper = [(await alice.expect("message"))["text"] for _ in range(10)]
    assert got_agent == [f"agent {i}" for i in range(10)]
    assert got_shopper == [f"shopper {i}" for i in range(10)]
    # A second shopper queued on instance two; the slot freed on instance one's side.
    waiting, _ = await start(two)
    await waiting.send({"type": "transfer"})
    await waiting.expect("queued", position=1)
    await alice.send({"type": "close", "conversation_id": conv})
    await s.expect("closed")
    await waiting.expect("agent_joined")


async def test_restart_keeps_queue_and_transcripts(
    aiohttp_client: AppClient, settings: Settings, shop: str, redis: Redis
) -> None:
    await add_agent(redis, "alice", capacity=1)
    first_app = await aiohttp_client(create_app(settings))
    alice = await agent(first_app, "alice")
    busy, _ = await start(first_app)
    await busy.send({"type": "transfer"})
    await busy.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await alice.send(
        {"type": "message", "conversation_id": conv, "text": "before restart", "client_msg_id": "r1"}
    )
    await alice.expect("ack")
    queued, session = await start(first_app)
    await queued.send({"type": "transfer"})
    await queued.expect("queued", position=1)
    await first_app.close()  # the instance goes away (graceful shutdown)
    second_app = await aiohttp_client(create_app(settings))
    back, again = await start(second_app, token=str(session["token"]))
    assert again["resumed"] is True
    await back.expect("history")
    assert (await back.expect("queued"))["position"] == 1
    alice2 = await agent(second_app, "alice")
    hello = alice2.frames[0]
    (conversation,) = hello["conversations"]
    assert conversation["id"] == conv
    assert any(m["text"] == "before restart" for m in conversation["transcript"])


async def test_graceful_shutdown_closes_sockets_with_1001(
    aiohttp_client: AppClient, settings: Settings, shop: str
) -> None:
    app_client = await aiohttp_client(create_app(settings))
    s, _ = await start(app_client)
    await s.expect("bot")
    closing = asyncio.create_task(app_client.server.close())
    msg = await s.ws.receive(timeout=5)
    while msg.type.name == "TEXT":
        msg = await s.ws.receive(timeout=5)
    await closing
    assert msg.type.name == "CLOSE" and msg.data == WSCloseCode.GOING_AWAY


async def test_healthz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_pubsub_blip_loses_nothing(client: Client, redis: Redis, redis_server: RedisServer) -> None:
    """Kill the events connection mid-chat: the backstop still delivers every agent message."""
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s, _ = await start(client)
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    for i in range(5):
        await alice.send(
            {"type": "message", "conversation_id": conv, "text": f"m{i}", "client_msg_id": f"b{i}"}
        )
    texts = [(await s.expect("agent", timeout=5))["text"] for _ in range(5)]
    assert texts == [f"m{i}" for i in range(5)]
    await asyncio.sleep(0)
