"""The widget's commerce context in a real browser, against a real kefu and Redis: a signed-in
customer (data-customer-* on the widget's tag, the hash a real HMAC-SHA256 over the shop's
identity secret) gets the bot's answer from their own order, posted through the orders API; a
forged hash gets nothing of it; the product a page names reaches the server, and nothing in it
runs on the page (static/widget/commerce.js)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import itertools
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect
from redis.asyncio import Redis

from kefu.redisserver import free_port
from kefu.store.keys import ShopKeys
from kefu.store.shops import ShopStore
from tests.browser.conftest import PASSWORD, Watch, ask, html_site, new_shop, open_widget

TRACKING = "SF1234567890"
_customers = itertools.count(1)


@pytest.fixture(scope="module")
def commerce_site(server: str) -> Iterator[str]:
    """A pretend shop site whose widget tag carries `shop` and every data-customer-* and
    data-product-* attribute given in the query (`customer_id=` → data-customer-id)."""

    def page(url: urllib.parse.SplitResult) -> str:
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        shop = html.escape(query.pop("shop", [""])[0], quote=True)
        attrs = "".join(
            f' data-{html.escape(name.replace("_", "-"), quote=True)}="{html.escape(values[0], quote=True)}"'
            for name, values in query.items()
            if name.startswith(("customer_", "product_"))
        )
        return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>Shop</title></head>
          <body><h1>A shop with signed-in customers</h1>
          <script src="{server}/widget.js" data-shop="{shop}" data-lang="zh"{attrs} async></script>
          </body></html>"""

    port = free_port()
    with html_site(port, page):
        yield f"http://127.0.0.1:{port}"  # another origin than kefu's; new_shop allows it


async def commerce_keys(server: str, shop: str) -> tuple[str, str]:
    """The shop's identity secret and a fresh orders API key, through the admin API."""
    async with aiohttp.ClientSession() as http:
        body = {"shop": shop, "username": "boss", "password": PASSWORD}
        async with http.post(f"{server}/api/login", json=body) as resp:
            assert resp.status == 200
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        async with http.get(f"{server}/api/admin/commerce", headers=headers) as resp:
            assert resp.status == 200
            secret = (await resp.json())["identity_secret"]
        async with http.post(f"{server}/api/admin/commerce/api-key", headers=headers) as resp:
            assert resp.status == 200
            key = (await resp.json())["api_key"]
    return secret, key


def order(customer_id: str, order_id: str = "SO-1", *, status: str = "shipped") -> dict[str, Any]:
    placed = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    body: dict[str, Any] = {
        "id": order_id,
        "customer_id": customer_id,
        "version": 1,
        "status": status,
        "amount": "199.00",
        "items": [{"title": "保温杯", "quantity": 1}],
        "created_at": placed.isoformat(),
        "paid_at": (placed + dt.timedelta(minutes=5)).isoformat(),
    }
    if status == "shipped":
        body.update(
            shipped_at=(placed + dt.timedelta(days=1)).isoformat(),
            courier="顺丰速运",
            tracking_number=TRACKING,
        )
    return body


async def post_order(server: str, shop: str, key: str, body: dict[str, Any]) -> None:
    """One order version through the real orders API, as the shop's system sends it."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server}/api/shops/{shop}/orders", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["result"] == "created"


def signed(secret: str, customer_id: str, exp: int | None = None) -> str:
    """What the shop's server computes: hex HMAC-SHA256(identity secret, customer id), of
    "id|exp" for a claim that expires."""
    message = customer_id if exp is None else f"{customer_id}|{exp}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


async def set_commerce(store: Redis, shop: str, **fields: bool) -> None:
    """Change the shop's commerce settings as its admin would."""
    shops = ShopStore(store, shop)
    config = await shops.config()
    config.commerce = config.commerce.model_copy(update=fields)
    await shops.save_config(config)


async def identify(page: Page, customer: str, digest: str, exp: int) -> None:
    """The page's kefu('identify', …) with a claim that expires."""
    await page.evaluate("([id, hash, exp]) => kefu('identify', {id, hash, exp})", [customer, digest, exp])


async def open_page(
    context: BrowserContext, watch: Watch, site: str, *, init: str | None = None, **attrs: str
) -> tuple[Page, list[str]]:
    """The shop page with these widget attributes (and `init` run before any of the page's
    scripts); also returns the URLs of its websockets."""
    page = watch.attach(await context.new_page())
    if init:
        await page.add_init_script(init)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(f"{site}/?" + urllib.parse.urlencode(attrs))
    return page, sockets


def bot_lines(page: Page) -> Locator:
    return page.locator('[data-testid="kefu-message"][data-from="bot"]')


def order_lines(page: Page) -> Locator:
    return page.locator('[data-testid="kefu-message"][data-from="bot"][data-decision="order"]')


def panel(page: Page) -> Locator:
    return page.get_by_test_id("kefu-panel")


