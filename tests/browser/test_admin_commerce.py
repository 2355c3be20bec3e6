"""Orders & identity and sales in the admin, in headless Chromium against a real server: the admin
makes and rotates the orders API key (the test then sends an order with it over real HTTP), an
order reply naming an unknown placeholder is refused next to its field, and a sale a real chat
brought in shows up under the agent who took the chat."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from typing import Any

import aiohttp
from playwright.async_api import BrowserContext, Page, expect
from redis.asyncio import Redis

from kefu.store.shops import ShopStore
from tests.browser.conftest import PASSWORD, SHOP_ORIGIN, Watch, admin_login, new_shop, shot


async def frame(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5.0, **fields: Any
) -> dict[str, Any]:
    """The next frame of type `kind` with these fields (frames of a batch one by one)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed while waiting for {kind}: {message!r}")
            data = json.loads(message.data)
            for one in data["frames"] if data.get("type") == "batch" else [data]:
                if one.get("type") == kind and all(one.get(k) == v for k, v in fields.items()):
                    return one  # type: ignore[no-any-return]


def customer_protocol(customer_id: str, name: str, secret: str) -> str:
    """The subprotocol a signed-in customer's widget offers, hashed as the shop's server would."""
    digest = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    claim = json.dumps({"id": customer_id, "name": name, "hash": digest}).encode()
    return "kefu.customer." + base64.urlsafe_b64encode(claim).decode().rstrip("=")


