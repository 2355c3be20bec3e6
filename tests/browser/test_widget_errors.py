"""The widget on a page where the chat cannot work: an unknown shop id, a page origin the shop
does not allow, a data-shop written in capitals or with spaces. The launcher still shows, the
panel says why in the page's language, the console tells the site developer, and the widget does
not retry a socket that can never open (static/widget/shopinfo.js asks /api/widget/{shop})."""

from __future__ import annotations

import html
import itertools
import os
import urllib.parse
from collections.abc import Iterator

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Locator, Page, expect
from redis.asyncio import Redis

from kefu.faq.corpus import default_corpus
from kefu.redisserver import free_port
from kefu.store.shops import ShopConfig, ShopStore
from tests.browser.conftest import SHOP_ORIGIN, Watch, html_site, new_shop, open_widget

_ids = itertools.count(1)
WATCH_SOCKETS_MS = 3500  # today's backoff would try 3-4 sockets in this time


async def make_shop(store: Redis, *, allowed_origins: list[str]) -> str:
    """A shop with the default FAQ (so it greets) and the given allowed origins."""
    shop = f"werr{next(_ids)}-{os.getpid()}"
    assert await ShopStore(store, shop).create(ShopConfig(name="测试小店", allowed_origins=allowed_origins))
    await ShopStore(store, shop).save_corpus(default_corpus())
    return shop


class Recorder:
    """What a page logged on the console and which websockets it opened."""

    def __init__(self, page: Page) -> None:
        self.console: list[tuple[str, str]] = []
        self.sockets: list[str] = []
        page.on("console", self._console)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def _console(self, msg: ConsoleMessage) -> None:
        self.console.append((msg.type, msg.text))

    def kefu(self, kind: str) -> list[str]:
        """The widget's own messages of one kind ("error", "warning")."""
        return [text for type_, text in self.console if type_ == kind and text.startswith("kefu: ")]