async def session_product(store: Redis, page: Page, shop: str) -> dict[str, Any] | None:
    """The product the server holds for the page's session (the widget's token names it)."""
    token = await page.evaluate(f"localStorage.getItem('kefu.{shop}.token')")
    if not token:
        return None
    keys = ShopKeys(shop)
    session_id = await store.get(keys.shopper_token(hashlib.sha256(token.encode()).hexdigest()))
    if session_id is None:
        return None
    raw = await store.hget(keys.session(session_id), "product")
    return json.loads(raw) if raw else None


async def wait_for_product(store: Redis, page: Page, shop: str, product_id: str) -> dict[str, Any]:
    for _ in range(50):
        product = await session_product(store, page, shop)
        if product is not None and product.get("id") == product_id:
            return product
        await page.wait_for_timeout(100)
    raise AssertionError(f"the server never heard of product {product_id!r}")


async def test_a_signed_in_customer_hears_of_their_own_order_and_can_sign_out(
    context: BrowserContext, server: str, store: Redis, watch: Watch, commerce_site: str
) -> None:
    shop = await new_shop(store, admin=True)
    secret, key = await commerce_keys(server, shop)
    customer = f"c-{next(_customers)}"
    await post_order(server, shop, key, order(customer))
    claim = {"customer_id": customer, "customer_name": "张小红", "customer_hash": signed(secret, customer)}
    page, sockets = await open_page(context, watch, commerce_site, shop=shop, **claim)
    await open_widget(page)
    await expect(panel(page)).to_have_attribute("data-identity", "customer")
    assert await store.hget(ShopKeys(shop).customer(customer), "name") == "张小红"  # UTF-8 intact
    await ask(page, "我的快递到哪了")
    # The order's line (the bot may add what the FAQ suggests after it).
    answer = order_lines(page).first
    await expect(answer).to_contain_text(TRACKING)
    # A second order in flight: the bot lists both, one per line, as text.
    await post_order(server, shop, key, order(customer, "SO-2", status="paid"))
    await ask(page, "我的快递到哪了")
    listing = order_lines(page).nth(1)
    await expect(listing).to_contain_text("SO-2")
    text = await listing.get_by_test_id("kefu-message-text").inner_text()
    assert "\n• SO-1" in text and "\n• SO-2" in text, text
    # Nothing of the customer went into a URL: it rode in Sec-WebSocket-Protocol.
    assert sockets and not any(claim["customer_hash"] in url or customer in url for url in sockets)
    customer_token = await page.evaluate(f"localStorage.getItem('kefu.{shop}.token')")

    # Signed out: a new anonymous chat, the customer's lines gone from the screen, the token too.
    await page.evaluate("kefu('identify', null)")
    await expect(panel(page)).to_have_attribute("data-identity", "anonymous")
    await expect(bot_lines(page)).to_have_count(1)  # the new chat's greeting
    await expect(page.get_by_test_id("kefu-messages")).not_to_contain_text(TRACKING)
    anonymous_token = await page.evaluate(f"localStorage.getItem('kefu.{shop}.token')")
    assert anonymous_token and anonymous_token != customer_token
    # Signed in again (kefu('identify')): the customer's one chat is back, history and all.
    await page.evaluate(
        "([id, name, hash]) => kefu('identify', {id, name, hash})",
        [customer, "张小红", claim["customer_hash"]],
    )
    await expect(panel(page)).to_have_attribute("data-identity", "customer")
    await expect(page.get_by_test_id("kefu-messages")).to_contain_text(TRACKING)
    assert watch.errors == []


async def test_a_forged_hash_is_anonymous_and_hears_of_no_order(
    context: BrowserContext, server: str, store: Redis, watch: Watch, commerce_site: str
) -> None:
    shop = await new_shop(store, admin=True)
    _, key = await commerce_keys(server, shop)
    customer = f"c-{next(_customers)}"
    await post_order(server, shop, key, order(customer))
    forged = signed("not-the-shops-secret", customer)
    page, _ = await open_page(
        context, watch, commerce_site, shop=shop, customer_id=customer, customer_hash=forged
    )
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    await open_widget(page)
    await expect(panel(page)).to_have_attribute("data-identity", "unverified")
    await ask(page, "我的快递到哪了")
    # The FAQ's answer, as for any anonymous shopper (with its "talk to a human" action).
    await expect(bot_lines(page).nth(1)).to_be_visible()
    await expect(bot_lines(page).last).not_to_have_attribute("data-decision", "order")
    await expect(page.get_by_test_id("kefu-messages")).not_to_contain_text(TRACKING)
    await expect(page.get_by_test_id("kefu-messages")).not_to_contain_text("SO-1")
    assert any("did not verify" in w for w in warnings), warnings
    assert watch.errors == []


