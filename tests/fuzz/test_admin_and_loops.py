"""An admin page never stalls other shops' chats (finding 1), and a record written by a newer
kefu (a field this version does not know) neither stops the loops nor blinds the health check
(finding 16)."""

from __future__ import annotations

import asyncio
import random

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.server.appkeys import context_key
from kefu.store.keys import ShopKeys
from kefu.store.shops import ShopStore
from tests.server.conftest import SHOP, setup_shop, shopper
from tests.server.test_api import auth, call

Client = TestClient[web.Request, web.Application]
OTHER = "other"


async def long_unanswered(redis: Redis, groups: int) -> None:
    """`groups` distinct long unanswered questions (the heaviest to suggest an FAQ for)."""
    words = list("我们你的是在有个这那就都要会可以没说好快慢发货退款换颜色尺码质量包装价格优惠地址电话")
    rng = random.Random(7)
    keys = ShopKeys(SHOP)
    texts = ["".join(rng.choices(words, k=300)) for _ in range(groups)]
    await redis.zadd(keys.misses, {text: rng.randint(1, 9) for text in texts})
    await redis.hset(keys.miss_examples, mapping={text: text for text in texts})


async def test_the_unanswered_page_does_not_stall_another_shops_chat(client: Client, redis: Redis) -> None:
    await setup_shop(redis, OTHER)
    await long_unanswered(redis, 200)
    h = await auth(client, redis)
    s = await shopper(client, shop=OTHER)
    await s.expect("session")
    await s.expect("bot", decision="greeting")

    await call(client, "POST", "/api/admin/try", h, {"text": "发货"})  # the shop's bot is loaded

    page = asyncio.create_task(call(client, "GET", "/api/admin/unanswered?limit=200", h))
    await asyncio.sleep(0.3)  # the admin's page is being worked on (seconds of matching)
    await s.say("什么时候发货")
    await s.expect("bot", timeout=30)
    # The other shop's shopper had the answer while the admin's page was still being built.
    assert not page.done()
    items = (await page)["items"]
    assert len(items) == 200
    # Asked again, the page is remembered per corpus version: no second round of matching.
    suggestions = client.app[context_key].suggestions
    assert len(suggestions) == 200
    again = await call(client, "GET", "/api/admin/unanswered?limit=200", h)
    assert again["items"] == items and len(suggestions) == 200


async def test_a_field_from_a_newer_version_neither_stops_the_bot_nor_edits(
    client: Client, redis: Redis
) -> None:
    h = await auth(client, redis)
    store = ShopStore(redis, SHOP)
    corpus = orjson.loads(orjson.dumps((await store.corpus()).model_dump(mode="json")))
    # As a newer instance writes during a rolling deploy: a new entry with a field unknown here.
    corpus["faqs"].append(
        {"id": "shop-cat", "question": "店里的猫叫什么名字", "answer": "它叫年糕。", "video": "x.mp4"}
    )
    keys = ShopKeys(SHOP)
    await redis.set(keys.faq, orjson.dumps(corpus))
    await redis.incr(keys.faq_version)

    s = await shopper(client)
    await s.expect("session")
    await s.expect("bot", decision="greeting")
    await s.say("店里的猫叫什么名字")
    reply = await s.expect("bot", timeout=10)
    assert reply.get("faq_id") == "shop-cat"
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "ok" and health["loops"]["faq-watch"]["ok"], health

    # An edit would write the record back without the field: refused, and nothing is lost.
    answer = await call(
        client, "POST", "/api/admin/faqs", h, {"question": "几点关门", "answer": "晚上十点。"}, status=409
    )
    assert answer["error"]["code"] == "stored_by_newer_version"
    assert orjson.loads(await redis.get(keys.faq))["faqs"][-1]["video"] == "x.mp4"


async def test_one_shops_unreadable_corpus_shows_in_health_and_others_still_reload(
    client: Client, redis: Redis
) -> None:
    await setup_shop(redis, OTHER)
    for shop in (SHOP, OTHER):  # both matchers loaded
        s = await shopper(client, shop=shop)
        await s.expect("session")
        await s.expect("bot", decision="greeting")
        await s.say("什么时候发货")
        await s.expect("bot")
    keys = ShopKeys(SHOP)
    await redis.set(keys.faq, orjson.dumps({"shop": SHOP, "faqs": [{"id": "broken"}]}))
    await redis.incr(keys.faq_version)
    # The other shop's owner adds an entry meanwhile: it still reaches its shoppers.
    h = await auth(client, redis, shop=OTHER, username="owner")
    await call(
        client,
        "POST",
        "/api/admin/faqs",
        h,
        {"question": "店里的猫叫什么名字", "answer": "它叫年糕。"},
        status=201,
    )

    bots = client.app[context_key].bots
    version = await ShopStore(redis, OTHER).corpus_version()
    for _ in range(100):  # every instance reloads within a second
        if bots.version(OTHER) == version:
            break
        await asyncio.sleep(0.05)
    s = await shopper(client, shop=OTHER)
    await s.expect("session")
    await s.expect("bot", decision="greeting")
    await s.say("店里的猫叫什么名字")
    assert (await s.expect("bot", timeout=10))["text"] == "它叫年糕。"
    await asyncio.sleep(0.5)
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "degraded"
    assert "unreadable" in health["loops"]["faq-watch"]["last_error"]
    # The broken shop keeps answering from what it had.
    s = await shopper(client, shop=SHOP)
    await s.expect("session")
    await s.expect("bot", decision="greeting")
    await s.say("什么时候发货")
    assert (await s.expect("bot"))["decision"] == "answer"
