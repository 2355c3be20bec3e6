"""A hostile anonymous client against the per-client budgets (kefu/server/guard.py): what it can
do is bounded, and the limits it meets are the documented ones. Each test sets the limit it
tests (the other tests run with loose ones: every test client is 127.0.0.1)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from kefu.redisserver import RedisServer
from kefu.server.app import create_app
from kefu.server.appkeys import context_key
from kefu.server.delivery import Delivery
from kefu.server.guard import client_network
from kefu.server.matching import MatchPool
from kefu.settings import Settings
from kefu.store.keys import ShopKeys
from kefu.store.sessions import Sessions
from tests.fuzz.conftest import ServerLog, close_client, start_client
from tests.server.conftest import (
    PASSWORD,
    SHOP,
    Socket,
    add_agent,
    agent,
    login,
    make_settings,
    session_protocols,
    setup_shop,
    ticket,
)
from tests.sessions import new_session

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)


@pytest.fixture
async def limited(redis_server: RedisServer, redis: Redis) -> AsyncIterator[Any]:
    """`await limited(**settings)`: a client of an app with those limits (shop demo set up)."""
    await setup_shop(redis)
    clients: list[Client] = []

    async def make(**overrides: Any) -> Client:
        client = await start_client(create_app(make_settings(redis_server, **overrides)))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await close_client(client)


async def greeted(client: Client, *, token: str | None = None, address: str | None = None) -> Socket:
    headers = {"X-Forwarded-For": address} if address else {}
    ws = await client.ws_connect(
        "/ws/shopper", params={"shop": SHOP}, protocols=session_protocols(token), headers=headers
    )
    sock = Socket(ws)
    await sock.expect("session")
    return sock


async def outcomes(sock: Socket, count: int, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """The ack or error each of `count` messages got, by client_msg_id."""
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        frame = await sock.next(timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] == "ack":
            got[frame["client_msg_id"]] = frame
        elif frame["type"] == "error" and "client_msg_id" in frame.get("in_reply_to", {}):
            got[frame["in_reply_to"]["client_msg_id"]] = frame
    return got


async def shopper_lines(redis: Redis, session_id: str) -> list[str]:
    return [f["t"] for _, f in await redis.xrange(KEYS.log(session_id)) if f["f"] == "shopper"]


async def test_ten_tabs_of_one_session_share_one_budget(limited: Any, redis: Redis) -> None:
    client = await limited(session_burst=5, session_rate_per_s=0.5)
    first = await greeted(client)
    session = first.frames[0]
    tabs = [first] + [await greeted(client, token=session["token"]) for _ in range(4)]
    for n, tab in enumerate(tabs):
        for i in range(4):
            await tab.send({"type": "message", "text": f"在吗 {n}-{i}", "client_msg_id": f"t{n}-{i}"})
    results: dict[str, dict[str, Any]] = {}
    for tab in tabs:
        results |= await outcomes(tab, 4)
    acked = [cid for cid, f in results.items() if f["type"] == "ack"]
    refused = [f for f in results.values() if f["type"] == "error"]
    assert len(results) == 20
    assert 5 <= len(acked) <= 7  # the burst, and what refilled meanwhile
    assert all(f["code"] == "rate_limited" and f["retry_after"] > 0 for f in refused)
    # What was refused was not stored: the log holds exactly the acked lines.
    assert len(await shopper_lines(redis, session["session_id"])) == len(acked)


async def test_one_address_shares_one_budget_across_its_sessions(limited: Any, redis: Redis) -> None:
    client = await limited(client_burst=6, client_rate_per_s=0.5)
    socks = [await greeted(client, address="203.0.113.7") for _ in range(3)]
    for n, sock in enumerate(socks):
        for i in range(4):
            await sock.send({"type": "message", "text": f"你好 {i}", "client_msg_id": f"a{n}-{i}"})
    results: dict[str, dict[str, Any]] = {}
    for sock in socks:
        results |= await outcomes(sock, 4)
    assert 6 <= sum(f["type"] == "ack" for f in results.values()) <= 8
    # Another address is not held back by it.
    other = await greeted(client, address="198.51.100.9")
    await other.say("怎么退货")
    await other.expect("bot", decision="answer")


async def test_the_bot_reads_a_long_message_only_as_far_as_a_question_goes(limited: Any) -> None:
    client = await limited(match_chars=40)
    sock = await greeted(client)
    await sock.say("怎么退货" + "。" * 1990)
    assert (await sock.expect("bot", decision="answer"))["faq_id"]
    await sock.say("啊" * 60 + "怎么退货")  # the question beyond what the bot reads
    assert (await sock.expect("bot"))["decision"] != "answer"


async def test_closing_and_asking_again_in_a_loop_spends_the_message_budget(limited: Any) -> None:
    """Each request for a human after a close begins a conversation kept for 90 days: it spends
    the session's message budget like a message (nobody is online: the offline notice). Closing
    stays free: nobody is kept from ending a chat."""
    client = await limited(session_burst=3, session_rate_per_s=0.001)
    sock = await greeted(client)
    session_id = sock.frames[0]["session_id"]
    for _ in range(5):
        await sock.send({"type": "transfer"})
        await sock.send({"type": "close"})
    refused = await sock.expect("error", code="rate_limited")
    assert refused["in_reply_to"]["type"] == "transfer"
    await sock.send({"type": "ping"})
    await sock.expect("pong")
    began = await client.server.app[context_key].sessions(SHOP).conversations_of(session_id, limit=100)
    assert len(began) <= 4  # the first, and one per request for a human within the budget
    limited_frames = [f["in_reply_to"]["type"] for f in sock.frames if f.get("code") == "rate_limited"]
    assert limited_frames and set(limited_frames) == {"transfer"}


async def test_matcher_cpu_is_budgeted_per_address(limited: Any, redis: Redis) -> None:
    client = await limited(client_cpu_burst_s=0.000001, client_cpu_per_s=0.000001)
    sock = await greeted(client, address="203.0.113.8")
    await sock.say("怎么退货")
    await sock.expect("bot", decision="answer")  # the first question spends the budget
    second = await sock.say("多久发货")
    refused = await sock.expect("error", code="rate_limited")
    assert refused["in_reply_to"]["client_msg_id"] == second
    assert await shopper_lines(redis, sock.frames[0]["session_id"]) == ["怎么退货"]
    fresh = await greeted(client, address="198.51.100.10")
    await fresh.say("多久发货")
    await fresh.expect("bot", decision="answer")


async def test_new_sessions_per_address_are_limited_but_resuming_is_not(limited: Any) -> None:
    client = await limited(sessions_per_client_per_min=3)
    socks = [await greeted(client, address="203.0.113.9") for _ in range(3)]
    refused = await client.get(
        "/ws/shopper", params={"shop": SHOP}, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert refused.status == 429 and (await refused.json())["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    back = await greeted(client, token=socks[0].frames[0]["token"], address="203.0.113.9")
    assert back.frames[0]["resumed"] is True
    await greeted(client, address="198.51.100.11")  # someone else is not held back


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("64:ff9b::203.0.113.7", "203.0.113.7"),  # NAT64
        ("2002:cb00:7107::1", "203.0.113.7"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_what_counts_as_one_client(address: str, client: str) -> None:
    assert client_network(address) == client


async def test_an_ipv6_client_is_its_64_block_not_each_address(limited: Any) -> None:
    """Anyone with an IPv6 subscriber block picks from 2⁶⁴ addresses: counted by address, every
    budget would start afresh with each. IPv4 written IPv4-mapped is that IPv4 address."""
    client = await limited(sessions_per_client_per_min=2)
    for address in ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"]:
        await greeted(client, address=address)
    for address in ["2001:db8:1:2::abcd", "2001:DB8:1:2:0:0:0:9"]:
        refused = await client.get("/ws/shopper", params={"shop": SHOP}, headers={"X-Forwarded-For": address})
        assert refused.status == 429, address
    await greeted(client, address="2001:db8:1:3::1")  # the next /64 is someone else
    await greeted(client, address="203.0.113.20")
    await greeted(client, address="::ffff:203.0.113.20")
    refused = await client.get(
        "/ws/shopper", params={"shop": SHOP}, headers={"X-Forwarded-For": "203.0.113.20"}
    )
    assert refused.status == 429


async def test_open_sockets_per_address_are_capped(limited: Any, redis: Redis) -> None:
    client = await limited(sockets_per_client=2)
    at = {"X-Forwarded-For": "203.0.113.30"}
    first = await greeted(client, address="203.0.113.30")
    second = await greeted(client, token=first.frames[0]["token"], address="203.0.113.30")
    refused = await client.get("/ws/shopper", params={"shop": SHOP}, headers=at)
    assert refused.status == 429 and (await refused.json())["error"]["code"] == "too_many_sockets"
    assert int(refused.headers["Retry-After"]) > 0
    metrics = client.server.app[context_key].metrics
    assert metrics.sockets_refused.labels("shopper")._value.get() == 1
    # Agents count apart: shoppers behind the office's address do not lock its agents out.
    await add_agent(redis, "alice")
    token = await login(client, "alice")
    agents = [
        Socket(await client.ws_connect("/ws/agent", params=await ticket(client, token), headers=at))
        for _ in range(2)
    ]
    third = await client.get("/ws/agent", params={"ticket": "x"}, headers=at)
    assert (await third.json())["error"]["code"] == "too_many_sockets"
    await greeted(client, address="198.51.100.30")  # someone else is not held back
    await second.ws.close()
    await agents[0].ws.close()
    for _ in range(100):  # the server sees the close a moment later
        try:
            again = await greeted(client, token=first.frames[0]["token"], address="203.0.113.30")
            break
        except WSServerHandshakeError as exc:
            assert exc.status == 429
            await asyncio.sleep(0.05)
    assert again.frames[0]["resumed"] is True


async def test_a_refused_or_failed_open_gives_its_socket_back(limited: Any) -> None:
    client = await limited(sockets_per_client=1)
    at = {"X-Forwarded-For": "203.0.113.31"}
    for params in [{"shop": "nowhere"}, {"shop": SHOP, "last_id": "x"}, {"shop": SHOP, "token": "t"}]:
        refused = await client.get("/ws/shopper", params=params, headers=at)
        assert refused.status in (400, 404), params
    assert (await client.get("/ws/agent", headers=at)).status == 401
    await greeted(client, address="203.0.113.31")


def test_a_misspelt_trusted_proxy_is_refused_at_start_naming_the_setting() -> None:
    """KEFU_FORWARDED_ALLOW_IPS is parsed once, when the settings load: a typo stops the server
    with the setting's name, not every request later."""
    with pytest.raises(ValidationError) as refused:
        Settings(forwarded_allow_ips="10.0.0.0/8, 10.0.0.300")  # type: ignore[arg-type]
    assert "forwarded_allow_ips" in str(refused.value) and "10.0.0.300" in str(refused.value)
    assert Settings(forwarded_allow_ips="10.0.0.0/8, ::1, *").forwarded_allow_ips == (  # type: ignore[arg-type]
        "10.0.0.0/8",
        "::1",
        "*",
    )


