"""The demo a newcomer sees with `kefu serve --demo`: the shop page's "signed-in customer"
switch signs in the seeded demo customer, and the bot answers about their orders."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from kefu.redisserver import RedisServer
from kefu.server.cli import _setup_demo
from kefu.settings import Settings
from tests.browser.conftest import Watch, ask, open_widget


async def test_the_demo_customer_hears_where_their_parcel_is(
    context: BrowserContext, server: str, redis_server: RedisServer, watch: Watch
) -> None:
    await _setup_demo(Settings(redis_url=redis_server.url))
    page = watch.attach(await context.new_page())
    await page.goto(server + "/")
    await page.get_by_test_id("shop-signin-toggle").check(force=True)  # styled as a switch
    await expect(page.get_by_test_id("shop-signin-who")).to_contain_text("张小红")
    await open_widget(page)
    await ask(page, "我的快递到哪了")
    messages = page.get_by_test_id("kefu-messages")
    # Two orders in flight: the bot lists them to pick from.
    await expect(messages).to_contain_text("DEMO-1002")
    await expect(messages).to_contain_text("DEMO-1001")
    await ask(page, "DEMO-1001 到哪了")
    await expect(messages).to_contain_text("SF1400123456789")
    # Signed out: the same question gets the FAQ, and no order of theirs.
    await page.get_by_test_id("shop-signin-toggle").uncheck(force=True)
    await page.get_by_test_id("kefu-input").wait_for()
    await ask(page, "DEMO-1001 到哪了")
    await expect(page.locator('[data-testid="kefu-message"][data-from="bot"]').last).not_to_contain_text(
        "SF1400123456789"
    )
    assert watch.errors == []
