"""Commerce context end to end over real HTTP and sockets: the orders API and its keys, a
signed-in customer verified by a real HMAC (one session on every device), the bot answering
from the customer's own orders, the product the shopper looks at, the agent's customer view,
the after-sale routing rule and the 催付 check."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import io
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.redisserver import RedisServer
from kefu.server.app import create_app
from kefu.server.appkeys import context_key
from kefu.server.orders import check_payments
from kefu.server.security import url_on_allowed_origin
from kefu.store.shops import ShopConfig, ShopStore
from tests.server.conftest import (
    SHOP,
    Socket,
    add_agent,
    agent,
    login,
    make_settings,
    session_protocols,
    setup_shop,
)

Client = TestClient[web.Request, web.Application]


def claim(
    customer_id: str,
    secret: str,
    *,
    name: str = "",
    forged: bool = False,
    exp: int | None = None,
    signed_exp: int | None = None,
) -> str:
    """The subprotocol a widget offers for a signed-in customer, the hash computed as a shop's
    server does: HMAC-SHA256(identity secret, customer id) — of "id|exp" for a claim that
    expires. `signed_exp`: the expiry the hash was made for, when the claim says another."""
    signed = exp if signed_exp is None else signed_exp
    message = customer_id if signed is None else f"{customer_id}|{signed}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    if forged:
        digest = hmac.new(b"guess", customer_id.encode(), hashlib.sha256).hexdigest()
    body: dict[str, Any] = {"id": customer_id, "name": name, "hash": digest}
    if exp is not None:
        body["exp"] = exp
    return offered(body)


def offered(body: dict[str, Any]) -> str:
    """A claim's JSON as the subprotocol offering it (base64url, no padding)."""
    return "kefu.customer." + base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def unpack(protocol: str) -> dict[str, Any]:
    encoded = protocol.removeprefix("kefu.customer.")
    body: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return body


async def customer_socket(
    client: Client, customer_id: str, secret: str, *, token: str | None = None, **kw: Any
) -> Socket:
    protocols = [*session_protocols(token), claim(customer_id, secret, **kw)]
    ws = await client.ws_connect("/ws/shopper", params={"shop": SHOP}, protocols=protocols)
    return Socket(ws)


async def ask(sock: Socket, text: str) -> list[dict[str, Any]]:
    """Say `text`; the bot's lines written with it (they come in the ack's frame)."""
    before = len(sock.frames)
    client_msg_id = await sock.say(text)
    await sock.expect("ack", client_msg_id=client_msg_id)
    return [f for f in sock.frames[before:] if f["type"] == "bot"]


