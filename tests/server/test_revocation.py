"""The end of a login reaches open sockets: socket tickets instead of tokens in URLs, and
logout, disable, password reset and token expiry closing the agent's sockets, with its chats
back in the queue. Plus what queued shoppers are told when nobody is left to serve them."""

from __future__ import annotations

import time

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.server.appkeys import signer_key
from kefu.store.accounts import Accounts, Claims
from kefu.store.keys import ShopKeys
from tests.server.conftest import SHOP, Socket, add_agent, agent, login, shopper, ticket

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)
SECRET = "test-secret-key-0123456789-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def chatting(client: Client, username: str = "alice") -> tuple[Socket, Socket]:
    """A shopper in a chat with `username` (online, capacity 1)."""
    desk = await agent(client, username)
    s = await shopper(client)
    await s.expect("session")
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    await desk.expect("assigned")
    return desk, s


async def test_a_shopper_cannot_swallow_the_agents_next_message(client: Client, redis: Redis) -> None:
    """An agent's message is remembered as "agent id:client_msg_id" among the session's stored
    ids; a shopper who names one in advance (the agent id is in `agent_joined`) would have the
    agent's message acked as a resend and never stored."""
    await add_agent(redis, "alice")
    desk, s = await chatting(client)
    joined = [f for f in s.frames if f["type"] == "agent_joined"][0]
    await s.send({"type": "message", "text": "hi", "client_msg_id": f"{joined['agent']['id']}:m1"})
    assert (await s.expect("error"))["code"] == "invalid_frame"
    assigned = [f for f in desk.frames if f["type"] == "assigned"][0]
    await desk.send(
        {
            "type": "message",
            "conversation_id": assigned["conversation"]["id"],
            "text": "您好，我来看看",
            "client_msg_id": "m1",
        }
    )
    assert (await s.expect("agent"))["text"] == "您好，我来看看"


