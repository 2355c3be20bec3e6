"""kefu on a three-master Redis Cluster: shops spread over the masters, two kefu instances.

The chat and queue flow modules (tests/server/test_transfer_flow.py, tests/store/test_transfer.py)
run on the cluster too; this module adds what only shows with several shops on several masters.
"""

import asyncio
import itertools

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store.keys import SHOPS, ShopKeys
from tests.server.conftest import AppClient, add_agent, agent, login, setup_shop, shopper

REDIS_BACKENDS = ("cluster",)

Client = TestClient[web.Request, web.Application]


def shops_on_every_master(redis: Redis) -> list[str]:
    """One shop name per master: each shop's keys share a hash slot, so a shop lives on one."""
    assert isinstance(redis, RedisCluster)
    masters = {node.name for node in redis.get_primaries()}
    assert len(masters) == 3
    chosen: dict[str, str] = {}
    for i in itertools.count():
        name = f"shop{i}"
        chosen.setdefault(redis.get_node_from_key(ShopKeys(name).config).name, name)
        if chosen.keys() == masters:
            return sorted(chosen.values())
    raise AssertionError("unreachable")


async def instances(aiohttp_client: AppClient, settings: Settings) -> tuple[Client, Client]:
    one = await aiohttp_client(create_app(settings.model_copy(update={"instance_id": "one"})))
    two = await aiohttp_client(create_app(settings.model_copy(update={"instance_id": "two"})))
    return one, two


async def chat_through(shop: str, front: Client, seat: Client, redis: Redis) -> None:
    """The whole journey in one shop: bot answer, transfer, chat both ways, queue, freed slot."""
    alice = await agent(seat, "alice", shop=shop)
    s = await shopper(front, shop=shop)
    await s.expect("bot", decision="greeting")
    await s.say("退货地址是哪里")
    await s.expect("bot", decision="answer")
    await s.send({"type": "transfer"})
    await s.expect("agent_joined")
    assigned = (await alice.expect("assigned"))["conversation"]
    assert "退货地址是哪里" in [m["text"] for m in assigned["transcript"]]
    conv = assigned["id"]
    await s.say(f"hello from {shop}")
    assert (await alice.expect("message"))["text"] == f"hello from {shop}"
    await alice.send(
        {"type": "message", "conversation_id": conv, "text": f"{shop} here", "client_msg_id": "a1"}
    )
    assert (await s.expect("agent"))["text"] == f"{shop} here"
    waiting = await shopper(seat, shop=shop)
    await waiting.expect("bot", decision="greeting")
    await waiting.send({"type": "transfer"})
    await waiting.expect("queued", position=1)
    await alice.send({"type": "close", "conversation_id": conv})
    await s.expect("closed")
    await waiting.expect("agent_joined")
    assert await redis.zcard(ShopKeys(shop).conversations) == 2


async def test_shops_on_three_masters_chat_and_queue_side_by_side(
    aiohttp_client: AppClient, settings: Settings, redis: Redis
) -> None:
    shops = shops_on_every_master(redis)
    for shop in shops:
        await setup_shop(redis, shop)
        await add_agent(redis, "alice", shop=shop)  # the same username in every shop, never shared
    one, two = await instances(aiohttp_client, settings)
    # Shoppers on instance one, agents on instance two, three shops at once.
    await asyncio.gather(*(chat_through(shop, one, two, redis) for shop in shops))
    assert await redis.smembers(SHOPS) >= set(shops)


async def test_an_agent_sees_only_its_own_shop_on_the_cluster(
    aiohttp_client: AppClient, settings: Settings, redis: Redis
) -> None:
    ours, theirs, _ = shops_on_every_master(redis)
    for shop in (ours, theirs):
        await setup_shop(redis, shop)
        await add_agent(redis, "alice", shop=shop)
    one, two = await instances(aiohttp_client, settings)
    alice = await agent(two, "alice", shop=ours)
    stranger = await shopper(one, shop=theirs)
    await stranger.expect("bot", decision="greeting")
    await stranger.send({"type": "transfer"})
    await stranger.expect("offline")  # nobody of theirs is online, though ours is
    assert [f for f in await alice.silent(0.5) if f["type"] in {"assigned", "queue"}] == []


async def test_a_corpus_edit_on_one_instance_answers_on_the_other(
    aiohttp_client: AppClient, settings: Settings, redis: Redis
) -> None:
    shop, *_ = shops_on_every_master(redis)
    await setup_shop(redis, shop)
    await add_agent(redis, "boss", shop=shop, role="admin")
    one, two = await instances(aiohttp_client, settings)
    headers = {"Authorization": f"Bearer {await login(two, 'boss', shop=shop)}"}
    resp = await two.post(
        "/api/admin/faqs",
        headers=headers,
        json={"question": "能不能刻字", "similar": ["可以刻名字吗"], "answer": "可以，下单时备注要刻的字。"},
    )
    assert resp.status == 201, await resp.text()
    s = await shopper(one, shop=shop)
    await s.expect("bot", decision="greeting")
    for _ in range(50):  # the other instance reloads on the published event (polling as a backstop)
        await s.say("可以刻名字吗")
        reply = await s.expect("bot")
        if reply["decision"] == "answer":
            break
        await asyncio.sleep(0.1)
    assert reply["text"] == "可以，下单时备注要刻的字。"
