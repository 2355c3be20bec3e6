"""A bot turn: one write back (ack and reply together), the sender's own line not echoed, other
tabs of the chat told, and a chat that moved on without this socket hearing of it handled as
it now is (never answered by the bot under an agent's nose, never written into a closed one)."""

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from tests.server.conftest import SHOP, Socket, shopper

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)


async def _greeted(client: Client, **query: str) -> tuple[Socket, str, str]:
    s = await shopper(client, **query)
    session = await s.expect("session")
    await s.expect("bot", decision="greeting")
    return s, str(session["session_id"]), str(session["token"])


async def test_a_bot_turn_is_one_write_with_the_ack_first(client: Client) -> None:
    s, _, _ = await _greeted(client)
    before = s.writes
    cid = await s.say("什么时候发货")
    ack = await s.expect("ack", client_msg_id=cid)
    reply = await s.expect("bot", decision="answer")
    assert s.writes == before + 1
    assert s.frames.index(ack) == s.frames.index(reply) - 1
    # The sender has its ack; its own line is not sent back to it.
    assert [f for f in await s.silent(0.3) if f["type"] == "shopper"] == []
    assert not [f for f in s.frames if f["type"] == "shopper"]


async def test_another_tab_of_the_chat_sees_the_question_and_the_answer(client: Client) -> None:
    first, _, token = await _greeted(client)
    second = await shopper(client, token=token)
    await second.expect("session")
    await second.expect("history")
    cid = await first.say("包邮吗")
    echoed = await second.expect("shopper", client_msg_id=cid)
    assert echoed["text"] == "包邮吗"
    answer = await first.expect("bot", decision="answer")
    assert (await second.expect("bot", id=answer["id"]))["text"] == answer["text"]


async def test_the_bot_stays_quiet_in_a_chat_an_agent_took_unseen(client: Client, redis: Redis) -> None:
    s, session_id, _ = await _greeted(client)
    conversation = str(await redis.hget(KEYS.session(session_id), "conv"))
    # The state moved on and this socket missed the news (an event lost between instances).
    await redis.hset(KEYS.conversation(conversation), mapping={"state": "assigned", "agent": "alice"})
    cid = await s.say("什么时候发货")
    await s.expect("ack", client_msg_id=cid)
    assert [f for f in await s.silent(0.5) if f["type"] == "bot"] == []
    log = await redis.xrange(KEYS.log(session_id))
    assert [fields["f"] for _, fields in log][-1] == "shopper"


async def test_a_message_after_an_unseen_close_starts_a_new_chat(client: Client, redis: Redis) -> None:
    s, session_id, _ = await _greeted(client)
    old = str(await redis.hget(KEYS.session(session_id), "conv"))
    await redis.hset(KEYS.conversation(old), "state", "closed")
    cid = await s.say("什么时候发货")
    await s.expect("ack", client_msg_id=cid)
    await s.expect("bot", decision="answer")
    new = str(await redis.hget(KEYS.session(session_id), "conv"))
    assert new != old
    log = await redis.xrange(KEYS.log(session_id))
    assert {fields["c"] for _, fields in log if fields["f"] == "shopper"} == {new}


async def test_a_resent_message_gets_its_first_id_and_no_second_answer(client: Client, redis: Redis) -> None:
    s, session_id, _ = await _greeted(client)
    await s.send({"type": "message", "text": "退货运费谁出", "client_msg_id": "again"})
    first = await s.expect("ack", client_msg_id="again")
    await s.expect("bot")
    await s.send({"type": "message", "text": "退货运费谁出", "client_msg_id": "again"})
    assert (await s.expect("ack", client_msg_id="again"))["id"] == first["id"]
    assert [f for f in await s.silent(0.3) if f["type"] == "bot"] == []
    senders = [fields["f"] for _, fields in await redis.xrange(KEYS.log(session_id))]
    assert senders.count("shopper") == 1 and senders.count("bot") == 2  # the greeting and one reply
