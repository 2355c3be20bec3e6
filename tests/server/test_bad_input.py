"""Bad input always gets a clear error and loses or corrupts nothing."""

import json
import time

import jwt
import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.shops import ShopConfig, ShopStore
from tests.server.conftest import PASSWORD, SHOP, Socket, add_agent, agent, login, setup_shop, shopper

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)


async def greeted(client: Client, **query: str) -> Socket:
    s = await shopper(client, **query)
    await s.expect("session")
    await s.expect("bot", decision="greeting")
    return s


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json{", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"message"', "invalid_frame"),
        ('{"text": "hi"}', "unknown_type"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "message", "text": "hi"}', "invalid_frame"),
        ('{"type": "message", "text": "   ", "client_msg_id": "x"}', "invalid_frame"),
        ('{"type": "message", "text": "hi", "client_msg_id": "has spaces"}', "invalid_frame"),
        ('{"type": "message", "text": 5, "client_msg_id": "x"}', "invalid_frame"),
        ('{"type": "rate", "score": 9}', "invalid_frame"),
        ('{"type": "rate", "score": "5"}', "invalid_frame"),
        ('{"type": "transfer", "extra": true}', "invalid_frame"),
        ('{"type": "rate", "score": 5}', "not_closed"),
        ('{"type": "leave_message", "text": "hi"}', "invalid_frame"),
        (json.dumps({"type": "message", "text": "字" * 2001, "client_msg_id": "long"}), "text_too_long"),
        ("{" * 5000, "invalid_json"),
    ],
)
async def test_bad_shopper_frames_get_an_error_and_the_socket_stays_open(
    client: Client, raw: str, code: str
) -> None:
    s = await greeted(client)
    await s.ws.send_str(raw)
    error = await s.expect("error")
    assert error["code"] == code and error["message"]
    await s.say("包邮吗")
    assert (await s.expect("bot"))["faq_id"] == "shipping-fee"


async def test_binary_frames_are_refused_politely(client: Client) -> None:
    s = await greeted(client)
    await s.ws.send_bytes(b"\x00\x01")
    assert (await s.expect("error"))["code"] == "invalid_frame"


async def test_oversize_frame_closes_with_1009(client: Client, redis: Redis) -> None:
    s = await greeted(client)
    await s.ws.send_str(json.dumps({"type": "message", "text": "x" * 70_000, "client_msg_id": "big"}))
    msg = await s.ws.receive(timeout=5)
    while msg.type == WSMsgType.TEXT:
        msg = await s.ws.receive(timeout=5)
    assert msg.type == WSMsgType.CLOSE and msg.data == WSCloseCode.MESSAGE_TOO_BIG
    session = s.frames[0]["session_id"]
    assert all(fields["f"] != "shopper" for _, fields in await redis.xrange(KEYS.log(session)))


async def test_floods_are_throttled_then_cut_off(client: Client, redis: Redis) -> None:
    s = await greeted(client)
    for _ in range(200):
        await s.ws.send_str(json.dumps({"type": "typing"}))
    frames = await s.silent(1.0)
    codes = [f.get("code") for f in frames if f["type"] == "error"]
    assert "rate_limited" in codes
    assert await s.closed() == WSCloseCode.POLICY_VIOLATION


@pytest.mark.parametrize("shop", ["nope", "Bad Shop!", ""])
async def test_wrong_shop_is_refused_before_the_upgrade(client: Client, shop: str) -> None:
    resp = await client.get("/ws/shopper", params={"shop": shop})
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_shop"


async def test_bad_last_id_is_refused(client: Client) -> None:
    # Not ids, and ids Redis cannot read (non-ASCII digits, a part beyond 64 bits).
    for last_id in ("drop table", "\u0661-1", "18446744073709551616-0"):
        resp = await client.get("/ws/shopper", params={"shop": SHOP, "last_id": last_id})
        assert resp.status == 400, last_id
        assert (await resp.json())["error"]["code"] == "invalid_last_id"


async def test_foreign_origin_is_refused_and_allowlists_work(client: Client, redis: Redis) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(
            "/ws/shopper", params={"shop": SHOP}, headers={"Origin": "https://evil.example"}
        )
    assert refused.value.status == 403
    ok = await client.ws_connect(
        "/ws/shopper", params={"shop": SHOP}, headers={"Origin": "http://localhost:3000"}
    )
    await ok.close()
    await ShopStore(redis, SHOP).save_config(ShopConfig(allowed_origins=["https://*.myshop.example"]))
    await setup_shop(redis, "fresh", config=ShopConfig(allowed_origins=["https://*.myshop.example"]))
    good = await client.ws_connect(
        "/ws/shopper", params={"shop": "fresh"}, headers={"Origin": "https://www.myshop.example"}
    )
    await good.close()
    with pytest.raises(WSServerHandshakeError):
        await client.ws_connect(
            "/ws/shopper", params={"shop": "fresh"}, headers={"Origin": "http://localhost:3000"}
        )