@pytest.fixture(scope="module")
def tag_site(server: str) -> Iterator[str]:
    """A second pretend shop site whose widget tag carries `?data_shop=` exactly as written
    (SHOP_ORIGIN's pages take the shop id from the path)."""

    def page(url: urllib.parse.SplitResult) -> str:
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        data_shop = html.escape(query.get("data_shop", [""])[0], quote=True)
        return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>Shop</title></head>
          <body><h1>Another shop</h1>
          <script src="{server}/widget.js" data-shop="{data_shop}" data-lang="zh" async></script>
          </body></html>"""

    port = free_port()
    with html_site(port, page):
        yield f"http://localhost:{port}"


async def open_tag_page(
    context: BrowserContext, watch: Watch, site: str, data_shop: str
) -> tuple[Page, Recorder]:
    page = watch.attach(await context.new_page())
    seen = Recorder(page)
    await page.goto(f"{site}/?" + urllib.parse.urlencode({"data_shop": data_shop}))
    return page, seen


def connection(page: Page) -> Locator:
    return page.get_by_test_id("kefu-connection")


async def test_an_unknown_shop_says_so_and_stops_retrying(
    context: BrowserContext, server: str, watch: Watch
) -> None:
    page = watch.attach(await context.new_page())
    seen = Recorder(page)
    await page.goto(f"{SHOP_ORIGIN}/no-such-shop")
    await expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    await open_widget(page)
    await expect(connection(page)).to_have_attribute("data-state", "refused")
    await expect(connection(page)).to_have_attribute("data-reason", "unknown_shop")
    await expect(connection(page)).to_have_text("该店铺的在线客服不可用（未知店铺）")
    await expect(page.get_by_test_id("kefu-input")).to_be_disabled()
    await page.wait_for_timeout(WATCH_SOCKETS_MS)
    assert len(seen.sockets) <= 1, seen.sockets
    errors = seen.kefu("error")
    assert len(errors) == 1 and 'unknown shop id "no-such-shop"' in errors[0], seen.console
    # Coming back online or to the tab does not start it again.
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_timeout(500)
    assert len(seen.sockets) <= 1, seen.sockets
    await expect(connection(page)).to_have_attribute("data-state", "refused")
    assert watch.errors == []


async def test_a_page_origin_the_shop_does_not_allow_says_so_in_english(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await make_shop(store, allowed_origins=["https://elsewhere.example"])
    page = watch.attach(await context.new_page())
    seen = Recorder(page)
    await page.goto(f"{SHOP_ORIGIN}/{shop}?lang=en")
    await open_widget(page)
    await expect(connection(page)).to_have_attribute("data-reason", "origin_not_allowed")
    await expect(connection(page)).to_have_text("This website is not allowed to use this shop's chat")
    await page.wait_for_timeout(WATCH_SOCKETS_MS)
    assert len(seen.sockets) <= 1, seen.sockets
    errors = seen.kefu("error")
    assert len(errors) == 1, seen.console
    assert f'origin {SHOP_ORIGIN} is not in the allowed origins of shop "{shop}"' in errors[0]
    # Typing is refused in place, nothing is queued to send.
    await expect(page.get_by_test_id("kefu-send")).to_be_disabled()
    assert await page.get_by_test_id("kefu-message").count() == 0
    assert watch.errors == []


async def test_data_shop_in_capitals_with_spaces_is_normalised_and_the_chat_works(
    context: BrowserContext, server: str, store: Redis, watch: Watch, tag_site: str
) -> None:
    shop = await make_shop(store, allowed_origins=[tag_site])
    page, seen = await open_tag_page(context, watch, tag_site, f"  {shop.capitalize()} ")
    await expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    await open_widget(page)
    greeting = page.locator('[data-testid="kefu-message"][data-from="bot"]').first
    await expect(greeting).to_be_visible()
    await expect(connection(page)).to_have_attribute("data-state", "open")
    warnings = seen.kefu("warning")
    assert len(warnings) == 1 and f'normalised to "{shop}"' in warnings[0], seen.console
    assert seen.kefu("error") == []
    assert all(f"shop={shop}&" in url for url in seen.sockets), seen.sockets
    assert watch.errors == []


async def test_a_data_shop_that_is_no_shop_id_shows_the_launcher_and_says_not_available(
    context: BrowserContext, server: str, watch: Watch, tag_site: str
) -> None:
    asked: list[str] = []
    context.on("request", lambda r: asked.append(r.url) if "/api/widget/" in r.url else None)
    page, seen = await open_tag_page(context, watch, tag_site, "My Shop!")
    await expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    errors = seen.kefu("error")
    assert len(errors) == 1 and 'data-shop "My Shop!" is not a shop id' in errors[0], seen.console
    await open_widget(page)
    await expect(connection(page)).to_have_attribute("data-reason", "invalid_shop")
    await expect(connection(page)).to_have_text("该店铺的在线客服不可用（未知店铺）")
    await page.wait_for_timeout(1000)
    assert seen.sockets == [] and asked == []
    assert watch.errors == []


async def test_when_kefu_cannot_be_asked_the_widget_connects_as_before(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    # A network or server error on the check is no refusal: the chat carries on.
    shop = await new_shop(store)
    page = watch.attach(await context.new_page())
    await page.route(f"{server}/api/widget/**", lambda route: route.abort())
    await page.goto(f"{SHOP_ORIGIN}/{shop}")
    await open_widget(page)
    await expect(page.locator('[data-testid="kefu-message"][data-from="bot"]').first).to_be_visible()
    await expect(connection(page)).to_have_attribute("data-state", "open")
    assert watch.errors == []


async def test_the_unknown_shop_answer_is_readable_from_a_shop_page(
    context: BrowserContext, server: str, watch: Watch
) -> None:
    page = watch.attach(await context.new_page())
    await page.goto(f"{SHOP_ORIGIN}/no-such-shop")
    answer = await page.evaluate(
        """async (url) => {
            try {
                const response = await fetch(url);
                return [response.status, (await response.json()).error.code];
            } catch (e) {
                return [0, String(e)];
            }
        }""",
        f"{server}/api/widget/no-such-shop",
    )
    assert answer == [404, "unknown_shop"]
