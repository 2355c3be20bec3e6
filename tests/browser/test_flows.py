"""The front ends in headless Chromium against a real server and Redis."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import aiohttp
from playwright.async_api import BrowserContext, Page, expect
from redis.asyncio import Redis

from kefu.faq.calibration import Calibration
from kefu.faq.corpus import default_corpus
from tests.browser.conftest import (
    ARTIFACTS,
    PASSWORD,
    SHOP_ORIGIN,
    Watch,
    admin_login,
    ask,
    console_login,
    new_shop,
    open_shop,
    open_widget,
    shot,
)

DOCS = Path(__file__).parent.parent.parent / "docs"


def messages(page: Page, sender: str) -> object:
    return page.locator(f'[data-testid="kefu-message"][data-from="{sender}"]')


async def test_shopper_meets_the_bot_then_an_agent_then_rates(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2})
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1")
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await expect(messages(page, "bot").first).to_be_visible()  # the greeting
    await ask(page, "物流三天没动了")
    answer = messages(page, "bot").nth(1)
    await expect(answer).to_have_attribute("data-decision", "answer")
    await expect(answer).to_contain_text("物流")
    transfer = page.get_by_test_id("kefu-transfer")
    await expect(transfer).to_be_visible()
    await transfer.click()
    await expect(page.get_by_test_id("kefu-agent-name")).to_have_text(re.compile("客服a1"))
    # The agent gets the chat with the bot transcript, including what the bot answered.
    item = agent_page.get_by_test_id("conversation-item").first
    await expect(item).to_be_visible()
    await item.click()
    await expect(agent_page.get_by_test_id("faq-tag").first).to_have_attribute(
        "data-faq-id", "tracking-stalled"
    )
    await expect(
        agent_page.locator('[data-testid="transcript-line"][data-from="shopper"]').first
    ).to_contain_text("物流三天没动了")
    await agent_page.get_by_test_id("composer-input").fill("您好，我来帮您查一下物流")
    await agent_page.get_by_test_id("send-button").click()
    await expect(messages(page, "agent").last).to_contain_text("我来帮您查一下物流")
    await ask(page, "好的，谢谢")
    await expect(
        agent_page.locator('[data-testid="transcript-line"][data-from="shopper"]').last
    ).to_contain_text("好的，谢谢")
    await shot(page, "widget-with-agent")
    await shot(agent_page, "console-chat")
    await agent_page.get_by_test_id("close-conversation").click()
    await agent_page.get_by_test_id("confirm-ok").click()
    stars = page.get_by_test_id("kefu-rating-star")
    await expect(stars.first).to_be_visible()
    await stars.nth(4).click()
    await page.get_by_test_id("kefu-rating-submit").click()
    await expect(page.get_by_test_id("kefu-rating")).to_be_hidden()
    conv_ids = await store.zrange(f"kefu:{{{shop}}}:convs", 0, -1)
    ratings = [await store.hget(f"kefu:{{{shop}}}:conv:{c}", "rating") for c in conv_ids]
    assert "5" in ratings
    assert watch.errors == [] and watch.dialogs == []


async def test_offline_shop_takes_a_message_that_reaches_the_console(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 1})
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "我要转人工")
    await expect(page.get_by_test_id("kefu-offline-form")).to_be_visible()
    await page.get_by_test_id("kefu-offline-text").fill("明天上午请联系我，订单 12345 少发了一件")
    await page.get_by_test_id("kefu-offline-contact").fill("13800138000")
    await page.get_by_test_id("kefu-offline-submit").click()
    await expect(page.get_by_test_id("kefu-offline-form")).to_be_hidden()
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1", online=False)
    await agent_page.get_by_test_id("tickets-tab").click()
    ticket = agent_page.get_by_test_id("ticket-item").first
    await expect(ticket).to_contain_text("少发了一件")
    await expect(ticket).to_contain_text("13800138000")
    await agent_page.get_by_test_id("ticket-handle").first.click()
    await expect(agent_page.get_by_test_id("ticket-item")).to_have_count(0)
    assert watch.errors == []


async def test_second_shopper_waits_at_position_one_then_gets_the_agent(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 1})
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1")
    first = await open_shop(context, server, shop, watch)
    await open_widget(first)
    await ask(first, "转人工")
    await expect(first.get_by_test_id("kefu-agent-name")).to_be_visible()
    # A second shopper in a separate browser profile.
    other = await context.browser.new_context(locale="zh-CN")  # type: ignore[union-attr]
    second = await open_shop(other, server, shop, watch)
    await open_widget(second)
    await ask(second, "人工客服")
    status = second.get_by_test_id("kefu-queue-status")
    await expect(status).to_be_visible()
    await expect(status).to_contain_text(re.compile("马上轮到您|前面还有 ?0"))  # nobody ahead: position 1
    await expect(agent_page.get_by_test_id("queue-count")).to_contain_text("1")
    await agent_page.get_by_test_id("conversation-item").first.click()
    await agent_page.get_by_test_id("close-conversation").click()
    await agent_page.get_by_test_id("confirm-ok").click()
    await expect(second.get_by_test_id("kefu-agent-name")).to_have_text(re.compile("客服a1"))
    await expect(status).to_be_hidden()
    await shot(second, "widget-queue-then-agent")
    await other.close()
    assert watch.errors == []


async def test_admin_edits_an_answer_and_the_widget_says_it_at_once(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, admin=True)
    admin = watch.attach(await context.new_page())
    await admin_login(admin, server, shop)
    await admin.get_by_test_id("faq-search").fill("包邮")
    row = admin.locator('[data-testid="faq-row"][data-faq-id="shipping-fee"]')
    await row.get_by_test_id("faq-edit").click()
    answer = admin.get_by_test_id("faq-field-answer")
    await answer.fill("本周全场包邮，不限金额！")
    await shot(admin, "admin-faq-edit")
    await admin.get_by_test_id("faq-save").click()
    await expect(admin.get_by_test_id("faq-dialog")).to_be_hidden()
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "包邮吗")
    await expect(messages(page, "bot").last).to_contain_text("本周全场包邮，不限金额！")
    # "Try a question" explains the match.
    await admin.get_by_test_id("nav-try").click()
    await admin.get_by_test_id("try-input").fill("物流三天没动了")
    await admin.get_by_test_id("try-submit").click()
    await expect(admin.get_by_test_id("try-decision")).to_have_attribute("data-decision", "answer")
    await expect(admin.get_by_test_id("try-faq")).to_contain_text("tracking-stalled")
    # The score is read against the shop's own thresholds (the calibration's, at "balanced":
    # its answer threshold, or the lexical model's certainty when that decided alone).
    calibration = Calibration.default()
    marks = admin.locator(".metric", has=admin.get_by_test_id("try-score")).locator(".metric-marks")
    answer_at = re.compile(f"回答线 ({calibration.answer:.2f}|{calibration.skip_semantic:.2f})（均衡）")
    await expect(marks).to_contain_text(answer_at)
    await expect(marks).to_contain_text(f"建议线 {calibration.suggest:.2f}")
    await shot(admin, "admin-try")
    assert watch.errors == []


XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_html_in_messages_is_shown_as_text_everywhere(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 1})
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1")
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, XSS)
    await expect(messages(page, "shopper").last.get_by_test_id("kefu-message-text")).to_have_text(XSS)
    await ask(page, "转人工")
    await agent_page.get_by_test_id("conversation-item").first.click()
    await expect(
        agent_page.locator('[data-testid="transcript-line"][data-from="shopper"]').first
    ).to_contain_text("<img src=x")
    await agent_page.get_by_test_id("composer-input").fill(XSS)
    await agent_page.get_by_test_id("send-button").click()
    await expect(messages(page, "agent").last.get_by_test_id("kefu-message-text")).to_have_text(XSS)
    await asyncio.sleep(0.3)
    assert watch.dialogs == []
    assert await page.locator("img[src=x]").count() == 0
    assert await agent_page.locator("img[src=x]").count() == 0


async def test_reload_keeps_the_chat_and_hostile_css_cannot_break_the_widget(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store)
    page = await open_shop(context, server, shop, watch, hostile_css=True)
    await open_widget(page)
    launcher = page.get_by_test_id("kefu-launcher")
    box = await page.get_by_test_id("kefu-panel").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 300  # not shrunk by `* {all: unset}`
    await ask(page, "怎么退货")
    await expect(messages(page, "bot").nth(1)).to_have_attribute("data-decision", "answer")
    await shot(page, "widget-hostile-css")
    before = await page.get_by_test_id("kefu-message").all_inner_texts()
    await page.reload()
    # The chat was open: it opens again by itself (clicking the launcher as well would race
    # that and close it).
    await page.get_by_test_id("kefu-input").wait_for()
    await expect(page.get_by_test_id("kefu-message")).to_have_count(len(before))
    assert await page.get_by_test_id("kefu-message").all_inner_texts() == before
    assert launcher is not None and watch.errors == []


async def test_widget_at_360px_and_in_english(
    browser: object, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store)
    ctx = await browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US")  # type: ignore[attr-defined]
    page = watch.attach(await ctx.new_page())
    await page.goto(f"{SHOP_ORIGIN}/{shop}?lang=browser")  # no data-lang: the browser's language
    await open_widget(page)
    panel = await page.get_by_test_id("kefu-panel").bounding_box()
    assert panel is not None and panel["width"] <= 360
    await ask(page, "how long does delivery take?")
    await expect(messages(page, "bot").nth(1)).to_have_attribute("data-decision", "answer")
    await expect(page.get_by_test_id("kefu-transfer")).to_contain_text("human")
    await shot(page, "widget-360px-en")
    await ctx.close()
    assert watch.errors == []


async def test_demo_shop_page_and_screenshots_for_the_readme(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    from kefu.faq.corpus import default_corpus
    from kefu.store.shops import ShopStore

    demo = ShopStore(store, "demo")
    await demo.create()
    await demo.save_corpus(default_corpus())
    page = watch.attach(await context.new_page())
    response = await page.goto(f"{server}/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    await open_widget(page)
    await ask(page, "什么时候发货")
    await expect(messages(page, "bot").nth(1)).to_have_attribute("data-decision", "answer")
    await ask(page, "快递")
    await expect(page.get_by_test_id("kefu-suggestion").first).to_be_visible()
    await shot(page, "demo-shop")
    if os.environ.get("KEFU_UPDATE_DOCS"):  # refresh the README's picture on purpose only
        shutil.copy(ARTIFACTS / "demo-shop.png", DOCS / "screenshot-widget.png")
    assert watch.errors == []


async def test_a_clicked_suggestion_is_learned_approved_and_then_answered(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, admin=True)
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "想问下快递的事")
    bot = messages(page, "bot").last
    await expect(bot).to_have_attribute("data-decision", "suggest")
    chip = bot.get_by_test_id("kefu-suggestion").first
    faq_id = await chip.get_attribute("data-faq-id")
    assert faq_id
    await chip.click()
    await expect(messages(page, "bot").last).to_have_attribute("data-decision", "answer")
    # The admin sees what the bot learned, beside the unanswered questions, and approves it.
    admin = watch.attach(await context.new_page())
    await admin_login(admin, server, shop)
    await admin.get_by_test_id("nav-unanswered").click()
    row = admin.get_by_test_id("learned-row").first
    await expect(row.get_by_test_id("learned-text")).to_have_text("想问下快递的事")
    await expect(row).to_have_attribute("data-faq-id", faq_id)
    await expect(row.get_by_test_id("learned-count")).to_have_attribute("data-count", "1")
    await shot(admin, "admin-learned")
    await row.get_by_test_id("learned-approve").click()
    await expect(admin.get_by_test_id("learned-row")).to_have_count(0)
    # A new shopper's same question is now answered directly, with that FAQ.
    assert context.browser is not None
    fresh = await context.browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        other = await open_shop(fresh, server, shop, watch)
        await open_widget(other)
        await ask(other, "想问下快递的事")
        answer = messages(other, "bot").last
        await expect(answer).to_have_attribute("data-decision", "answer")
        faq = default_corpus().get(faq_id)
        assert faq is not None
        await expect(answer.get_by_test_id("kefu-message-text")).to_have_text(faq.answer)
    finally:
        await fresh.close()
    assert watch.errors == []


async def test_group_names_in_chinese_and_errors_in_the_pages_language(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    admin = watch.attach(await context.new_page())
    await admin_login(admin, server, shop)
    await admin.get_by_test_id("nav-settings").click()
    groups = admin.get_by_test_id("settings-field-groups")
    # A Chinese name alone is not an id: the admin is told, in Chinese, how to write it.
    await groups.fill("general\n售前")
    await admin.get_by_test_id("settings-save").click()
    error = admin.get_by_test_id("settings-error-groups")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("第 2 行")
    await expect(error).to_contain_text("presale 售前")
    await expect(error).not_to_contain_text("String should match")
    await groups.fill("general 通用\npresale 售前")
    # The bot's confidence is one of three levels, said in the page's language.
    confidence = admin.get_by_test_id("settings-field-bot_confidence")
    await expect(confidence).to_have_value("balanced")
    await expect(confidence.locator("option")).to_have_text(
        [re.compile("^谨慎"), re.compile("^均衡"), re.compile("^大胆")]
    )
    await confidence.select_option("cautious")
    await admin.get_by_test_id("settings-save").click()
    await expect(admin.get_by_test_id("settings-saved")).to_be_visible()
    await expect(admin.get_by_test_id("settings-field-default_group")).to_contain_text("售前 (presale)")
    await expect(confidence).to_have_value("cautious")
    # The console shows the names: the chat's group tag and the transfer choices.
    agent_page = watch.attach(await context.new_page())
    await console_login(agent_page, server, shop, "a1")
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "转人工")
    await expect(page.get_by_test_id("kefu-agent-name")).to_have_text(re.compile("客服a1"))
    item = agent_page.get_by_test_id("conversation-item").first
    await expect(item.get_by_test_id("conversation-group")).to_have_text("通用")
    await item.click()
    options = agent_page.get_by_test_id("transfer-select").locator("option")
    await expect(options).to_have_text(["转接到分组", "售前"])
    assert watch.errors == []


async def test_logout_hands_the_chat_over_and_a_disabled_agent_is_signed_out(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 1, "a2": 1}, admin=True)
    first = watch.attach(await context.new_page())
    await console_login(first, server, shop, "a1")
    page = await open_shop(context, server, shop, watch)
    await open_widget(page)
    await ask(page, "转人工")
    await expect(page.get_by_test_id("kefu-agent-name")).to_have_text(re.compile("客服a1"))
    second = watch.attach(await context.new_page())
    await console_login(second, server, shop, "a2")
    # a1 signs out: the shopper is handed to a2 at once, not after a grace period.
    await first.get_by_test_id("logout").click()
    await expect(first.get_by_test_id("login-form")).to_be_visible()
    await expect(page.get_by_test_id("kefu-agent-name")).to_have_text(re.compile("客服a2"))
    await expect(second.get_by_test_id("conversation-item")).to_have_count(1)
    # The admin disables a2: its open console is signed out and says why.
    async with aiohttp.ClientSession() as http:
        body = {"shop": shop, "username": "boss", "password": PASSWORD}
        async with http.post(f"{server}/api/login", json=body) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.patch(
            f"{server}/api/admin/users/a2", json={"disabled": True}, headers=headers
        ) as resp:
            assert resp.status == 200
    await expect(second.get_by_test_id("login-form")).to_be_visible()
    await expect(second.get_by_test_id("login-error")).to_contain_text("已退出登录")
    await expect(page.get_by_test_id("kefu-offline-form")).to_be_visible()  # nobody left to answer
    assert watch.errors == []
