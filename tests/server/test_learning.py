"""The bot learns from its shop: a clicked suggestion becomes a learned phrasing, an admin (or
the auto-approve setting) adds it to the FAQ, and from then on the question is answered."""

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.learned import LearnedPhrasings
from kefu.store.scripts import Scripts
from kefu.store.shops import ShopConfig, ShopStore
from tests.server.conftest import Socket, shopper
from tests.server.test_api import auth, call

Client = TestClient[web.Request, web.Application]

QUESTION = "想问下快递的事"


async def _asked(client: Client, question: str = QUESTION) -> tuple[Socket, dict[str, Any]]:
    """A new shopper asks `question`; the bot is not sure and suggests."""
    s = await shopper(client)
    await s.expect("bot", decision="greeting")
    await s.say(question)
    reply = await s.expect("bot")
    assert reply["decision"] == "suggest" and reply["suggestions"], reply
    return s, reply


async def _pick(s: Socket, reply: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """Click the suggestion chip: its question, with which FAQ and which bot line offered it."""
    chosen = reply["suggestions"][index]
    await s.say(chosen["question"], pick={"faq_id": chosen["faq_id"], "message_id": reply["id"]})
    answer = await s.expect("bot", decision="answer")
    assert answer["faq_id"] == chosen["faq_id"]
    return chosen


async def _learned(client: Client, h: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await call(client, "GET", "/api/admin/learned", h))["items"]
    return items


async def test_a_clicked_suggestion_is_learned_and_once_approved_answered(
    client: Client, redis: Redis
) -> None:
    h = await auth(client, redis)
    s, reply = await _asked(client)
    chosen = await _pick(s, reply)
    [item] = await _learned(client, h)
    assert (item["text"], item["faq_id"], item["shoppers"]) == (QUESTION, chosen["faq_id"], 1)
    assert item["faq_question"] == chosen["question"]
    faq = await call(client, "POST", f"/api/admin/learned/{item['id']}/approve", h)
    assert QUESTION in faq["similar"]
    assert await _learned(client, h) == []
    unanswered = (await call(client, "GET", "/api/admin/unanswered", h))["items"]
    assert QUESTION not in [u["text"] for u in unanswered]
    # A new shopper asking the same is answered directly: every instance reloads the corpus
    # within a second of the approval.
    other = await shopper(client)
    await other.expect("bot", decision="greeting")
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        await other.say(QUESTION)
        answer = await other.expect("bot")
        while answer["decision"] == "notice":
            answer = await other.expect("bot")
        if answer["decision"] == "answer" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert (answer["decision"], answer["faq_id"]) == ("answer", chosen["faq_id"])


async def test_asking_for_a_human_right_after_takes_the_vote_back(client: Client, redis: Redis) -> None:
    h = await auth(client, redis)
    s, reply = await _asked(client)
    await _pick(s, reply)
    assert len(await _learned(client, h)) == 1
    await s.send({"type": "transfer"})
    await s.expect("offline")
    assert await _learned(client, h) == []


async def test_saying_it_was_wrong_takes_the_vote_back_but_a_new_question_does_not(
    client: Client, redis: Redis
) -> None:
    h = await auth(client, redis)
    s, reply = await _asked(client)
    await _pick(s, reply)
    await s.say("不对")
    await s.expect("bot")
    assert await _learned(client, h) == []
    s2, reply2 = await _asked(client)
    await _pick(s2, reply2)
    await s2.say("什么时候发货")
    await s2.expect("bot", decision="answer")
    await s2.say("可以开发票吗")
    await s2.expect("bot", decision="answer")
    # Two quiet messages later the vote stands, whatever comes next.
    await s2.say("不对")
    await s2.expect("bot")
    assert [i["shoppers"] for i in await _learned(client, h)] == [1]


async def test_a_pick_the_bot_never_offered_is_refused_and_learns_nothing(
    client: Client, redis: Redis
) -> None:
    h = await auth(client, redis)
    s, reply = await _asked(client)
    offered = {x["faq_id"] for x in reply["suggestions"]}
    other = next(f for f in ("invoice", "shipping-fee", "returns") if f not in offered)
    await s.say("可以开发票吗", pick={"faq_id": other, "message_id": reply["id"]})
    error = await s.expect("error")
    assert error["code"] == "invalid_pick"
    await s.say("可以开发票吗", pick={"faq_id": reply["suggestions"][0]["faq_id"], "message_id": "1-1"})
    assert (await s.expect("error"))["code"] == "invalid_pick"
    await s.say("x", pick={"faq_id": reply["suggestions"][0]["faq_id"], "message_id": "../etc"})
    assert (await s.expect("error"))["code"] in ("invalid_pick", "invalid_frame")
    # Another shopper's bot line is not this shopper's to pick from.
    t, _ = await _asked(client)
    await t.say("x", pick={"faq_id": reply["suggestions"][0]["faq_id"], "message_id": reply["id"]})
    assert (await t.expect("error"))["code"] == "invalid_pick"
    assert await _learned(client, h) == []


async def test_distinct_shoppers_count_once_each_and_auto_approve(client: Client, redis: Redis) -> None:
    h = await auth(client, redis)
    store = ShopStore(redis, "demo")
    await store.save_config((await store.config()).model_copy(update={"learn_auto_approve": 2}))
    s, reply = await _asked(client)
    chosen = await _pick(s, reply)
    await _pick(s, reply)  # the same shopper again: still one
    [item] = await _learned(client, h)
    assert item["shoppers"] == 1
    t, reply_t = await _asked(client)
    index = next(i for i, x in enumerate(reply_t["suggestions"]) if x["faq_id"] == chosen["faq_id"])
    await _pick(t, reply_t, index)
    # The second shopper made it two: approved by itself, gone from the list, answered.
    assert await _learned(client, h) == []
    faq = await call(client, "GET", f"/api/admin/faqs/{chosen['faq_id']}", h)
    assert QUESTION in faq["similar"]


async def test_a_rejected_phrasing_is_never_learned_again(client: Client, redis: Redis) -> None:
    h = await auth(client, redis)
    s, reply = await _asked(client)
    chosen = await _pick(s, reply)
    [item] = await _learned(client, h)
    await call(client, "POST", f"/api/admin/learned/{item['id']}/reject", h, status=204)
    t, reply_t = await _asked(client)
    index = next(i for i, x in enumerate(reply_t["suggestions"]) if x["faq_id"] == chosen["faq_id"])
    await _pick(t, reply_t, index)
    assert await _learned(client, h) == []
    await call(client, "POST", f"/api/admin/learned/{item['id']}/approve", h, status=404)
    await call(client, "POST", "/api/admin/learned/not-an-id/reject", h, status=404)


async def test_agents_cannot_see_or_approve_learned_phrasings(client: Client, redis: Redis) -> None:
    h = await auth(client, redis, "agent7", role="agent")
    await call(client, "GET", "/api/admin/learned", h, status=403)


async def test_learned_phrasings_are_capped(redis: Redis) -> None:
    store = LearnedPhrasings(redis, Scripts(redis), "demo")
    import kefu.store.learned as learned

    cap, learned.MAX_CANDIDATES = learned.MAX_CANDIDATES, 5
    try:
        for i in range(8):
            await store.vote(faq_id="a", text=f"q{i}", key=f"q{i}", session_id=f"s{i}", now=i)
        # The most voted survive the cap.
        for _ in range(2):
            await store.vote(faq_id="a", text="q7", key="q7", session_id="extra", now=9)
    finally:
        learned.MAX_CANDIDATES = cap
    items = await store.list()
    assert len(items) <= 6 and items[0].text == "q7"
    assert await redis.hlen(ShopKeys("demo").learn_data) == len(items)
    assert ShopConfig().learn_auto_approve == 0