async def test_a_session_where_nobody_spoke_expires_soon(limited: Any, redis: Redis) -> None:
    client = await limited(silent_session_ttl_s=120)
    silent = await greeted(client)
    await silent.expect("bot", decision="greeting")
    sid = silent.frames[0]["session_id"]
    assert 0 < await redis.ttl(KEYS.session(sid)) <= 120
    assert 0 < await redis.ttl(KEYS.log(sid)) <= 120
    assert await redis.zcard(KEYS.conversations) == 0  # a page view is no conversation
    await silent.say("怎么退货")
    await silent.expect("bot", decision="answer")
    assert await redis.ttl(KEYS.session(sid)) > 86400
    assert await redis.ttl(KEYS.log(sid)) > 86400
    assert await redis.zcard(KEYS.conversations) == 1


async def test_a_silent_session_that_expired_under_an_open_socket_leaves_nothing_forever(
    limited: Any, redis: Redis
) -> None:
    """Nothing refreshes a silent session while its socket idles: past its hour it is gone, and
    what the shopper then does wrote keys that lived forever (a product view, an agent joining)."""
    client = await limited(silent_session_ttl_s=120)
    await add_agent(redis, "alice")
    await agent(client, "alice")
    silent = await greeted(client)
    sid = silent.frames[0]["session_id"]
    conversation = await redis.hget(KEYS.session(sid), "conv")
    await redis.delete(KEYS.session(sid), KEYS.log(sid), KEYS.conversation(str(conversation)))  # expired
    await silent.send({"type": "product", "product": {"id": "p-1", "title": "保温杯"}})
    await silent.send({"type": "ping"})
    await silent.expect("pong")  # frames are handled in order: the product view is written
    assert 0 < await redis.ttl(KEYS.session(sid)) <= 120
    await silent.send({"type": "transfer"})
    await silent.expect("agent_joined")
    for key in (KEYS.session(sid), KEYS.log(sid)):
        assert await redis.ttl(key) > 0, key


