from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.server.conftest import add_agent, agent, shopper


async def test_shopper_greeting_answer_and_transfer(
    client: TestClient[web.Request, web.Application], redis: Redis
) -> None:
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    s = await shopper(client)
    session = await s.expect("session")
    assert session["resumed"] is False and session["token"]
    greeting = await s.expect("bot", decision="greeting")
    assert greeting["actions"][0]["type"] == "transfer"
    cmid = await s.say("物流三天没动了")
    ack = await s.expect("ack", client_msg_id=cmid)
    answer = await s.expect("bot")
    assert answer["decision"] == "answer" and answer["faq_id"] == "tracking-stalled"
    await s.send({"type": "transfer"})
    joined = await s.expect("agent_joined")
    assert joined["agent"]["name"] == "Alice"
    assigned = await alice.expect("assigned")
    texts = [m["text"] for m in assigned["conversation"]["transcript"]]
    assert "物流三天没动了" in texts
    conv = assigned["conversation"]["id"]
    await alice.send(
        {"type": "message", "conversation_id": conv, "text": "您好，我来帮您查", "client_msg_id": "a1"}
    )
    await alice.expect("ack", client_msg_id="a1")
    reply = await s.expect("agent")
    assert reply["text"] == "您好，我来帮您查"
    await s.say("谢谢")
    msg = await alice.expect("message")
    assert msg["text"] == "谢谢" and msg["conversation_id"] == conv
    assert ack["id"]
