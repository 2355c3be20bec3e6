"""More screens in headless Chromium: the states the flow tests pass through without a picture
(console login and empty workspace, admin lists and forms, the widget's cards), for a person
to compare before and after a front-end change."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect
from redis.asyncio import Redis

from tests.browser.conftest import (
    PASSWORD,
    Watch,
    admin_login,
    ask,
    console_login,
    new_shop,
    open_shop,
    open_widget,
    shot,
)
from tests.browser.test_dashboard import record_day


async def test_console_and_admin_screens(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    page = watch.attach(await context.new_page())
    await page.goto(f"{server}/console")
    await page.get_by_test_id("login-shop").fill(shop)
    await page.get_by_test_id("login-username").fill("a1")
    await page.get_by_test_id("login-password").fill(PASSWORD + "-wrong")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await shot(page, "console-login")
    await console_login(page, server, shop, "a1")
    await expect(page.get_by_test_id("chat-empty")).to_be_visible()
    await shot(page, "console-empty")
    await page.get_by_test_id("tickets-tab").click()
    await expect(page.get_by_test_id("tickets-view")).to_be_visible()
    await shot(page, "console-tickets")

    admin = watch.attach(await context.new_page())
    await admin_login(admin, server, shop)
    await admin.get_by_test_id("nav-faq").click()
    await expect(admin.get_by_test_id("faq-row").first).to_be_visible()
    await shot(admin, "admin-faq")
    await admin.get_by_test_id("nav-settings").click()
    await expect(admin.get_by_test_id("settings-hours-always")).to_be_attached()
    await shot(admin, "admin-settings")
    await admin.get_by_test_id("nav-agents").click()
    await expect(admin.get_by_test_id("agents-table")).to_be_visible()
    await shot(admin, "admin-agents")
    assert watch.errors == []


async def test_widget_cards(context: BrowserContext, server: str, store: Redis, watch: Watch) -> None:
    shop = await new_shop(store, agents={"a1": 1})
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "我要转人工")
    await expect(page.get_by_test_id("kefu-offline-form")).to_be_visible()
    await page.get_by_test_id("kefu-offline-submit").click()  # empty: the inline error
    await expect(page.get_by_test_id("kefu-offline-error")).to_be_visible()
    await shot(page, "widget-offline")
    await page.get_by_test_id("kefu-offline-dismiss").click()
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1")
    await page.get_by_test_id("kefu-transfer").click()
    await expect(page.get_by_test_id("kefu-agent-name")).to_be_visible()
    await agent_page.get_by_test_id("conversation-item").first.click()
    await agent_page.get_by_test_id("close-conversation").click()
    await agent_page.get_by_test_id("confirm-ok").click()
    stars = page.get_by_test_id("kefu-rating-star")
    await expect(stars.first).to_be_visible()
    await stars.nth(3).click()
    await shot(page, "widget-rating")
    assert watch.errors == []


async def test_dashboard_agent_table_sorts(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    await record_day(store, shop)
    page = watch.attach(await context.new_page())
    await admin_login(page, server, shop)
    await page.get_by_test_id("nav-dashboard").click()
    await expect(page.get_by_test_id("agent-stats-row")).to_have_count(1)
    table = page.get_by_test_id("agents-stats-table")
    header = table.locator("th", has=page.locator('[data-sort="csat"]'))
    await expect(header).not_to_have_attribute("aria-sort", "descending")
    await table.locator('[data-sort="csat"]').click()
    await expect(header).to_have_attribute("aria-sort", "descending")
    await table.locator('[data-sort="csat"]').click()
    await expect(header).to_have_attribute("aria-sort", "ascending")
    await expect(table.locator('[data-sort="csat"]')).to_be_focused()
    assert watch.errors == []