async def test_one_address_cannot_fill_the_queue(limited: Any, redis: Redis) -> None:
    client = await limited(waiting_per_client=2)
    await add_agent(redis, "alice", capacity=0)
    await agent(client, "alice")
    fakes = [await greeted(client, address="203.0.113.10") for _ in range(3)]
    for fake in fakes[:2]:
        await fake.send({"type": "transfer"})
        await fake.expect("queued")
    await fakes[2].send({"type": "transfer"})
    refused = await fakes[2].expect("error", code="too_many_waiting")
    assert refused["retry_after"] > 0
    real = await greeted(client, address="198.51.100.12")
    await real.send({"type": "transfer"})
    assert (await real.expect("queued"))["position"] == 3  # behind two fakes, not twenty-eight
    await fakes[0].send({"type": "close"})  # leaving frees the place
    await fakes[0].expect("bot", event="left_queue")
    await fakes[2].send({"type": "transfer"})
    await fakes[2].expect("queued")


async def test_messages_left_per_address_are_limited(limited: Any, redis: Redis) -> None:
    client = await limited(tickets_per_client_per_hour=2)
    sock = await greeted(client, address="203.0.113.11")
    for i in range(3):
        await sock.send({"type": "leave_message", "text": f"回电 {i}", "contact": "13800000000"})
    await sock.expect("bot", event="message_left")
    await sock.expect("bot", event="message_left")
    assert (await sock.expect("error", code="rate_limited"))["retry_after"] > 0
    assert await redis.xlen(KEYS.tickets) == 2


