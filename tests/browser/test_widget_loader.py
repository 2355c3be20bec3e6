"""The widget's loader: one classic script on a shop page of another origin loads the widget's
ES modules and stylesheets from kefu (CORS), once, and window.kefuWidget works at once."""

from __future__ import annotations

import asyncio

from playwright.async_api import BrowserContext, Response, Route, expect
from redis.asyncio import Redis

from tests.browser.conftest import SHOP_ORIGIN, Watch, new_shop, open_widget


async def test_modules_and_stylesheets_load_cross_origin_with_cors(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store)
    page = watch.attach(await context.new_page())
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r) if r.url.startswith(f"{server}/static/") else None)
    await page.goto(f"{SHOP_ORIGIN}/{shop}")
    await open_widget(page)
    loaded = {r.url.removeprefix(server): r for r in responses}
    assert "/static/widget/main.js" in loaded and "/static/widget/widget.css" in loaded
    assert any(path.startswith("/static/common/") for path in loaded)
    for path, response in loaded.items():
        assert response.status in (200, 304), path
        assert await response.header_value("access-control-allow-origin") == "*", path
    # The public handle works.
    assert await page.evaluate("window.kefuWidget.isOpen") is True
    await page.evaluate("window.kefuWidget.close()")
    await expect(page.get_by_test_id("kefu-panel")).to_be_hidden()
    assert await page.evaluate("window.kefuWidget.isOpen") is False
    await page.evaluate("window.kefuWidget.toggle()")
    await expect(page.get_by_test_id("kefu-panel")).to_be_visible()
    assert watch.errors == []


async def test_a_call_before_the_modules_arrive_is_carried_out_and_a_second_tag_is_ignored(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store)
    page = watch.attach(await context.new_page())

    async def slow(route: Route) -> None:
        await asyncio.sleep(1.0)
        await route.continue_()

    await page.route(f"{server}/static/widget/main.js", slow)
    await page.goto(f"{SHOP_ORIGIN}/{shop}")  # the loader ran; main.js is on its way
    assert await page.evaluate("window.kefuWidget.isOpen") is False
    await page.evaluate("window.kefuWidget.open()")
    # The same tag once more: the widget is there once.
    await page.evaluate(
        """([src, shop]) => {
            const tag = document.createElement("script");
            tag.src = src;
            tag.dataset.shop = shop;
            document.body.append(tag);
        }""",
        [f"{server}/widget.js", shop],
    )
    await expect(page.get_by_test_id("kefu-panel")).to_be_visible()
    await expect(page.get_by_test_id("kefu-message").first).to_be_visible()
    await page.wait_for_timeout(500)
    assert await page.locator("kefu-widget").count() == 1
    assert watch.errors == []


async def test_the_pages_custom_properties_do_not_reach_the_widgets_tokens(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store)
    page = watch.attach(await context.new_page())
    await page.goto(f"{SHOP_ORIGIN}/{shop}")
    # A shop theme that sets the same token names on every element, the widget's host included.
    await page.add_style_tag(
        content="* { --text: rgb(255, 0, 0) !important; --surface: rgb(0, 255, 0) !important; }"
    )
    await open_widget(page)
    greeting = page.locator('[data-testid="kefu-message"][data-from="bot"]').first.get_by_test_id(
        "kefu-message-text"
    )
    await expect(greeting).to_be_visible()
    color, background = await greeting.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
    )
    assert color == "rgb(29, 39, 51)" and background == "rgb(255, 255, 255)"  # base.css: --text, --surface
    assert watch.errors == []
