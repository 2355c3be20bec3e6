"""The console's customer panel in headless Chromium: a signed-in customer (a real HMAC claim on
a shopper socket opened from Python) with an order posted to the orders API, the product they
look at (hostile markup in its title stays text) and the card following them to another
product; then a 催付 nudge whose button fills the composer without sending."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import aiohttp
from playwright.async_api import BrowserContext, expect
from redis.asyncio import Redis

from kefu.store.events import PaymentDue, publish
from tests.browser.conftest import PASSWORD, SHOP_ORIGIN, Watch, console_login, new_shop, shot

HOSTILE_TITLE = "<img src=x onerror=window.__pwned=1>电热水壶"


def customer_protocol(customer_id: str, name: str, secret: str) -> str:
    """The subprotocol a shop's page offers for its signed-in customer (hash made server side)."""
    digest = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    claim = json.dumps({"id": customer_id, "name": name, "hash": digest}).encode()
    return "kefu.customer." + base64.urlsafe_b64encode(claim).decode().rstrip("=")


async def shop_secrets(http: aiohttp.ClientSession, server: str, shop: str) -> tuple[str, str]:
    """(identity secret, orders API key), as the shop's admin gets them."""
    async with http.post(
        f"{server}/api/login", json={"shop": shop, "username": "boss", "password": PASSWORD}
    ) as resp:
        admin = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    async with http.get(f"{server}/api/admin/commerce", headers=admin) as resp:
        identity = (await resp.json())["identity_secret"]
    async with http.post(f"{server}/api/admin/commerce/api-key", headers=admin) as resp:
        key = (await resp.json())["api_key"]
    return identity, key