async def test_a_shop_refusing_unverified_customers_stops_the_widget_until_the_page_signs_out(
    context: BrowserContext, server: str, store: Redis, watch: Watch, commerce_site: str
) -> None:
    shop = await new_shop(store, admin=True)
    await set_commerce(store, shop, refuse_unverified=True)
    page, sockets = await open_page(
        context, watch, commerce_site, shop=shop, customer_id="c-x", customer_hash="0" * 64
    )
    await open_widget(page)
    connection = page.get_by_test_id("kefu-connection")
    await expect(connection).to_have_attribute("data-state", "refused", timeout=8000)
    await expect(connection).to_have_attribute("data-reason", "customer_refused")
    await expect(page.get_by_test_id("kefu-input")).to_be_disabled()
    tried = len(sockets)
    assert tried <= 3, sockets
    await page.wait_for_timeout(1500)
    assert len(sockets) == tried  # no more attempts
    # The page signs the shopper out: an anonymous chat works.
    await page.evaluate("kefu('identify', null)")
    await expect(panel(page)).to_have_attribute("data-identity", "anonymous")
    await expect(connection).to_have_attribute("data-state", "open")
    await expect(page.get_by_test_id("kefu-input")).to_be_enabled()
    await expect(bot_lines(page).first).to_be_visible()
    assert watch.errors == []


async def test_a_claim_that_expires_signs_in_until_then_and_a_renewed_one_keeps_the_chat(
    context: BrowserContext, server: str, store: Redis, watch: Watch, commerce_site: str
) -> None:
    shop = await new_shop(store, admin=True)
    await set_commerce(store, shop, require_claim_expiry=True)
    secret, key = await commerce_keys(server, shop)
    customer = f"c-{next(_customers)}"
    await post_order(server, shop, key, order(customer))
    # A page rendered before the claim's expiry: the widget warns, kefu (by its own clock)
    # does not take it.
    stale = int(time.time()) - 60
    page, sockets = await open_page(
        context,
        watch,
        commerce_site,
        shop=shop,
        customer_id=customer,
        customer_hash=signed(secret, customer, stale),
        customer_exp=str(stale),
    )
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    await open_widget(page)
    await expect(panel(page)).to_have_attribute("data-identity", "unverified")
    assert any("expired" in w for w in warnings), warnings
    # Given again (a single-page shop repeating what it rendered): nothing changes.
    await identify(page, customer, signed(secret, customer, stale), stale)
    await ask(page, "在吗")
    # The page gets a fresh claim (kefu('identify')): the anonymous chat becomes the customer's.
    exp = int(time.time()) + 3600
    await identify(page, customer, signed(secret, customer, exp), exp)
    await expect(panel(page)).to_have_attribute("data-identity", "customer")
    await ask(page, "我的快递到哪了")
    await expect(order_lines(page).first).to_contain_text(TRACKING)
    token = await page.evaluate(f"localStorage.getItem('kefu.{shop}.token')")
    opened = len(sockets)
    # Renewed again before it runs out (a later expiry, a new hash): the same chat, nothing lost.
    later = exp + 3600
    await identify(page, customer, signed(secret, customer, later), later)
    await page.wait_for_timeout(500)
    await expect(panel(page)).to_have_attribute("data-identity", "customer")
    await expect(page.get_by_test_id("kefu-messages")).to_contain_text(TRACKING)
    assert await page.evaluate(f"localStorage.getItem('kefu.{shop}.token')") == token
    assert len(sockets) == opened  # the open socket stayed: no reconnect, no replay
    # A claim without an expiry, where the shop requires one, signs nobody in.
    await page.close()
    plain, _ = await open_page(
        context, watch, commerce_site, shop=shop, customer_id=customer, customer_hash=signed(secret, customer)
    )
    await open_widget(plain)
    await expect(panel(plain)).to_have_attribute("data-identity", "unverified")
    assert watch.errors == []


XSS = "<img src=x onerror=window.__pwned=1>"
# What a shop's page runs before the widget's loader: the usual stub that keeps the calls. The
# page keeps its own reference to the stub, as pages do.
STUB = """
window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments); };
window.shopKefu = window.kefu;
kefu('open');
"""


async def test_the_product_on_the_page_reaches_the_server_as_data_and_runs_nothing(
    context: BrowserContext, server: str, store: Redis, watch: Watch, commerce_site: str
) -> None:
    shop = await new_shop(store)
    page, _ = await open_page(
        context,
        watch,
        commerce_site,
        init=STUB,
        shop=shop,
        product_id="mug-1",
        product_title="马克杯",
        product_price="39.90",
        product_image="/img/mug.png",
    )
    await expect(panel(page)).to_be_visible()  # kefu('open') made before the loader ran
    first = await wait_for_product(store, page, shop, "mug-1")
    assert first == {
        "id": "mug-1",
        "title": "马克杯",
        "price": "39.9",
        "image": f"{commerce_site}/img/mug.png",  # read against the page
    }
    # A single-page shop moves on (through its old stub); what kefu would refuse is left out.
    await page.evaluate(
        """(title) => shopKefu('product', {
            id: 'p-1', title, price: 1.234, image: 'javascript:window.__pwned=2', url: '/item/p-1?q=<b>'
        })""",
        XSS,
    )
    product = await wait_for_product(store, page, shop, "p-1")
    assert product == {"id": "p-1", "title": XSS, "url": f"{commerce_site}/item/p-1?q=%3Cb%3E"}
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("img[src=x]").count() == 0
    assert watch.errors == [] and watch.dialogs == []