def order_line(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The bot's line about the customer's orders (after the FAQ's answer, when one fits)."""
    [line] = [f for f in frames if f["decision"] == "order"]
    return line


async def admin_headers(client: Client, redis: Redis) -> dict[str, str]:
    await add_agent(redis, "boss", role="admin")
    return {"Authorization": f"Bearer {await login(client, 'boss')}"}


async def configure(client: Client, redis: Redis, change: Callable[[ShopConfig], None]) -> None:
    """Change the shop's settings as an admin's save does (this instance forgets its copy)."""
    store = ShopStore(redis, SHOP)
    config = await store.config()
    change(config)
    await store.save_config(config)
    client.app[context_key].forget_config(SHOP)


async def secrets(client: Client, redis: Redis) -> tuple[str, str]:
    """(identity secret, orders API key) of the shop, as its admin gets them."""
    headers = await admin_headers(client, redis)
    resp = await client.get("/api/admin/commerce", headers=headers)
    assert resp.status == 200
    identity = (await resp.json())["identity_secret"]
    resp = await client.post("/api/admin/commerce/api-key", headers=headers)
    assert resp.status == 200
    return identity, (await resp.json())["api_key"]


def order(
    order_id: str, customer: str, status: str = "paid", version: int = 1, **extra: Any
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    data: dict[str, Any] = {
        "id": order_id,
        "customer_id": customer,
        "version": version,
        "status": status,
        "amount": "199.00",
        "items": [{"title": "保温杯 500ml", "quantity": 2, "price": "99.50"}],
        "created_at": (now - dt.timedelta(hours=5)).isoformat(),
    }
    if status != "created":
        data["paid_at"] = (now - dt.timedelta(hours=4)).isoformat()
    if status in ("shipped", "delivered"):
        data |= {"shipped_at": now.isoformat(), "courier": "顺丰速运", "tracking_number": "SF1234567890"}
    return data | extra


async def post(client: Client, key: str, body: Any, path: str = "/api/shops/demo/orders") -> Any:
    resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    return resp.status, await resp.json()


# ---- the orders API ----


async def test_orders_need_the_shops_own_key_and_are_idempotent_by_version(
    client: Client, redis: Redis
) -> None:
    _, key = await secrets(client, redis)
    assert (await post(client, "", order("A1", "c1")))[0] == 401
    assert (await post(client, "kefu_demo.nope", order("A1", "c1")))[0] == 401
    # Another shop's valid key: recognised, and refused as the wrong shop.
    await setup_shop(redis, "other")
    other_key = await client.app[context_key].commerce("other").rotate_api_key()
    status, body = await post(client, other_key, order("A1", "c1"))
    assert (status, body["error"]["code"]) == (403, "wrong_shop")

    assert await post(client, key, order("A1", "c1", "paid", 2)) == (200, {"id": "A1", "result": "created"})
    # A retry, then an older version arriving late: nothing changes, never backwards.
    assert (await post(client, key, order("A1", "c1", "paid", 2)))[1]["result"] == "stale"
    assert (await post(client, key, order("A1", "c1", "created", 1)))[1]["result"] == "stale"
    assert (await post(client, key, order("A1", "c1", "shipped", 3)))[1]["result"] == "updated"
    stored = await client.app[context_key].commerce(SHOP).order("A1")
    assert stored is not None and stored.order.status == "shipped"
    # The same id for another customer is refused (409), and the record stays theirs.
    status, body = await post(client, key, order("A1", "someone-else", "paid", 9))
    assert status == 409
    # A rotated key: the old one stops working.
    headers = await admin_headers_again(client)
    new_key = (await (await client.post("/api/admin/commerce/api-key", headers=headers)).json())["api_key"]
    assert (await post(client, key, order("A2", "c1")))[0] == 401
    assert (await post(client, new_key, order("A2", "c1")))[0] == 200


async def admin_headers_again(client: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(client, 'boss')}"}


async def test_a_bad_order_is_a_422_naming_the_field_and_a_batch_is_all_or_nothing(
    client: Client, redis: Redis
) -> None:
    _, key = await secrets(client, redis)
    status, body = await post(client, key, order("A1", "c1", amount="-3"))
    assert status == 422
    assert any(d["field"] == "amount" for d in body["error"]["details"])
    status, body = await post(client, key, order("A1", "c1", status="lost"))
    assert status == 422 and any(d["field"] == "status" for d in body["error"]["details"])
    status, _ = await post(client, key, order("bad id with spaces", "c1"))
    assert status == 422
    # One bad order in a batch: nothing of it is stored.
    batch = {"orders": [order("B1", "c1"), order("B2", "c1", tracking_number="<script>")]}
    status, body = await post(client, key, batch, "/api/shops/demo/orders/batch")
    assert status == 422 and any(d["field"].startswith("orders.1") for d in body["error"]["details"])
    assert await client.app[context_key].commerce(SHOP).order("B1") is None
    batch = {"orders": [order("B1", "c1"), order("B2", "c2"), order("B1", "c1")]}
    status, body = await post(client, key, batch, "/api/shops/demo/orders/batch")
    assert status == 200
    assert [r["result"] for r in body["results"]] == ["created", "created", "stale"]


async def test_a_full_batch_of_big_orders_is_taken_and_a_bigger_body_refused(
    client: Client, redis: Redis
) -> None:
    """A batch may be 8 MiB (aiohttp's own limit once refused anything over 2 MiB with a 413);
    past its route's limit a body is refused as it arrives, however it is sent."""
    _, key = await secrets(client, redis)
    items = [
        {"title": f"保温杯 500ml 第{i}款 " + "款" * 60, "quantity": 1, "price": "9.90"} for i in range(20)
    ]
    batch = {"orders": [order(f"BIG{n}", f"c{n % 50}", items=items) for n in range(500)]}
    body = orjson.dumps(batch)
    assert 2 << 20 < len(body) < 8 << 20
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    resp = await client.post("/api/shops/demo/orders/batch", data=io.BytesIO(body), headers=auth)
    assert resp.status == 200, await resp.text()
    assert len((await resp.json())["results"]) == 500

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield body  # no Content-Length: only reading tells the size

    resp = await client.post("/api/shops/demo/orders/batch", data=chunks(), headers=auth)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"
    # Announced: refused before a byte of it is read.
    resp = await client.post("/api/shops/demo/orders/batch", data=io.BytesIO(body * 4), headers=auth)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"


async def test_agents_cannot_read_or_rotate_the_shops_secrets(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    headers = {"Authorization": f"Bearer {await login(client, 'alice')}"}
    assert (await client.get("/api/admin/commerce", headers=headers)).status == 403
    assert (await client.post("/api/admin/commerce/api-key", headers=headers)).status == 403


# ---- identity ----


async def test_a_signed_in_customer_has_one_chat_on_every_device(client: Client, redis: Redis) -> None:
    identity, _ = await secrets(client, redis)
    laptop = await customer_socket(client, "cust-42", identity, name="王小明")
    session = await laptop.expect("session")
    assert session["customer"] == {"id": "cust-42", "name": "王小明"}
    assert await ask(laptop, "你们几点上班")
    # The phone has no token of this browser: the customer's own session comes back, history and all.
    phone = await customer_socket(client, "cust-42", identity)
    resumed = await phone.expect("session")
    assert resumed["session_id"] == session["session_id"] and resumed["resumed"]
    assert resumed["token"] != session["token"]  # the phone's own token
    history = await phone.expect("history")
    assert "你们几点上班" in [m["text"] for m in history["messages"]]
    # Signed out on the laptop (no claim, the old token): never the customer's chat.
    anonymous = Socket(
        await client.ws_connect(
            "/ws/shopper", params={"shop": SHOP}, protocols=session_protocols(session["token"])
        )
    )
    fresh = await anonymous.expect("session")
    assert fresh["session_id"] != session["session_id"] and fresh["customer"] is None
    for s in (laptop, phone, anonymous):
        await s.close()


async def test_a_forged_hash_is_anonymous_or_refused_by_the_shops_setting(
    client: Client, redis: Redis
) -> None:
    identity, _ = await secrets(client, redis)
    forged = await customer_socket(client, "cust-42", identity, forged=True)
    assert (await forged.expect("session"))["customer"] is None
    await forged.close()
    await configure(client, redis, lambda c: setattr(c.commerce, "refuse_unverified", True))
    with pytest.raises(WSServerHandshakeError) as refused:
        await customer_socket(client, "cust-42", identity, forged=True)
    assert refused.value.status == 403
    # A rotated secret: hashes made with the old one stop verifying.
    headers = await admin_headers_again(client)
    await client.post("/api/admin/commerce/identity-secret", headers=headers)
    with pytest.raises(WSServerHandshakeError):
        await customer_socket(client, "cust-42", identity)


async def test_a_claim_with_an_expiry_verifies_until_it_expires_and_cannot_be_stretched(
    client: Client, redis: Redis
) -> None:
    identity, _ = await secrets(client, redis)
    later = int(time.time()) + 3600
    fresh = await customer_socket(client, "cust-42", identity, exp=later)
    assert (await fresh.expect("session"))["customer"] == {"id": "cust-42", "name": ""}
    await fresh.close()
    # Past its expiry, the same shop's signature vouches for nobody.
    stale = await customer_socket(client, "cust-42", identity, exp=int(time.time()) - 1)
    assert (await stale.expect("session"))["customer"] is None
    await stale.close()
    # An expiry the shop did not sign: a stale claim given a later date, a plain hash given one.
    for stretched in (
        claim("cust-42", identity, exp=later, signed_exp=int(time.time()) - 1),
        offered({**unpack(claim("cust-42", identity)), "exp": later}),
    ):
        ws = Socket(
            await client.ws_connect(
                "/ws/shopper", params={"shop": SHOP}, protocols=[*session_protocols(None), stretched]
            )
        )
        assert (await ws.expect("session"))["customer"] is None
        await ws.close()
    # An id that looks like "id|exp" read the other way: the separator is not in an id's alphabet.
    with pytest.raises(WSServerHandshakeError) as bad:
        await customer_socket(client, f"cust-42|{later}", identity)
    assert bad.value.status == 400


async def test_a_shop_may_require_an_expiry_and_refuse_an_expired_claim_by_name(
    client: Client, redis: Redis
) -> None:
    identity, _ = await secrets(client, redis)
    await configure(client, redis, lambda c: setattr(c.commerce, "require_claim_expiry", True))
    plain = await customer_socket(client, "cust-42", identity)
    assert (await plain.expect("session"))["customer"] is None  # no expiry: anonymous
    await plain.close()
    dated = await customer_socket(client, "cust-42", identity, exp=int(time.time()) + 600)
    assert (await dated.expect("session"))["customer"] == {"id": "cust-42", "name": ""}
    await dated.close()
    await configure(client, redis, lambda c: setattr(c.commerce, "refuse_unverified", True))
    for kw, code in (({"exp": int(time.time()) - 5}, "customer_claim_expired"), ({}, "customer_unverified")):
        resp = await client.get(
            "/ws/shopper",
            params={"shop": SHOP},
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
                "Sec-WebSocket-Protocol": ", ".join(
                    [*session_protocols(None), claim("cust-42", identity, **kw)]  # type: ignore[arg-type]
                ),
            },
        )
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == code


# ---- the bot answers from the customer's orders ----


async def test_the_bot_tells_a_customer_where_their_own_parcel_is(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    await post(client, key, order("SO-1", "cust-42", "shipped"))
    await post(client, key, order("SO-9", "cust-other", "shipped", tracking_number="YT999"))
    me = await customer_socket(client, "cust-42", identity)
    await me.expect("session")
    reply = order_line(await ask(me, "我的快递到哪了"))
    assert "SF1234567890" in reply["text"] and "顺丰速运" in reply["text"]
    assert "YT999" not in reply["text"]
    assert reply["actions"] and reply["actions"][0]["type"] == "transfer"
    # A policy question is still the FAQ's.
    assert all("SF1234567890" not in f["text"] for f in await ask(me, "一般几天发货"))
    await me.close()


async def test_a_question_about_an_order_and_the_faq_gets_both(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    await post(
        client, key, order("SO-1", "cust-42", "delivered", delivered_at=dt.datetime.now(dt.UTC).isoformat())
    )
    me = await customer_socket(client, "cust-42", identity)
    await me.expect("session")
    frames = await ask(me, "包裹破损了怎么处理")
    # The FAQ's answer on damaged parcels first, then what the bot knows of the order.
    assert [f["decision"] for f in frames] == ["answer", "order"]
    assert frames[0]["faq_id"] == "damaged-parcel" and "SO-1" in frames[1]["text"]
    # Less sure what else it is about: the order, then the suggestions.
    frames = await ask(me, "快递到了 但是东西有问题")
    assert [f["decision"] for f in frames] == ["order", "suggest"] and frames[1]["suggestions"]
    await me.close()


async def test_several_open_orders_are_listed_and_one_can_be_named(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    await post(client, key, order("SO-1", "cust-42", "shipped"))
    await post(client, key, order("SO-2", "cust-42", "paid"))
    await post(client, key, order("SO-0", "cust-42", "delivered"))
    me = await customer_socket(client, "cust-42", identity)
    await me.expect("session")
    listing_frame = order_line(await ask(me, "发货了吗"))
    listing = listing_frame["text"]
    assert "SO-1" in listing and "SO-2" in listing and "SO-0" not in listing
    named_frame = order_line(await ask(me, "SO-2 发货了吗"))
    named = named_frame["text"]
    assert "SO-2" in named and "48" in named  # paid, not shipped: the dispatch promise
    await me.close()


async def test_others_get_the_faq_and_a_customer_without_that_order_a_human(
    client: Client, redis: Redis
) -> None:
    identity, key = await secrets(client, redis)
    await post(client, key, order("SO-1", "cust-42", "shipped"))
    # Anonymous: the FAQ's answer as for anyone (with its "talk to a human" action), no order.
    stranger = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    await stranger.expect("session")
    [faq] = await ask(stranger, "我的快递到哪了")
    assert "SF1234567890" not in faq["text"] and faq["decision"] != "order"
    assert faq["actions"][0]["type"] == "transfer"
    await stranger.close()
    # Signed in, with no order on record: the FAQ's answer and the offer of a human.
    newcomer = await customer_socket(client, "cust-7", identity)
    await newcomer.expect("session")
    frames = await ask(newcomer, "我的快递到哪了")
    assert len(frames) == 2 and frames[1]["decision"] == "notice" and frames[1]["actions"]
    assert all("SF1234567890" not in f["text"] for f in frames)
    await newcomer.close()


# ---- what the agent sees ----


async def test_the_agent_sees_the_customer_their_orders_and_the_product(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    await post(client, key, order("SO-1", "cust-42", "delivered"))
    await add_agent(redis, "alice")
    await add_agent(redis, "bob")
    desk = await agent(client, "alice")
    me = await customer_socket(client, "cust-42", identity, name="王小明")
    await me.expect("session")
    product = {
        "id": "kettle-1",
        "title": "<b>电热水壶</b>",
        "price": 129,
        "image": "https://img.example/k.png",
    }
    await me.send({"type": "product", "product": product})
    await me.send({"type": "transfer"})
    assigned = (await desk.expect("assigned"))["conversation"]
    assert assigned["shopper"]["customer"] == {"id": "cust-42", "name": "王小明"}
    assert assigned["product"]["title"] == "<b>电热水壶</b>"  # data; the console renders it as text
    assert any(line.get("event") == "product" for line in assigned["transcript"])
    # The shopper navigates: the agent gets the new product live; the shopper sees nothing of it.
    await me.send({"type": "product", "product": {"id": "cup-2", "title": "保温杯"}})
    moved = await desk.expect("viewing", conversation_id=assigned["id"])
    assert moved["product"] == {"id": "cup-2", "title": "保温杯"}
    assert all(f.get("event") != "product" for f in await me.silent(0.3))

    token = await login(client, "alice")
    resp = await client.get(
        f"/api/conversations/{assigned['id']}/customer", headers={"Authorization": f"Bearer {token}"}
    )
    view = await resp.json()
    assert view["customer"]["id"] == "cust-42"
    assert [o["order"]["id"] for o in view["orders"]] == ["SO-1"]
    assert view["product"]["id"] == "cup-2"
    other = await login(client, "bob")
    resp = await client.get(
        f"/api/conversations/{assigned['id']}/customer", headers={"Authorization": f"Bearer {other}"}
    )
    assert resp.status == 403
    for s in (desk, me):
        await s.close()


async def test_a_bad_product_is_an_error_frame(client: Client) -> None:
    me = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    await me.expect("session")
    await me.send({"type": "product", "product": {"id": "k1", "title": "x", "image": "javascript:alert(1)"}})
    error = await me.expect("error")
    assert "image" in error["message"]
    await me.send({"type": "product", "product": {"id": "k1", "title": "x" * 500}})
    assert "title" in (await me.expect("error"))["message"]
    await me.close()


async def test_after_sale_customers_go_to_the_after_sale_group(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    store = ShopStore(redis, SHOP)
    config = await store.config()
    config.groups = ["general", "aftersale"]
    config.commerce.after_sale_group = "aftersale"
    await store.save_config(config)
    client.app[context_key].forget_config(SHOP)
    await add_agent(redis, "carol", groups=["aftersale"])
    desk = await agent(client, "carol")
    await post(client, key, order("SO-1", "cust-42", "delivered"))
    me = await customer_socket(client, "cust-42", identity)
    await me.expect("session")
    await me.send({"type": "transfer"})
    assigned = (await desk.expect("assigned"))["conversation"]
    assert assigned["group"] == "aftersale"
    for s in (desk, me):
        await s.close()


# ---- 催付 ----


async def test_an_unpaid_order_placed_in_a_chat_flags_the_agent_who_did_not_remind(
    client: Client, redis: Redis
) -> None:
    identity, key = await secrets(client, redis)
    alice = await add_agent(redis, "alice", capacity=2)
    desk = await agent(client, "alice")
    placed = dt.datetime.now(dt.UTC)
    ctx = client.app[context_key]
    conversations = {}
    for customer, words in (("cust-1", "好的，有需要再联系"), ("cust-2", "亲，记得尽快付款哦")):
        me = await customer_socket(client, customer, identity)
        await me.expect("session")
        await ask(me, "这个杯子有红色吗")
        await me.send({"type": "transfer"})
        conversation = (await desk.expect("assigned"))["conversation"]["id"]
        conversations[customer] = conversation
        await desk.send(
            {"type": "message", "conversation_id": conversation, "text": words, "client_msg_id": customer}
        )
        await desk.expect("ack")
        await post(client, key, order(f"SO-{customer}", customer, "created", created_at=placed.isoformat()))
    # Fifteen minutes on: the one who did not remind is flagged and nudged.
    flagged = await check_payments(ctx, now=int(placed.timestamp() * 1000) + 16 * 60_000)
    assert flagged == 1
    nudge = await desk.expect("payment_due")
    assert (nudge["order_id"], nudge["conversation_id"]) == ("SO-cust-1", conversations["cust-1"])
    resp = await client.get(
        "/api/admin/qa", params={"rule": "no_payment_reminder"}, headers=await admin_headers_again(client)
    )
    flags = (await resp.json())["items"]
    assert [(f["agent_id"], f["conversation_id"]) for f in flags] == [(alice, conversations["cust-1"])]
    assert "SO-cust-1" in flags[0]["detail"]
    # Claimed once: a second run finds nothing due.
    assert await check_payments(ctx, now=int(placed.timestamp() * 1000) + 17 * 60_000) == 0


# ---- sales numbers ----


async def test_sales_numbers_attribute_orders_to_the_last_chat(client: Client, redis: Redis) -> None:
    identity, key = await secrets(client, redis)
    alice = await add_agent(redis, "alice", capacity=3)
    desk = await agent(client, "alice")
    now = dt.datetime.now(dt.UTC).isoformat()
    # Two customers chat with Alice, one only with the bot, one never chats.
    for customer in ("c-a", "c-b", "c-bot"):
        me = await customer_socket(client, customer, identity)
        await me.expect("session")
        await ask(me, "这件有红色吗")
        if customer != "c-bot":
            await me.send({"type": "transfer"})
            await desk.expect("assigned")
        await me.close()
    await post(client, key, order("O-1", "c-a", "paid", created_at=now, amount="100.00"))
    await post(client, key, order("O-2", "c-a", "shipped", created_at=now, amount="50.00"))
    await post(client, key, order("O-3", "c-bot", "paid", created_at=now, amount="30.00"))
    await post(client, key, order("O-4", "c-b", "cancelled", created_at=now, amount="999.00"))
    await post(client, key, order("O-5", "c-none", "paid", created_at=now, amount="20.00"))
    resp = await client.get("/api/admin/sales", headers=await admin_headers_again(client))
    sales = await resp.json()
    rows = {r["by"]: r for r in sales["rows"]}
    assert (rows[alice]["inquiries"], rows[alice]["buyers"], rows[alice]["orders"]) == (2, 1, 2)
    assert (rows[alice]["sales"], rows[alice]["average_order"], rows[alice]["conversion"]) == (
        "150.00",
        "150.00",
        0.5,
    )
    assert (rows["bot"]["inquiries"], rows["bot"]["buyers"], rows["bot"]["sales"]) == (1, 1, "30.00")
    assert (sales["team"]["inquiries"], sales["team"]["sales"]) == (3, "180.00")
    # The shop's own numbers count every sold order, chatted or not (the cancelled one is no sale).
    assert (sales["shop_orders"], sales["shop_sales"], sales["shop_average_order"]) == (4, "200.00", "66.67")
    await desk.close()


async def test_the_demo_customer_is_only_there_for_a_demo_shop(client: Client, redis: Redis) -> None:
    resp = await client.get("/api/shops/demo/demo-customer")
    assert resp.status == 404
    # A demo shop's page is handed a claim that lasts a day, and it verifies.
    identity, _ = await secrets(client, redis)
    await client.app[context_key].commerce(SHOP).set_demo_customer("cust-7", "演示顾客")
    demo = await (await client.get(f"/api/shops/{SHOP}/demo-customer")).json()
    assert 23 * 3600 < demo["exp"] - time.time() <= 24 * 3600
    offer = offered({k: demo[k] for k in ("id", "name", "hash", "exp")})
    ws = Socket(
        await client.ws_connect(
            "/ws/shopper", params={"shop": SHOP}, protocols=[*session_protocols(None), offer]
        )
    )
    assert (await ws.expect("session"))["customer"] == {"id": "cust-7", "name": "演示顾客"}
    await ws.close()


async def test_what_the_shopper_looked_at_is_for_the_agent_only(client: Client) -> None:
    me = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    session = await me.expect("session")
    await me.send({"type": "product", "product": {"id": "k1", "title": "电热水壶"}})
    await ask(me, "你好")
    await me.close()
    back = Socket(
        await client.ws_connect(
            "/ws/shopper", params={"shop": SHOP}, protocols=session_protocols(session["token"])
        )
    )
    assert (await back.expect("session"))["resumed"]
    history = await back.expect("history")
    assert [m for m in history["messages"] if m.get("event") == "product"] == []
    assert "你好" in [m["text"] for m in history["messages"]]
    # The reconnected page tells the same product again: nothing is written twice.
    await back.send({"type": "product", "product": {"id": "k1", "title": "电热水壶"}})
    await ask(back, "还在吗")
    entries = await client.app[context_key].sessions(SHOP).entries(session["session_id"])
    assert len([e for e in entries if e.event == "product"]) == 1
    await back.close()


async def test_a_products_link_must_lead_to_the_page_or_a_site_the_shop_allows(
    client: Client, redis: Redis
) -> None:
    await configure(client, redis, lambda c: setattr(c, "allowed_origins", ["https://*.shop.example"]))
    sessions = client.app[context_key].sessions(SHOP)

    page = Socket(
        await client.ws_connect(
            "/ws/shopper", params={"shop": SHOP}, headers={"Origin": "https://www.shop.example"}
        )
    )
    session = await page.expect("session")
    await page.send(
        {"type": "product", "product": {"id": "k1", "title": "水壶", "url": "https://cdn.shop.example/k1"}}
    )
    await ask(page, "你好")
    assert (await sessions.shopper(session["session_id"])).product == {
        "id": "k1",
        "title": "水壶",
        "url": "https://cdn.shop.example/k1",
    }
    # A stranger's site: the card is kept without the link, and the page is told why.
    await page.send(
        {
            "type": "product",
            "product": {"id": "k2", "title": "水杯", "url": "https://shop.example.evil.test/k2"},
        }
    )
    error = await page.expect("error")
    assert error["code"] == "product_url_not_allowed" and error["in_reply_to"] == {"type": "product"}
    assert (await sessions.shopper(session["session_id"])).product == {"id": "k2", "title": "水杯"}
    await page.close()

    # kefu's own page (the demo shop) links to its own origin.
    own = f"http://{client.server.host}:{client.server.port}"
    demo = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}, headers={"Origin": own}))
    session = await demo.expect("session")
    await demo.send({"type": "product", "product": {"id": "k3", "title": "茶具", "url": f"{own}/item/k3"}})
    await ask(demo, "你好")
    assert (await sessions.shopper(session["session_id"])).product == {
        "id": "k3",
        "title": "茶具",
        "url": f"{own}/item/k3",
    }
    await demo.close()


async def test_signing_in_mid_chat_keeps_the_chat_but_never_an_old_strangers_history(
    client: Client, redis: Redis
) -> None:
    identity, _ = await secrets(client, redis)
    # Chatting anonymously, then asked to sign in: the same chat goes on, now theirs.
    anonymous = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    first = await anonymous.expect("session")
    await ask(anonymous, "我想查一下订单")
    await anonymous.close()
    signed = await customer_socket(client, "cust-1", identity, token=first["token"])
    again = await signed.expect("session")
    assert (again["session_id"], again["resumed"], again["customer"]["id"]) == (
        first["session_id"],
        True,
        "cust-1",
    )
    await signed.close()
    # Someone asked something in this browser long ago: whoever signs in next starts afresh.
    stranger = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    old = await stranger.expect("session")
    await ask(stranger, "我的地址是幸福路 8 号")
    await stranger.close()
    conversation = await redis.hget(f"kefu:{{{SHOP}}}:session:{old['session_id']}", "conv")
    await redis.hset(f"kefu:{{{SHOP}}}:conv:{conversation}", "last_activity", 0)
    later = await customer_socket(client, "cust-2", identity, token=old["token"])
    fresh = await later.expect("session")
    assert fresh["session_id"] != old["session_id"] and not fresh["resumed"]
    assert all("幸福路" not in str(f) for f in await later.silent(0.3))
    await later.close()


async def test_a_customers_new_devices_count_against_the_clients_budget(
    aiohttp_client: Any, redis_server: RedisServer, redis: Redis, shop: str
) -> None:
    settings = make_settings(redis_server, sessions_per_client_per_min=3)
    client = await aiohttp_client(create_app(settings))
    identity = await client.app[context_key].commerce(shop).identity_secret()
    sockets = []
    for _ in range(3):  # the session, then two more devices
        sockets.append(await customer_socket(client, "cust-1", identity))
        await sockets[-1].expect("session")
    with pytest.raises(WSServerHandshakeError) as refused:
        await customer_socket(client, "cust-1", identity)
    assert refused.value.status == 429
    for s in sockets:
        await s.close()


async def test_only_a_hash_that_does_not_verify_spends_the_sign_in_budget(
    aiohttp_client: Any, redis_server: RedisServer, shop: str
) -> None:
    """An office whose tabs were left open overnight reconnects all at once with claims that
    ran out: they chat anonymously, and are never turned away for it; guessed hashes are."""
    client = await aiohttp_client(create_app(make_settings(redis_server, sessions_per_client_per_min=3)))
    identity = await client.app[context_key].commerce(shop).identity_secret()
    first = Socket(await client.ws_connect("/ws/shopper", params={"shop": SHOP}))
    token = (await first.expect("session"))["token"]
    await first.close()
    stale = int(time.time()) - 60
    for _ in range(6):  # twice the budget, each resuming the one anonymous session
        s = await customer_socket(client, "cust-1", identity, token=token, exp=stale)
        assert (await s.expect("session"))["customer"] is None
        await s.close()
    for _ in range(3):
        s = await customer_socket(client, "cust-1", identity, token=token, forged=True)
        await s.expect("session")
        await s.close()
    with pytest.raises(WSServerHandshakeError) as refused:
        await customer_socket(client, "cust-1", identity, token=token, forged=True)
    assert refused.value.status == 429
    metrics = client.app[context_key].metrics.unverified_customers
    assert metrics.labels(SHOP, "expired")._value.get() == 6
    assert metrics.labels(SHOP, "hash")._value.get() == 4


@pytest.mark.parametrize("exp", [1.9e9, "1900000000", -1, True, 2**60])
async def test_an_expiry_that_is_not_whole_unix_seconds_is_refused(client: Client, exp: Any) -> None:
    offer = offered({"id": "cust-42", "name": "", "hash": "0" * 64, "exp": exp})
    with pytest.raises(WSServerHandshakeError) as bad:
        await client.ws_connect("/ws/shopper", params={"shop": SHOP}, protocols=["kefu.v1", offer])
    assert bad.value.status == 400


@pytest.mark.parametrize(
    ("url", "page", "patterns", "allowed"),
    [
        ("https://shop.example/p/1", "https://shop.example", [], True),  # the page's own
        ("HTTPS://Shop.Example:443/p", "https://shop.example", [], True),  # as a browser reads it
        ("https://cdn.shop.example/p", None, ["https://*.shop.example"], True),
        ("http://localhost:5173/p", None, ["http://localhost:*"], True),
        ("https://evil.test/p", "https://shop.example", ["https://*.shop.example"], False),
        # Credentials before the host: the browser goes to evil.test.
        ("http://localhost:1@evil.test/x", None, ["http://localhost:*"], False),
        ("https://shop.example@evil.test/x", "https://shop.example", [], False),
        # A backslash is a browser's slash: evil.test/.shop.example.
        ("https://evil.test\\.shop.example/k", None, ["https://*.shop.example"], False),
        ("https://shop.example:8443/p", "https://shop.example", [], False),  # another port
        ("https://evil.test/p", None, ["*"], False),  # "any page may chat" names no site
        ("javascript:alert(1)", None, ["*"], False),
    ],
)
def test_a_product_link_is_judged_as_a_browser_would_follow_it(
    url: str, page: str | None, patterns: list[str], allowed: bool
) -> None:
    assert url_on_allowed_origin(url, page, patterns) is allowed


def test_an_order_is_named_only_by_its_whole_id() -> None:
    from kefu.server.orders import pick_orders
    from kefu.store.commerce import Order, StoredOrder

    def stored(order_id: str, status: str) -> StoredOrder:
        return StoredOrder(order=Order.model_validate(order(order_id, "c1", status)))

    orders = [stored("SO-1", "shipped"), stored("SO-12", "paid"), stored("1001", "paid")]
    assert [o.order.id for o in pick_orders(orders, "SO-12 发货了吗")] == ["SO-12"]
    assert [o.order.id for o in pick_orders(orders, "so-1到哪了")] == ["SO-1"]
    # "10012" names no order: the open ones are listed to pick from.
    assert [o.order.id for o in pick_orders(orders, "10012到哪了")] == ["SO-1", "SO-12", "1001"]


def test_an_inquiry_is_a_chat_where_the_shopper_said_something() -> None:
    from kefu.reports.records import ConversationRecord
    from kefu.reports.sales import compute_sales

    def record(cid: str, session: str, said: int) -> ConversationRecord:
        return ConversationRecord(
            id=cid, session=session, state="closed", agent="a1", created=1, n_shopper=said
        )

    sales = compute_sales(0, 10, [record("c1", "s1", 2), record("c2", "s2", 0)], [], {})
    assert [(r.by, r.inquiries) for r in sales.rows] == [("a1", 1), ("bot", 0)]


async def test_a_rotated_key_stops_working_on_every_instance_at_once(
    client: Client, aiohttp_client: Any, redis_server: RedisServer, redis: Redis
) -> None:
    _, key = await secrets(client, redis)
    other = await aiohttp_client(create_app(make_settings(redis_server)))
    assert (await post(other, key, order("A1", "c1")))[0] == 200  # remembered there now
    await client.post("/api/admin/commerce/api-key", headers=await admin_headers_again(client))
    # The other instance forgets the key on the event, not after its cache expires.
    for _ in range(20):
        if (await post(other, key, order("A2", "c1")))[0] == 401:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the old key still works on the other instance after 1 s")