async def test_asking_again_while_offline_shows_the_form_without_repeating_the_notice(
    limited: Any, redis: Redis
) -> None:
    client = await limited()
    sock = await greeted(client)
    for _ in range(3):
        await sock.send({"type": "transfer"})
    first = await sock.expect("offline")
    assert first["id"] and not first.get("again")
    for _ in range(2):
        again = await sock.expect("offline")
        assert again["again"] is True and again["id"] is None
    events = [f.get("x", "") for _, f in await redis.xrange(KEYS.log(sock.frames[0]["session_id"]))]
    assert sum('"offline"' in x for x in events) == 1


async def test_a_failure_after_the_ack_is_incomplete_and_the_reply_still_comes(
    limited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await limited()
    sock = await greeted(client)
    await sock.expect("bot", decision="greeting")
    real = Delivery.turn
    failed = []

    async def once_broken(self: Delivery, conn: Any, *args: Any) -> None:
        if conn.acked is not None and not failed:
            failed.append(conn.acked)
            raise RedisConnectionError("Redis went away after the turn was stored")
        await real(self, conn, *args)

    monkeypatch.setattr(Delivery, "turn", once_broken)
    sent = await sock.say("怎么退货")
    error = await sock.expect("error", in_reply_to={"type": "message", "client_msg_id": sent})
    assert error["code"] == "incomplete" and failed == [sent]  # not "unavailable": it is stored
    # The backstop catches the socket up: its own line as stored (the ack it missed) and the reply.
    mine = await sock.expect("shopper", client_msg_id=sent)
    answer = await sock.expect("bot", decision="answer")
    assert answer["id"] > mine["id"]


async def test_capped_growth_of_logs_and_unanswered_questions(redis: Redis, limited: Any) -> None:
    client = await limited()
    ctx = client.app[context_key]
    sessions: Sessions = ctx.sessions(SHOP)
    session_id, conversation = await new_session(sessions)
    for i in range(2300):
        await sessions.bot_turn(
            session_id, conversation.id, f"c{i}", f"问题 {i}", [("?", {"decision": "fallback"})], miss=f"q{i}"
        )
    assert await redis.xlen(KEYS.log(session_id)) <= 2200  # LOG_MAX, trimmed in whole nodes
    assert await redis.hlen(KEYS.client_ids(session_id)) <= 4000
    assert await redis.zcard(KEYS.misses) == 2000
    assert await redis.hlen(KEYS.miss_examples) == 2000
    assert await redis.zscore(KEYS.misses, "q2299") is not None  # the newest stay


async def test_the_match_pool_serves_shops_in_turn() -> None:
    pool = MatchPool(workers=1, queue_per_shop=50)
    order: list[str] = []
    gate = threading.Event()

    def job(name: str) -> Any:
        def run() -> str:
            gate.wait(5)
            order.append(name)
            return name

        return run

    flood = [asyncio.ensure_future(pool.run("noisy", job(f"noisy{i}"))) for i in range(10)]
    await asyncio.sleep(0.05)
    quiet = asyncio.ensure_future(pool.run("quiet", job("quiet")))
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*flood, quiet)
    pool.close()
    # The quiet shop's one question waits for one of the noisy shop's, not for all ten.
    assert order.index("quiet") <= 2