async def post_order(
    http: aiohttp.ClientSession, server: str, shop: str, key: str, order: dict[str, Any]
) -> None:
    async with http.post(
        f"{server}/api/shops/{shop}/orders", json=order, headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        assert resp.status in (200, 201), await resp.text()


async def next_frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next frame of type `kind` (frames may come in a `batch`)."""
    while True:
        frame: dict[str, Any] = json.loads((await ws.receive(timeout=5)).data)
        each: dict[str, Any]
        for each in frame["frames"] if frame["type"] == "batch" else [frame]:
            if each["type"] == kind:
                return each


async def test_agent_sees_the_customer_their_orders_the_product_and_a_payment_nudge(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    now = dt.datetime.now(dt.UTC)
    async with aiohttp.ClientSession() as http:
        identity, key = await shop_secrets(http, server, shop)
        await post_order(
            http,
            server,
            shop,
            key,
            {
                "id": "SO-1",
                "customer_id": "cust-1",
                "version": 1,
                "status": "shipped",
                "amount": "199.00",
                "items": [{"title": "保温杯", "quantity": 2}],
                "created_at": (now - dt.timedelta(days=2)).isoformat(),
                "paid_at": (now - dt.timedelta(days=2)).isoformat(),
                "shipped_at": (now - dt.timedelta(days=1)).isoformat(),
                "courier": "顺丰速运",
                "tracking_number": "SF1234567890",
            },
        )
        agent = watch.attach(await context.new_page())
        await console_login(agent, server, shop, "a1")

        shopper = await http.ws_connect(
            server.replace("http", "ws", 1) + f"/ws/shopper?shop={shop}",
            protocols=["kefu.v1", customer_protocol("cust-1", "王小明", identity)],
            headers={"Origin": SHOP_ORIGIN},
        )
        await next_frame(shopper, "session")
        product = {"id": "k1", "title": HOSTILE_TITLE, "price": 129, "image": "https://example.invalid/k.png"}
        await shopper.send_json({"type": "product", "product": product})
        await shopper.send_json({"type": "transfer"})

        # Assigned and opened by itself (nothing else was open): the customer beside the chat.
        panel = agent.get_by_test_id("customer-panel")
        await expect(panel).to_be_visible()
        await expect(agent.get_by_test_id("chat-title")).to_have_text("王小明")
        await expect(panel.get_by_test_id("customer-name")).to_have_text("王小明")
        await expect(panel.get_by_test_id("customer-verified")).to_be_visible()
        await expect(panel.get_by_test_id("customer-id")).to_have_text("cust-1")
        order = panel.locator('[data-testid="order-item"][data-order-id="SO-1"]')
        await expect(order.get_by_test_id("order-status")).to_have_text("已发货")
        await expect(order.get_by_test_id("order-tracking")).to_contain_text("SF1234567890")
        await expect(order.get_by_test_id("order-tracking")).to_contain_text("顺丰速运")
        await expect(order.get_by_test_id("order-amount")).to_contain_text("199.00")
        await expect(order.get_by_test_id("order-items")).to_contain_text("保温杯")
        await expect(panel.get_by_test_id("product-title")).to_have_text(HOSTILE_TITLE)
        await expect(panel.get_by_test_id("product-price")).to_contain_text("129.00")
        await expect(
            agent.locator('[data-testid="transcript-line"][data-event="product"]').first
        ).to_contain_text("电热水壶")
        assert await agent.evaluate("typeof window.__pwned") == "undefined"
        assert await agent.locator("img[src=x]").count() == 0

        # The shopper moves to another product: the card follows, the transcript notes it.
        await shopper.send_json(
            {
                "type": "product",
                "product": {
                    "id": "c2",
                    "title": "保温杯 500ml",
                    "price": "59.90",
                    "url": f"{SHOP_ORIGIN}/c2",
                },
            }
        )
        await expect(panel.get_by_test_id("product-title")).to_have_text("保温杯 500ml")
        link = panel.get_by_test_id("product-link")
        await expect(link).to_have_attribute("href", f"{SHOP_ORIGIN}/c2")
        await expect(link).to_contain_text(SHOP_ORIGIN.split("//")[1])  # where it leads, in view
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("target", "_blank")
        await expect(agent.get_by_test_id("product-note").last).to_have_text("正在看：保温杯 500ml")
        # A page that names a stranger's site as the product's page: the card, never the link.
        await shopper.send_json(
            {
                "type": "product",
                "product": {"id": "c3", "title": "茶杯", "url": "https://login-shop.example.invalid/c3"},
            }
        )
        await expect(panel.get_by_test_id("product-title")).to_have_text("茶杯")
        await expect(panel.get_by_test_id("product-link")).to_have_count(0)
        await shopper.send_json({"type": "message", "text": "这个杯子我要了", "client_msg_id": "m1"})
        await expect(
            agent.locator('[data-testid="transcript-line"][data-from="shopper"]').last
        ).to_contain_text("这个杯子我要了")

        # 催付: an order placed in this chat is due (the check runs in the server process, so
        # the test publishes the event that check would).
        item = agent.get_by_test_id("conversation-item").first
        conversation_id = await item.get_attribute("data-conversation-id")
        assert conversation_id
        agent_id = await store.hget(f"kefu:{{{shop}}}:conv:{conversation_id}", "agent")
        assert agent_id
        due = {
            "id": "SO-2",
            "customer_id": "cust-1",
            "version": 1,
            "status": "created",
            "amount": "88.00",
            "items": [{"title": "保温杯 500ml", "quantity": 1, "price": "88.00"}],
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        await post_order(http, server, shop, key, due)
        await publish(
            store,
            shop,
            PaymentDue(
                agent_id=str(agent_id),
                conversation_id=conversation_id,
                order_id="SO-2",
                amount="88.00",
                currency="CNY",
            ),
        )
        nudge = agent.locator('[data-testid="payment-nudge"][data-order-id="SO-2"]')
        await expect(nudge).to_contain_text("SO-2")
        await expect(nudge).to_contain_text("88.00")
        await expect(item.get_by_test_id("payment-due-badge")).to_be_visible()
        unpaid = panel.locator('[data-testid="order-item"][data-order-id="SO-2"]')
        await expect(unpaid.get_by_test_id("order-status")).to_have_text("待付款")
        await expect(unpaid).to_contain_text("本次会话下单")  # attributed to this chat
        await shot(agent, "console-customer")
        await nudge.get_by_test_id("payment-remind").click()
        composer = agent.get_by_test_id("composer-input")
        await expect(composer).to_have_value("亲，您的订单 SO-2 还未付款哦，付款后我们会尽快为您发货～")
        assert await agent.locator('[data-testid="transcript-line"][data-from="agent"]').count() == 0
        await nudge.get_by_test_id("payment-dismiss").click()
        await expect(nudge).to_be_hidden()
        await expect(item.get_by_test_id("payment-due-badge")).to_be_hidden()
        assert "SO-2" in await composer.input_value()  # dismissing leaves the draft alone
        await shopper.close()

    # A picture on another site is never fetched (it would tell the shopper's server when the
    # agent looked): the blank tile, and no error.
    assert watch.errors == []
    assert watch.dialogs == []