async def test_expired_forged_and_disabled_tokens_are_refused(client: Client, redis: Redis) -> None:
    from kefu.store.accounts import Accounts

    await add_agent(redis, "alice")
    expired = jwt.encode(
        {"sub": "x", "shop": SHOP, "role": "agent", "ver": 0, "exp": int(time.time()) - 5},
        "test-secret-key-0123456789-0123456789",
        algorithm="HS256",
    )
    resp = await client.post("/api/socket-ticket", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_expired"
    forged = jwt.encode(
        {"sub": "x", "shop": SHOP, "role": "admin", "ver": 0, "exp": int(time.time()) + 60},
        "another-secret-another-secret-another",
        algorithm="HS256",
    )
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})).status == 401
    token = await login(client, "alice")
    await Accounts(redis, SHOP).update("alice", disabled=True)
    resp = await client.post("/api/socket-ticket", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_revoked"


async def test_agents_act_only_on_their_own_conversations(client: Client, redis: Redis) -> None:
    await setup_shop(redis, "other")
    await add_agent(redis, "alice")
    await add_agent(redis, "bob")
    await add_agent(redis, "mallory", shop="other")
    alice = await agent(client, "alice")
    bob = await agent(client, "bob", online=False)
    mallory = await agent(client, "mallory", shop="other")
    s = await greeted(client)
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    conv = (await alice.expect("assigned"))["conversation"]["id"]
    for intruder in (bob, mallory):
        await intruder.send(
            {"type": "message", "conversation_id": conv, "text": "hijack", "client_msg_id": "h1"}
        )
        assert (await intruder.expect("error"))["code"] == "not_assigned"
        await intruder.send({"type": "close", "conversation_id": conv})
        assert (await intruder.expect("error"))["code"] == "not_assigned"
        await intruder.send({"type": "transfer", "conversation_id": conv, "group": "general"})
        assert (await intruder.expect("error"))["code"] == "not_assigned"
    assert [f for f in await s.silent(0.3) if f["type"] in ("agent", "closed")] == []
    log = await redis.xrange(KEYS.log(s.frames[0]["session_id"]))
    assert all(fields["t"] != "hijack" for _, fields in log)


async def test_bad_agent_frames_get_errors(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    alice = await agent(client, "alice")
    for raw, code in [
        ("{", "invalid_json"),
        ('{"type": "status", "status": "asleep"}', "invalid_frame"),
        (
            '{"type": "message", "conversation_id": "../x", "text": "a", "client_msg_id": "1"}',
            "invalid_frame",
        ),
        ('{"type": "dance"}', "unknown_type"),
    ]:
        await alice.ws.send_str(raw)
        assert (await alice.expect("error"))["code"] == code


async def test_login_errors_and_brute_force(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    bad = await client.post("/api/login", data=b"{oops", headers={"Content-Type": "application/json"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_json"
    missing = await client.post("/api/login", json={"shop": SHOP})
    body = await missing.json()
    assert missing.status == 422 and {d["field"] for d in body["error"]["details"]} == {
        "username",
        "password",
    }
    nowhere = await client.post(
        "/api/login", json={"shop": "nope", "username": "alice", "password": PASSWORD}
    )
    wrong = await client.post("/api/login", json={"shop": SHOP, "username": "alice", "password": "nope-nope"})
    assert nowhere.status == wrong.status == 401
    assert (await nowhere.json()) == (await wrong.json())  # no hint which shops exist
    for _ in range(4):
        await client.post("/api/login", json={"shop": SHOP, "username": "alice", "password": "nope-nope"})
    locked = await client.post("/api/login", json={"shop": SHOP, "username": "alice", "password": PASSWORD})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert (await locked.json())["error"]["retry_after"] > 0


async def test_passwords_are_stored_only_as_argon2_hashes(redis: Redis) -> None:
    await setup_shop(redis)
    await add_agent(redis, "alice")
    dump = json.dumps(await redis.hgetall(KEYS.users))
    assert PASSWORD not in dump and "$argon2id$" in dump


frame_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
frames = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["message", "transfer", "typing", "leave_message", "rate", "close", "ping", "bogus"]
            )
        },
        optional={
            "text": frame_values,
            "client_msg_id": frame_values,
            "score": frame_values,
            "contact": frame_values,
            "comment": frame_values,
        },
    ).map(json.dumps),
    frame_values.map(json.dumps),
    st.text(max_size=200),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=frames)
async def test_any_frame_gets_a_reply_or_an_error_never_a_crash(client: Client, raw: str) -> None:
    s = await greeted(client)
    await s.ws.send_str(raw)
    await s.send({"type": "ping"})
    await s.expect("pong")  # still alive and answering, whatever came before
    await s.close()