async def log_in(client: Client, address: str, username: str, password: str, shop: str = SHOP) -> Any:
    resp = await client.post(
        "/api/login",
        json={"shop": shop, "username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )
    return resp.status, await resp.json()


async def test_a_stranger_cannot_lock_the_owner_out(
    limited: Any, redis: Redis, fast_hashing: None, server_log: ServerLog
) -> None:
    client = await limited()
    await add_agent(redis, "alice")
    for _ in range(5):
        assert (await log_in(client, "203.0.113.7", "alice", "guess-guess"))[0] == 401
    status, body = await log_in(client, "203.0.113.7", "alice", PASSWORD)
    assert status == 429, body  # the guesser is locked out, even with the right password
    status, body = await log_in(client, "198.51.100.2", "alice", PASSWORD)
    assert status == 200, body  # alice, from her own network, is not
    failed = [e for e in server_log.events if e.get("event") == "login_failed"]
    assert len(failed) == 6 and {e["reason"] for e in failed} == {"bad_credentials", "rate_limited"}
    assert all(e["username"] == "alice" and e["shop"] == SHOP and e["client"] for e in failed)


async def test_guessing_usernames_is_limited_per_client(
    limited: Any, redis: Redis, fast_hashing: None
) -> None:
    client = await limited(login_client_max_failures=6)
    await add_agent(redis, "alice")
    for i in range(3):
        assert (await log_in(client, "203.0.113.7", f"user{i}", "guess-guess"))[0] == 401
    for i in range(3):  # shops that do not exist count too
        assert (await log_in(client, "203.0.113.7", "admin", "guess-guess", shop=f"nope{i}"))[0] == 401
    status, body = await log_in(client, "203.0.113.7", "someone", "guess-guess")
    assert status == 429 and "network" in body["error"]["message"]
    assert (await log_in(client, "198.51.100.2", "alice", PASSWORD))[0] == 200


async def post_order(client: Client, address: str, key: str, order_id: str) -> Any:
    resp = await client.post(
        f"/api/shops/{SHOP}/orders",
        json={
            "id": order_id,
            "customer_id": "c1",
            "version": 1,
            "status": "created",
            "amount": "9.90",
            "items": [{"title": "tea", "quantity": 1, "price": "9.90"}],
            "created_at": "2026-12-01T10:00:00+08:00",
        },
        headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address},
    )
    return resp.status, await resp.json(), resp.headers


async def test_guessing_order_api_keys_is_limited_per_client_as_passwords_are(
    limited: Any, redis: Redis, fast_hashing: None
) -> None:
    client = await limited(login_client_max_failures=6)
    await add_agent(redis, "alice")
    key = await client.app[context_key].commerce(SHOP).rotate_api_key()
    for i in range(6):
        status, body, _ = await post_order(client, "203.0.113.7", f"kefu_{SHOP}.guess{i}", "G1")
        assert (status, body["error"]["code"]) == (401, "api_key_invalid")
    status, body, headers = await post_order(client, "203.0.113.7", f"kefu_{SHOP}.more", "G1")
    assert status == 429 and int(headers["Retry-After"]) > 0 and "network" in body["error"]["message"]
    # One budget of failed credentials: that address's logins wait too; others' do not.
    assert (await log_in(client, "203.0.113.7", "alice", PASSWORD))[0] == 429
    assert (await log_in(client, "198.51.100.2", "alice", PASSWORD))[0] == 200
    # The shop's own key, even from there, still delivers its orders (it is not being guessed).
    status, body, _ = await post_order(client, "203.0.113.7", key, "G1")
    assert (status, body) == (200, {"id": "G1", "result": "created"})


async def test_a_flood_of_logins_is_refused_at_once_not_queued(limited: Any, redis: Redis) -> None:
    client = await limited(login_queue=2)  # real argon2: each check takes a good fraction of a second
    await add_agent(redis, "alice")
    results = await asyncio.gather(
        *[log_in(client, f"203.0.113.{i}", f"bogus{i}", "guess-guess") for i in range(10)]
    )
    busy = [body for status, body in results if status == 429]
    assert busy and all(b["error"]["code"] == "busy" for b in busy)
    assert len(busy) <= 8  # the queue took its two
    assert (await log_in(client, "198.51.100.2", "alice", PASSWORD))[0] == 200  # and it drains


async def test_metrics_are_off_without_a_token_and_need_it_with_one(limited: Any) -> None:
    off = await limited(metrics_token=None)
    resp = await off.get("/metrics")
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "metrics_off"
    on = await limited(metrics_token="scrape-me")
    assert (await on.get("/metrics")).status == 401
    assert (await on.get("/metrics", headers={"Authorization": "Bearer nope"})).status == 401
    resp = await on.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert resp.status == 200 and "kefu_sockets_open" in await resp.text()


async def test_a_paced_flood_is_cut_off_though_some_frames_get_through(limited: Any) -> None:
    """Sending 20× the rate lets a frame through now and then; the socket is closed all the same."""
    client = await limited(rate_burst=5, rate_per_s=10)
    sock = await greeted(client)
    closed = None
    for _ in range(600):
        try:
            await sock.ws.send_json({"type": "ping"})
        except ConnectionError:
            break
        await asyncio.sleep(0.005)
        if sock.ws.closed:
            break
    pongs = 0
    while closed is None:
        msg = await sock.ws.receive(timeout=5)
        if msg.type == WSMsgType.CLOSE:
            closed = int(msg.data)  # the server's code (close_code may read 1006: see Socket.closed)
        elif msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            closed = sock.ws.close_code
        elif msg.type == WSMsgType.TEXT:
            pongs += msg.json()["type"] == "pong"
    assert closed == WSCloseCode.POLICY_VIOLATION
    assert pongs > 5  # frames within the rate were answered before the cut
