"""Every pub/sub event is one model of `kefu.store.events.Event`: what each Lua script publishes
parses as the union, with no field the model does not know, and every kind is covered."""

import asyncio
import json
import typing
from typing import Any

from redis.asyncio import Redis

from kefu.store import Queue, Scripts, ShopKeys, register_agent, touch
from kefu.store.events import Event, LogWritten, parse
from kefu.store.scripts import SCRIPT_NAMES
from kefu.store.sessions import Sessions
from tests.sessions import new_session

SHOP = "ev"
KEYS = ShopKeys(SHOP)


def kinds() -> set[str]:
    union = typing.get_args(typing.get_args(Event)[0])
    return {model.model_fields["event"].default for model in union}


async def collected(
    redis: Redis, scenario: typing.Callable[[], typing.Awaitable[None]]
) -> list[dict[str, Any]]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(KEYS.events)
    await pubsub.get_message(timeout=1)
    await scenario()
    out = []
    while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
        out.append(json.loads(msg["data"]))
    await pubsub.aclose()
    return out


async def test_what_every_script_publishes_parses_as_the_union(redis: Redis) -> None:
    scripts = Scripts(redis)
    queue = Queue(redis, scripts, SHOP)
    sessions = Sessions(redis, scripts, SHOP, token_ttl_s=60, retention_s=60)
    ran: set[str] = set()
    real_raw = scripts.raw

    async def counting(name: str, *args: Any) -> Any:
        ran.add(name)
        return await real_raw(name, *args)

    scripts.raw = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        for aid, groups in (("a1", ("general",)), ("b1", ("billing",))):
            await register_agent(redis, SHOP, aid, name=aid, capacity=1, groups=groups)
            await touch(redis, agents=[(SHOP, aid)], agent_ttl_s=30, session_ttl_s=30)
            await queue.set_agent(aid, status="online")  # agent_status
        conversations = []
        for _ in range(4):
            session_id, conversation = await new_session(sessions)
            conversations.append((session_id, conversation.id))
            await touch(redis, sessions=[(SHOP, session_id)], agent_ttl_s=30, session_ttl_s=30)
        (s1, c1), (s2, c2), (s3, c3), (s4, c4) = conversations
        await sessions.bot_turn(
            s1, c1, "m1", "什么时候发货", [("亲，48小时内", {"decision": "answer"})]
        )  # turn
        await sessions.spoke(s1)  # spoke: publishes nothing
        await sessions.set_product(s1, {"id": "p1", "title": "杯子"})  # product: publishes nothing
        await queue.request(c1, "general")  # transfer: assigned
        await queue.request(c2, "general")  # queued, queue
        await sessions.append(  # append, with a notify event
            s1,
            c1,
            "shopper",
            "还在吗",
            client_msg_id="m2",
            notify=LogWritten(session_id=s1, conversation_id=c1),
        )
        await queue.regroup(c1, "a1", "billing")  # regroup: transferred
        await queue.close(c1, "agent", owner="b1")  # release: closed
        await redis.set(KEYS.config, json.dumps({"queue_timeout_s": 0.05}))
        await queue.request(c3, "general")
        await asyncio.sleep(0.1)
        await queue.janitor()  # left_queue (timeout)
        await touch(redis, agents=[(SHOP, "a1")], agent_ttl_s=0.05, session_ttl_s=30)
        await asyncio.sleep(0.1)
        await queue.janitor()  # requeued, agent_gone
        await queue.request(c4, "general")
        await redis.set(KEYS.config, json.dumps({"idle_close_s": 0.05}))
        await register_agent(redis, SHOP, "a2", name="a2", capacity=3, groups=("general",))
        await touch(redis, agents=[(SHOP, "a2")], agent_ttl_s=30, session_ttl_s=30)
        await queue.set_agent("a2", status="online")
        await asyncio.sleep(0.1)
        await touch(redis, agents=[(SHOP, "a2")], agent_ttl_s=30, session_ttl_s=30)
        await queue.janitor()  # closed by timeout
        from kefu.store.learned import LearnedPhrasings

        await LearnedPhrasings(redis, scripts, SHOP).vote(faq_id="f", text="q", key="q", session_id=s1, now=1)
        opened = await sessions.open(
            None,
            lang="zh",
            group="general",
            greeting=("hi", {"decision": "greeting", "transfer": True}),
            client="c",
            sessions_per_window=10,
            window_s=60,
            last_id=None,
            history=10,
            presence_ttl_s=30,
        )  # open: publishes nothing
        session_id, c5 = opened.session_id, opened.conversation
        assert c5 is not None
        await touch(redis, sessions=[(SHOP, session_id)], agent_ttl_s=30, session_ttl_s=30)
        await queue.set_agent("a2", capacity=0)
        await queue.request(c5.id, "general")
        await queue.dequeue(c5.id)  # dequeue: left_queue (cancelled)
        await queue.request(c5.id, "general")
        await queue.leave("a2", "logout")  # leave: signed_out, requeued; left_queue (no_agents)
        from kefu.store.commerce import Commerce, Order
        from kefu.store.shops import ShopConfig

        order = Order.model_validate(
            {
                "id": "o1",
                "customer_id": "c1",
                "version": 1,
                "status": "paid",
                "amount": "1.00",
                "created_at": "2026-12-01T00:00:00+00:00",
            }
        )
        await Commerce(redis, scripts, SHOP).put_order(order, ShopConfig())  # order: publishes nothing
        from kefu.store.accounts import Accounts

        accounts = Accounts(redis, SHOP, scripts=scripts)
        await accounts.add("u1", "a long enough password", role="agent")
        await accounts.sign_out("u1")  # user: publishes nothing

    raw = await collected(redis, scenario)
    assert ran == set(SCRIPT_NAMES)  # every script ran
    seen = set()
    for data in raw:
        event = parse(json.dumps(data))
        assert event is not None, data
        assert set(data) <= set(type(event).model_fields), data  # no field the model lacks
        seen.add(event.event)
    # Everything Lua publishes, and the log notification, was seen.
    assert {
        "assigned",
        "queued",
        "queue",
        "log",
        "transferred",
        "closed",
        "left_queue",
        "requeued",
        "agent_gone",
        "signed_out",
    } <= seen
    assert seen <= kinds()


def test_unknown_events_are_ignored_not_fatal() -> None:
    assert parse(b'{"event": "from_a_newer_version", "x": 1}') is None
    assert parse(b"not json") is None
    newer = parse(b'{"event": "queue", "group": "general", "added_later": true}')
    assert newer is not None and newer.event == "queue"


async def test_a_script_the_server_lost_is_loaded_again(redis: Redis) -> None:
    """After a Redis restart (SCRIPT FLUSH here) the next call still runs: nothing is lost."""
    sessions = Sessions(redis, Scripts(redis), SHOP, token_ttl_s=60, retention_s=60)
    session_id, conversation = await new_session(sessions)
    first = await sessions.bot_turn(session_id, conversation.id, "m1", "多久发货", [("48小时内", {})])
    await redis.script_flush()
    second = await sessions.bot_turn(session_id, conversation.id, "m2", "包邮吗", [("满99包邮", {})])
    assert first.stored is not None and second.stored is not None and not second.stored.duplicate
    texts = [e.text for e in await sessions.entries(session_id)]
    assert texts[-4:] == ["多久发货", "48小时内", "包邮吗", "满99包邮"]
