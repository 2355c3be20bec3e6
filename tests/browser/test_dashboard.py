"""The admin dashboard and quality pages render real statistics in headless Chromium."""

from __future__ import annotations

import json
import time

from playwright.async_api import BrowserContext, expect
from redis.asyncio import Redis

from kefu.reports.qa import Evidence, Flag
from kefu.store.keys import ShopKeys
from tests.browser.conftest import Watch, admin_login, new_shop, shot


async def record_day(redis: Redis, shop: str) -> None:
    """Three conversations from an hour ago: one bot-only, one with an agent (rated 4), one offline;
    and a quality flag on the agent's."""
    keys = ShopKeys(shop)
    now = int(time.time() * 1000) - 3_600_000
    agent_id = next(iter(json.loads(v)["id"] for v in (await redis.hvals(keys.users))))
    rows = [
        {"id": "d1", "session": "s1", "state": "bot", "created": now, "n_shopper": 2},
        {
            "id": "d2",
            "session": "s2",
            "state": "closed",
            "created": now + 1000,
            "n_shopper": 3,
            "transfers": 1,
            "agent": agent_id,
            "first_queued_at": now + 2000,
            "first_assigned_at": now + 12_000,
            "first_reply_at": now + 20_000,
            "closed_at": now + 200_000,
            "rating": 4,
            "n_agent": 4,
            "n_shopper_live": 2,
        },
        {
            "id": "d3",
            "session": "s3",
            "state": "bot",
            "created": now + 5000,
            "n_shopper": 1,
            "offline_notices": 1,
        },
    ]
    for row in rows:
        await redis.hset(keys.conversation(str(row["id"])), mapping=row)  # type: ignore[arg-type]
        await redis.zadd(keys.conversations, {str(row["id"]): int(row["created"])})
    # d2's log: a question the bot was unsure of (it suggested two FAQs), then the one flagged.
    log = keys.log("s2")
    lines = [
        (now + 1500, "shopper", "快递到哪了", None),
        (
            now + 1600,
            "bot",
            "您是想问：",
            {
                "decision": "suggest",
                "transfer": True,
                "suggestions": [
                    {"faq_id": "shipping", "question": "什么时候发货"},
                    {"faq_id": "tracking", "question": "怎么查物流"},
                ],
            },
        ),
        (now + 30_000, "shopper", "还在吗", None),
    ]
    for ts, sender, text, extra in lines:
        fields = {"c": "d2", "f": sender, "t": text, "ts": ts}
        if extra:
            fields["x"] = json.dumps(extra, ensure_ascii=False)
        await redis.xadd(log, fields, id=f"{ts}-0")  # type: ignore[arg-type]
    flag = Flag(
        id="d2:slow_reply:0",
        conversation_id="d2",
        rule="slow_reply",
        agent_id=agent_id,
        at=now + 30_000,
        detail="shopper waited 90 s for an answer (limit 60 s)",
        evidence=[Evidence(message_id=f"{now + 30_000}-0", ts=now + 30_000, sender="shopper", text="还在吗")],
    )
    await redis.hset(keys.qa_flags, flag.id, flag.model_dump_json())
    await redis.zadd(keys.qa_index, {flag.id: flag.at})


async def test_dashboard_and_quality_pages_show_the_numbers(
    context: BrowserContext, server: str, store: Redis, watch: Watch
) -> None:
    shop = await new_shop(store, agents={"a1": 2}, admin=True)
    await record_day(store, shop)
    page = watch.attach(await context.new_page())
    await admin_login(page, server, shop)
    await page.get_by_test_id("nav-dashboard").click()
    await expect(page.get_by_test_id("kpi-conversations")).to_have_attribute("data-value", "3")
    await expect(page.get_by_test_id("kpi-csat")).to_contain_text("4")
    await expect(page.get_by_test_id("chart-series")).to_be_visible()
    assert await page.get_by_test_id("chart-series-bar").count() >= 1
    await expect(page.get_by_test_id("agent-stats-row")).to_have_count(1)
    await shot(page, "admin-dashboard")
    await page.get_by_test_id("nav-qa").click()
    flag = page.get_by_test_id("qa-flag")
    await expect(flag).to_have_count(1)
    await expect(flag).to_have_attribute("data-rule", "slow_reply")
    await expect(page.get_by_test_id("qa-evidence").first).to_contain_text("还在吗")
    await shot(page, "admin-quality")
    # The whole conversation, with what the bot suggested under its reply.
    await page.get_by_test_id("qa-view-transcript").click()
    dialog = page.get_by_test_id("transcript-dialog")
    await expect(dialog.get_by_test_id("transcript-line")).to_have_count(3)
    offered = dialog.get_by_test_id("transcript-suggestions")
    await expect(offered).to_contain_text("什么时候发货")
    await expect(offered).to_contain_text("怎么查物流")
    await expect(dialog.locator('[data-evidence="true"]')).to_contain_text("还在吗")
    assert watch.errors == []