async def test_agent_sockets_open_with_single_use_tickets_never_tokens(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    token = await login(client, "alice")
    for params in [{}, {"token": token}, {"ticket": "garbage"}, {"ticket": token}]:
        resp = await client.get("/ws/agent", params=params)
        assert resp.status == 401, params
    # REST takes the token from the header only.
    assert (await client.get("/api/me", params={"token": token})).status == 401
    params = await ticket(client, token)
    first = Socket(await client.ws_connect("/ws/agent", params=params))
    assert (await first.expect("hello"))["agent"]["username"] == "alice"
    replay = await client.get("/ws/agent", params=params)
    assert replay.status == 401 and (await replay.json())["error"]["code"] == "ticket_used"
    await first.close()
    # A ticket dies in seconds; one signed with another key never worked.
    user = await Accounts(redis, SHOP).get("alice")
    old = {"sub": user.id, "shop": SHOP, "role": "agent", "ver": 0, "typ": "socket", "jti": "x"}
    stale = jwt.encode({**old, "exp": int(time.time()) - 5}, SECRET, algorithm="HS256")
    resp = await client.get("/ws/agent", params={"ticket": stale})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_expired"
    forged = jwt.encode({**old, "exp": int(time.time()) + 30}, "another-secret-" * 3, algorithm="HS256")
    assert (await client.get("/ws/agent", params={"ticket": forged})).status == 401


@pytest.mark.parametrize("how", ["disable", "password", "logout"])
async def test_a_revoked_agent_loses_its_socket_and_its_chats_go_to_a_colleague(
    client: Client, redis: Redis, how: str
) -> None:
    await add_agent(redis, "alice")
    await add_agent(redis, "bob")
    await add_agent(redis, "boss", role="admin", capacity=0)
    desk, s = await chatting(client, "alice")
    bob = await agent(client, "bob")
    alice_token = await login(client, "alice")
    admin = bearer(await login(client, "boss"))
    if how == "disable":
        resp = await client.patch("/api/admin/users/alice", json={"disabled": True}, headers=admin)
    elif how == "password":
        resp = await client.post(
            "/api/admin/users/alice/password", json={"password": "a-new-password"}, headers=admin
        )
    else:
        resp = await client.post("/api/logout", headers=bearer(alice_token))
    assert resp.status in (200, 204), await resp.text()
    assert await desk.closed() == 4001
    # The shopper is not left writing to nobody: the colleague has the chat, transcript and all.
    assigned = await bob.expect("assigned")
    assert assigned["conversation"]["id"]
    joined = await s.expect("agent_joined")
    assert joined["agent"]["name"] == "Bob"
    # Old tokens are dead for REST and for new sockets.
    assert (await client.get("/api/me", headers=bearer(alice_token))).status == 401
    assert (await client.post("/api/socket-ticket", headers=bearer(alice_token))).status == 401
    assert await redis.hget(KEYS.agent((await Accounts(redis, SHOP).get("alice")).id), "status") == "offline"


async def test_a_revoked_agent_is_never_given_a_new_chat(client: Client, redis: Redis) -> None:
    alice_id = await add_agent(redis, "alice")
    await add_agent(redis, "boss", role="admin", capacity=0)
    desk = await agent(client, "alice")
    admin = bearer(await login(client, "boss"))
    await client.post("/api/admin/users/alice/password", json={"password": "a-new-password"}, headers=admin)
    assert await desk.closed() == 4001
    s = await shopper(client)
    await s.expect("session")
    await s.send({"type": "transfer"})
    await s.expect("offline")  # nobody is online: not "queued" for a ghost
    assert not await redis.smembers(KEYS.agent_conversations(alice_id))


async def test_an_expired_login_closes_the_socket(client: Client, redis: Redis) -> None:
    user_id = await add_agent(redis, "alice")
    signer = client.app[signer_key]
    soon = Claims(sub=user_id, shop=SHOP, role="agent", ver=0, exp=int(time.time()) + 1)
    desk = Socket(await client.ws_connect("/ws/agent", params={"ticket": signer.ticket(soon)}))
    await desk.expect("hello")
    assert await desk.closed(timeout=5) == 4001


async def test_a_missed_sign_out_event_still_closes_the_socket(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    desk = await agent(client, "alice")
    # The tokens change without any event (as if the instance missed it while reconnecting).
    accounts = Accounts(redis, SHOP)
    user = await accounts.get("alice")
    bumped = user.model_copy(update={"token_version": user.token_version + 1})
    await redis.hset(KEYS.users, "alice", bumped.model_dump_json())
    assert await desk.closed() == 4001


async def test_an_offline_agent_whose_browser_vanished_hands_its_chats_back(
    client: Client, redis: Redis
) -> None:
    await add_agent(redis, "alice")
    await add_agent(redis, "bob")
    desk, s = await chatting(client, "alice")
    await desk.send({"type": "status", "status": "offline"})  # no new chats, still finishing this one
    await desk.expect("status", status="offline")
    bob = await agent(client, "bob")
    await desk.close()  # the browser closes without logging out
    await bob.expect("assigned", timeout=8)  # after the grace period, not never
    await s.expect("agent_joined", timeout=8)


async def test_queued_shoppers_are_told_at_once_when_the_last_agent_leaves(
    client: Client, redis: Redis
) -> None:
    await add_agent(redis, "alice")
    desk, _first = await chatting(client, "alice")  # alice is full
    s = await shopper(client)
    await s.expect("session")
    await s.send({"type": "transfer"})
    assert (await s.expect("queued"))["position"] == 1
    started = time.monotonic()
    await desk.send({"type": "status", "status": "offline"})
    offline = await s.expect("offline", timeout=5)
    assert offline["leave_message"] is True and time.monotonic() - started < 5
    # The chat goes on with the bot, transcript kept; the message form works.
    await s.send({"type": "leave_message", "text": "请回电", "contact": "13800000000"})
    await s.expect("bot", event="message_left")


async def test_leaving_the_queue_is_not_ending_the_chat(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    _desk, _first = await chatting(client, "alice")
    s = await shopper(client)
    await s.expect("session")
    await s.send({"type": "transfer"})
    await s.expect("queued")
    await s.send({"type": "close"})
    notice = await s.expect("bot", event="left_queue")
    assert notice["text"] == "排队已取消，您可以继续向我提问，或再次点击「转人工」。"
    assert not [f for f in await s.silent(0.5) if f["type"] == "closed"]
    await s.say("怎么退货")
    assert (await s.expect("bot", decision="answer"))["faq_id"]


async def test_a_shoppers_session_token_never_travels_in_a_url(client: Client, redis: Redis) -> None:
    s = await shopper(client)
    token = str((await s.expect("session"))["token"])
    await s.close()
    resp = await client.get("/ws/shopper", params={"shop": SHOP, "token": token})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "token_in_url"
    again = await shopper(client, token=token)  # offered as the subprotocol kefu.session.TOKEN
    assert again.ws.protocol == "kefu.v1"
    assert (await again.expect("session"))["resumed"] is True