def paid_order(order_id: str, customer_id: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {
        "id": order_id,
        "customer_id": customer_id,
        "version": 1,
        "status": "paid",
        "amount": "199.00",
        "items": [{"title": "保温杯", "quantity": 1}],
        "created_at": now,
        "paid_at": now,
    }


async def make_key(page: Page) -> str:
    """Click create/rotate (confirming a rotation) and read the key shown once."""
    key_box = page.get_by_test_id("commerce-api-key")
    already = await key_box.get_by_test_id("commerce-api-key-status").get_attribute("data-set") == "true"
    old = await key_box.get_by_test_id("commerce-api-key-value").text_content() or ""
    await key_box.get_by_test_id("commerce-api-key-rotate").click()
    if already:
        await page.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    value = key_box.get_by_test_id("commerce-api-key-value")
    await expect(value).not_to_have_text(old or "-")
    await expect(value).to_have_text(re.compile(r"^kefu_.+\..+"))
    return await value.text_content() or ""


async def test_orders_key_templates_and_sales_per_agent(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    page = watch.attach(await context.new_page())
    await admin_login(page, server, shop)
    await page.get_by_test_id("nav-settings").click()
    await page.get_by_test_id("settings-jump-commerce").click()

    # The identity secret is masked until shown.
    secret_el = page.get_by_test_id("commerce-identity-secret")
    await expect(secret_el).to_have_attribute("data-masked", "true")
    await page.get_by_test_id("commerce-identity-show").click()
    await expect(secret_el).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    identity_secret = await secret_el.text_content() or ""

    # The first key needs no confirmation; rotating it does, and the old one stops working.
    await expect(page.get_by_test_id("commerce-api-key-status")).to_have_attribute("data-set", "false")
    first = await make_key(page)
    await expect(page.get_by_test_id("commerce-api-key-status")).to_have_attribute("data-set", "true")
    key = await make_key(page)
    assert key != first
    await expect(page.get_by_test_id("commerce-api-key-note")).to_be_visible()
    await shot(page, "admin-commerce")

    async with aiohttp.ClientSession() as http:
        # A signed-in customer chats, asks for a human; the agent takes the chat and replies.
        resp = await http.post(
            f"{server}/api/login", json={"shop": shop, "username": "a1", "password": PASSWORD}
        )
        login = await resp.json()
        agent_id = login["user"]["id"]
        auth = {"Authorization": f"Bearer {login['token']}"}
        resp = await http.post(f"{server}/api/socket-ticket", headers=auth)
        ticket = (await resp.json())["ticket"]
        ws_base = server.replace("http://", "ws://")
        desk = await http.ws_connect(f"{ws_base}/ws/agent", params={"ticket": ticket})
        await frame(desk, "hello")
        await desk.send_json({"type": "status", "status": "online"})
        await frame(desk, "status", status="online")
        shopper = await http.ws_connect(
            f"{ws_base}/ws/shopper",
            params={"shop": shop},
            protocols=["kefu.v1", customer_protocol("cust-1", "王小明", identity_secret)],
            origin=SHOP_ORIGIN,
        )
        await frame(shopper, "session")
        await shopper.send_json({"type": "message", "text": "这个保温杯有红色的吗", "client_msg_id": "m1"})
        await frame(shopper, "ack", client_msg_id="m1")
        await shopper.send_json({"type": "transfer"})
        assigned = await frame(desk, "assigned")
        assert assigned["conversation"]["shopper"]["customer"]["id"] == "cust-1"
        conversation_id = assigned["conversation"]["id"]
        await desk.send_json(
            {
                "type": "message",
                "conversation_id": conversation_id,
                "text": "有的，红色现货",
                "client_msg_id": "a1",
            }
        )
        await frame(shopper, "agent")

        # The customer pays an order: sent with the new key it is taken; the old key is refused.
        url = f"{server}/api/shops/{shop}/orders"
        resp = await http.post(
            url, json=paid_order("SO-0", "cust-1"), headers={"Authorization": f"Bearer {first}"}
        )
        assert resp.status == 401
        resp = await http.post(
            url, json=paid_order("SO-1", "cust-1"), headers={"Authorization": f"Bearer {key}"}
        )
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["result"] == "created"
        await shopper.close()
        await desk.close()

    # An order reply naming a placeholder kefu does not know is refused next to its field.
    await page.get_by_test_id("settings-order-replies").locator("summary").click()
    paid_zh = page.get_by_test_id("settings-field-commerce-order_replies-paid-zh")
    await paid_zh.fill("您的订单 {order} 已付款，{bogus}")
    await page.get_by_test_id("settings-field-qa-payment_reminder_after_min").fill("20")
    await page.get_by_test_id("settings-save").click()
    error = page.get_by_test_id("settings-error-commerce-order_replies-paid-zh")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("bogus")
    await expect(paid_zh).to_have_attribute("aria-invalid", "true")
    # Fixed, the whole commerce and qa objects save; the key shown once is still on screen.
    await paid_zh.fill("您的订单 {order} 已付款。{promise}")
    await page.get_by_test_id("settings-field-commerce-attribution_window_h").fill("48")
    await page.get_by_test_id("settings-field-commerce-require_claim_expiry").check()
    await page.get_by_test_id("settings-save").click()
    await expect(page.get_by_test_id("settings-saved")).to_be_visible()
    await expect(page.get_by_test_id("settings-field-commerce-attribution_window_h")).to_have_value("48")
    await expect(page.get_by_test_id("settings-field-commerce-require_claim_expiry")).to_be_checked()
    assert (await ShopStore(store, shop).config()).commerce.require_claim_expiry
    await expect(page.get_by_test_id("settings-field-qa-payment_reminder_after_min")).to_have_value("20")
    await expect(page.get_by_test_id("commerce-api-key-value")).to_have_text(key)

    # The sale is the agent's.
    await page.get_by_test_id("nav-sales").click()
    row = page.locator(f'[data-testid="sales-row"][data-by="{agent_id}"]')
    await expect(row).to_have_attribute("data-sales", "199.00")
    await expect(row.locator('[data-col="sales"]')).to_have_text("¥199.00")
    await expect(row.locator('[data-col="inquiries"]')).to_have_text("1")
    await expect(row.locator('[data-col="conversion"]')).to_have_text("100%")
    await expect(page.get_by_test_id("sales-team-row")).to_have_attribute("data-sales", "199.00")
    await expect(page.get_by_test_id("sales-shop-row")).to_have_attribute("data-orders", "1")
    await expect(page.locator(f'[data-testid="chart-sales-bar"][data-by="{agent_id}"]')).to_have_count(1)
    await shot(page, "admin-sales")
    assert watch.errors == []
