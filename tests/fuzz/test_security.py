"""Security properties test_bad_input.py does not cover yet: origins on the agent socket, shop
isolation and roles on every operation of the API description, credentials only in the
Authorization header, no clear-text passwords anywhere, unguessable shopper tokens, stored
markup returned verbatim, the pages' Content-Security-Policy, login throttling under
concurrency, and a flood of shopper sockets."""

from __future__ import annotations

import asyncio
import base64
import collections
import html.parser
import json
import math
import re
import statistics
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.store.keys import ShopKeys
from kefu.store.shops import ShopConfig, ShopStore
from tests.fuzz.conftest import ServerLog
from tests.fuzz.test_fuzz_api import ADMIN, OPERATIONS, PUBLIC
from tests.server.conftest import (
    PASSWORD,
    SHOP,
    Socket,
    add_agent,
    login,
    session_protocols,
    setup_shop,
    ticket,
)

Client = TestClient[web.Request, web.Application]
KEYS = ShopKeys(SHOP)
OTHER = "other"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def greeted(client: Client, shop: str = SHOP, token: str | None = None, **query: str) -> Socket:
    sock = Socket(
        await client.ws_connect(
            "/ws/shopper", params={"shop": shop, **query}, protocols=session_protocols(token)
        )
    )
    await sock.expect("session")
    return sock


# ---------------------------------------------------------------------------------------------
# Origins on the agent socket
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "https://www.myshop.example",  # allowed for the shop's *shopper* socket only (below)
        "file://",
        "",
    ],
)
async def test_agent_socket_refuses_foreign_origins_before_the_upgrade(
    client: Client, redis: Redis, server_log: ServerLog, origin: str
) -> None:
    agent_id = await add_agent(redis, "alice")
    await ShopStore(redis, SHOP).save_config(ShopConfig(allowed_origins=["https://*.myshop.example"]))
    token = await login(client, "alice")
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/agent", params=await ticket(client, token), headers={"Origin": origin})
    assert refused.value.status == 403
    plain = await client.get("/ws/agent", params=await ticket(client, token), headers={"Origin": origin})
    assert plain.status == 403 and (await plain.json())["error"]["code"] == "origin_not_allowed"
    assert not await redis.exists(KEYS.agent_live(agent_id))  # never came online
    assert not server_log.seen("agent_connected")


async def test_a_ticket_refused_for_its_origin_is_not_spent(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    params = await ticket(client, await login(client, "alice"))
    refused = await client.get("/ws/agent", params=params, headers={"Origin": "https://evil.example"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "origin_not_allowed"
    ws = await client.ws_connect("/ws/agent", params=params)
    assert (await Socket(ws).expect("hello"))["agent"]["username"] == "alice"
    await ws.close()
    again = await client.get("/ws/agent", params=params)
    assert again.status == 401 and (await again.json())["error"]["code"] == "ticket_used"


async def test_agent_socket_accepts_kefus_own_and_allowed_origins(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")
    token = await login(client, "alice")
    for origin in [f"http://{client.host}:{client.port}", "http://localhost:3000", None]:
        headers = {"Origin": origin} if origin else {}
        ws = await client.ws_connect("/ws/agent", params=await ticket(client, token), headers=headers)
        assert (await Socket(ws).expect("hello"))["agent"]["username"] == "alice"
        await ws.close()


# ---------------------------------------------------------------------------------------------
# Shops and roles, on every operation the API describes
# ---------------------------------------------------------------------------------------------

MARK = "DEMO-ONLY-7f3a"


class Demo:
    """Shop demo with things only it has; shop `other` with its own admin and agent."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        # alice's console stays open: her chat must not go back to the queue while we look.
        self.desk: Socket | None = None

    def secrets(self) -> list[str]:
        return [MARK, *self.ids.values()]


async def make_demo(client: Client, redis: Redis) -> Demo:
    demo = Demo()
    demo.ids["boss"] = await add_agent(redis, "boss", role="admin")
    demo.ids["alice"] = await add_agent(redis, "alice", capacity=2)
    await setup_shop(redis, OTHER)
    await add_agent(redis, "owner", role="admin", shop=OTHER)
    await add_agent(redis, "mallory", shop=OTHER)
    for name in ("boss", "alice"):
        demo.tokens[name] = await login(client, name)
    for name in ("owner", "mallory"):
        demo.tokens[name] = await login(client, name, shop=OTHER)
    admin = bearer(demo.tokens["boss"])
    for method, path, body in [
        ("PUT", "/api/admin/settings", {"name": f"{MARK} shop"}),
        ("PUT", "/api/admin/quick-replies", {"items": [{"shortcut": "m", "text": f"{MARK} reply"}]}),
        ("POST", "/api/admin/faqs", {"id": "only-in-demo", "question": "只有这家店有的问题", "answer": MARK}),
    ]:
        resp = await client.request(method, path, json=body, headers=admin)
        assert resp.status in (200, 201), await resp.text()
    desk = Socket(await client.ws_connect("/ws/agent", params=await ticket(client, demo.tokens["alice"])))
    await desk.expect("hello")
    await desk.send({"type": "status", "status": "online"})
    await desk.expect("status")
    chat = await greeted(client)
    demo.ids["session"] = chat.frames[0]["session_id"]
    demo.ids["shopper_token"] = chat.frames[0]["token"]
    await chat.send({"type": "leave_message", "text": f"{MARK} call me", "contact": "138"})
    await chat.expect("bot", event="message_left")
    await chat.say(f"{MARK} 我的订单")
    await chat.send({"type": "transfer"})
    await chat.expect("agent_joined")
    demo.ids["conversation"] = (await desk.expect("assigned"))["conversation"]["id"]
    demo.ids["ticket"] = (await redis.xrange(KEYS.tickets))[0][0]
    await chat.close()
    demo.desk = desk
    return demo


async def demo_state(redis: Redis, demo: Demo) -> tuple[Any, ...]:
    async with redis.pipeline(transaction=True) as pipe:
        for key in (KEYS.faq, KEYS.faq_version, KEYS.config, KEYS.quick_replies):
            pipe.get(key)
        pipe.hgetall(KEYS.users)
        pipe.hgetall(KEYS.tickets_handled)
        pipe.xlen(KEYS.tickets)
        pipe.hget(KEYS.conversation(demo.ids["conversation"]), "state")
        pipe.xlen(KEYS.log(demo.ids["session"]))
        return tuple(await pipe.execute())


def aimed_at_demo(method: str, path: str, demo: Demo) -> tuple[str, Any]:
    """The operation, aimed at demo's things, with a body an admin of demo would get a 2xx for."""
    concrete = (
        path.replace("/api/conversations/{id}", f"/api/conversations/{demo.ids['conversation']}")
        .replace("/api/tickets/{id}", f"/api/tickets/{demo.ids['ticket']}")
        .replace("{id}", "only-in-demo")
        .replace("{username}", "alice")
        .replace("{shop}", SHOP)
    )
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/login"): {"shop": SHOP, "username": "alice", "password": "wrong-password"},
        ("POST", "/api/tickets/{id}/handle"): {"note": "handled by another shop"},
        ("POST", "/api/admin/faqs"): {"question": "别的店的新问题", "answer": "theirs"},
        ("PUT", "/api/admin/faqs/{id}"): {"question": "只有这家店有的问题", "answer": "hijacked"},
        ("POST", "/api/admin/faqs/{id}/phrasings"): {"text": "劫持的说法"},
        ("POST", "/api/admin/try"): {"text": "只有这家店有的问题"},
        ("PUT", "/api/admin/corpus"): "faqs:\n  - {id: theirs, question: 他们的问题, answer: 他们的答案}\n",
        ("POST", "/api/admin/unanswered/dismiss"): {"text": f"{MARK} 我的订单"},
        ("PUT", "/api/admin/settings"): {"name": "hijacked"},
        ("POST", "/api/admin/users"): {
            "username": "intruder",
            "password": "intruder-pass-1",
            "role": "admin",
        },
        ("PATCH", "/api/admin/users/{username}"): {"role": "admin", "capacity": 9},
        ("POST", "/api/admin/users/{username}/password"): {"password": "hijacked-pass-1"},
        ("PUT", "/api/admin/quick-replies"): {"items": [{"shortcut": "x", "text": "hijacked"}]},
    }
    return concrete, bodies.get((method, path))


async def send(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, str]:
    if isinstance(body, str):
        resp = await client.request(method, path, data=body.encode(), headers=headers)
    else:
        resp = await client.request(method, path, json=body, headers=headers)
    return resp.status, await resp.text()


@pytest.mark.parametrize("who", ["owner", "mallory"])
async def test_another_shops_accounts_see_and_change_nothing_of_ours(
    client: Client, redis: Redis, fast_hashing: None, who: str
) -> None:
    demo = await make_demo(client, redis)
    before = await demo_state(redis, demo)
    token = demo.tokens[who]
    # Logging out ends the caller's own tokens (nothing of ours): last.
    for method, path in sorted(OPERATIONS, key=lambda op: op[1] == "/api/logout"):
        if (method, path) in PUBLIC:
            continue
        concrete, body = aimed_at_demo(method, path, demo)
        # Naming the shop in the query or a header changes nothing either: the token decides.
        for extra in ({}, {"X-Shop": SHOP, "X-Kefu-Shop": SHOP}):
            status, text = await send(
                client, method, concrete + f"?shop={SHOP}", body, {**bearer(token), **extra}
            )
            asked = concrete + json.dumps(body, ensure_ascii=False)
            leaked = [s for s in demo.secrets() if s in text and s not in asked]
            assert not leaked, f"{who}: {method} {concrete} answered {status} with {leaked}: {text[:300]}"
            if path in ("/api/conversations/{id}", "/api/tickets/{id}/handle", "/api/admin/faqs/{id}"):
                assert status in (403, 404), (method, concrete, status)
            if (method, path) in ADMIN and who == "mallory":
                assert status == 403, (method, concrete, status)
    assert await demo_state(redis, demo) == before
    # demo's alice still logs in with her own password, and sees her own chat.
    resp = await client.get(
        f"/api/conversations/{demo.ids['conversation']}", headers=bearer(await login(client, "alice"))
    )
    assert resp.status == 200 and MARK in await resp.text()


async def test_a_token_edited_to_name_another_shop_is_refused(
    client: Client, redis: Redis, fast_hashing: None
) -> None:
    await setup_shop(redis, OTHER)
    await add_agent(redis, "owner", role="admin", shop=OTHER)
    head, payload, signature = (await login(client, "owner", shop=OTHER)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["shop"] = SHOP
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in [f"{head}.{edited}.{signature}", f"{head}.{edited}.", f"{head}.{payload}.{signature[:-2]}"]:
        resp = await client.get("/api/admin/faqs", headers=bearer(token))
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_invalid"
        resp = await client.post("/api/socket-ticket", headers=bearer(token))
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_invalid"
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/agent", params={"ticket": token})
        assert refused.value.status == 401


async def test_agents_are_refused_on_every_admin_operation(
    client: Client, redis: Redis, fast_hashing: None
) -> None:
    demo = await make_demo(client, redis)
    before = await demo_state(redis, demo)
    agent = bearer(demo.tokens["alice"])
    assert len(ADMIN) > 15
    for method, path in sorted(ADMIN):
        concrete, body = aimed_at_demo(method, path, demo)
        status, text = await send(client, method, concrete, body, agent)
        assert status == 403, (method, concrete, status, text[:200])
        assert json.loads(text)["error"]["code"] == "admin_only"
    assert await demo_state(redis, demo) == before


async def test_tokens_are_never_taken_from_cookies(client: Client, redis: Redis, fast_hashing: None) -> None:
    await add_agent(redis, "boss", role="admin")
    token = await login(client, "boss")
    for name in ["token", "kefu_token", "access_token", "Authorization", "auth", "session", "jwt"]:
        value = f"Bearer {token}" if name == "Authorization" else token
        jar = {"Cookie": f"{name}={value}"}
        for path in ["/api/me", "/api/admin/faqs", "/api/tickets", "/api/quick-replies"]:
            resp = await client.get(path, headers=jar)
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_missing", (
                name,
                path,
            )
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/agent", headers=jar)
        assert refused.value.status == 401
    assert (await client.get("/api/me", headers=bearer(token))).status == 200  # the token itself is good


# ---------------------------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------------------------


async def every_value_in_redis(redis: Redis) -> str:
    """Every key and value of every type, as one string."""
    parts: list[str] = []
    async for key in redis.scan_iter(count=500):
        parts.append(key)
        kind = await redis.type(key)
        if kind == "string":
            parts.append(str(await redis.get(key)))
        elif kind == "hash":
            parts.append(json.dumps(await redis.hgetall(key), ensure_ascii=False))
        elif kind == "list":
            parts.extend(await redis.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(await redis.smembers(key))
        elif kind == "zset":
            parts.extend(str(m) for m in await redis.zrange(key, 0, -1))
        elif kind == "stream":
            parts.append(json.dumps(await redis.xrange(key), ensure_ascii=False))
        else:
            raise AssertionError(f"unexpected type {kind} of {key}")
    return "\n".join(parts)


async def test_passwords_never_appear_in_answers_redis_or_logs(
    client: Client, redis: Redis, server_log: ServerLog, fast_hashing: None
) -> None:
    first, second, wrong = "Carol-first-Pa55", "Carol-second-Pa55", "Carol-wrong-Pa55"
    await add_agent(redis, "boss", role="admin")
    admin = bearer(await login(client, "boss"))
    answers: list[str] = []

    async def call(method: str, path: str, body: Any = None, headers: dict[str, str] = admin) -> int:
        resp = await client.request(method, path, json=body, headers=headers)
        answers.append(await resp.text())
        return resp.status

    assert (
        await call("POST", "/api/admin/users", {"username": "carol", "password": first, "role": "agent"})
        == 201
    )
    assert (
        await call("POST", "/api/admin/users", {"username": "carol", "password": first, "role": "agent"})
        == 409
    )
    assert await call("POST", "/api/login", {"shop": SHOP, "username": "carol", "password": first}) == 200
    assert await call("POST", "/api/login", {"shop": SHOP, "username": "carol", "password": wrong}) == 401
    assert await call("POST", "/api/admin/users/carol/password", {"password": second}) == 204
    assert await call("POST", "/api/admin/users/carol/password", {"password": "Sh0rt!"}) == 422
    assert await call("POST", "/api/login", {"shop": SHOP, "username": "carol", "password": first}) == 401
    assert await call("POST", "/api/login", {"shop": SHOP, "username": "carol", "password": second}) == 200
    carol = bearer(json.loads(answers[-1])["token"])
    assert await call("PATCH", "/api/admin/users/carol", {"name": "Carol"}) == 200
    assert await call("GET", "/api/admin/users") == 200
    assert await call("GET", "/api/me", headers=carol) == 200
    assert await call("GET", "/api/admin/users/carol") in (404, 405)
    everything = "\n".join(answers)
    for secret in (first, second, wrong, PASSWORD, "argon2", "password_hash", "token_version"):
        assert secret not in everything, secret
    stored = await every_value_in_redis(redis)
    for secret in (first, second, wrong, PASSWORD, "Sh0rt!"):
        assert secret not in stored, secret
    assert stored.count("$argon2id$") == 2  # boss and carol, hashed
    logged = json.dumps(server_log.events, default=str) + "\n".join(
        r.getMessage() for r in server_log.caplog.records
    )
    for secret in (first, second, wrong):
        assert secret not in logged


# ---------------------------------------------------------------------------------------------
# Shopper tokens
# ---------------------------------------------------------------------------------------------


async def test_shopper_tokens_are_long_random_and_unrelated(client: Client) -> None:
    sessions = []
    for _ in range(40):
        sock = await greeted(client)
        sessions.append((sock.frames[0]["session_id"], sock.frames[0]["token"]))
        await sock.close()
    tokens = [t for _, t in sessions]
    assert len(set(tokens)) == len(tokens)
    for session_id, token in sessions:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token), token
        assert session_id not in token
    longest_shared_prefix = max(
        len(next(iter(x for x in (a[:n] for n in range(len(a), -1, -1)) if b.startswith(x))))
        for i, a in enumerate(tokens)
        for b in tokens[i + 1 :]
    )
    assert longest_shared_prefix < 6
    counts = collections.Counter("".join(tokens))
    total = sum(counts.values())
    entropy = -sum(c / total * math.log2(c / total) for c in counts.values())
    assert entropy > 5.6, entropy  # 6 bits per character at most (64 symbols)
    assert len(tokens[0]) * 6 >= 256  # 256 bits: not guessable


async def test_a_shopper_token_resumes_its_own_session_only(client: Client, redis: Redis) -> None:
    await setup_shop(redis, OTHER)
    a, b = await greeted(client), await greeted(client)
    await a.say("我是A 包邮吗")
    await b.say("我是B 包邮吗")
    await a.expect("ack")
    await b.expect("ack")
    session_a, token_a = a.frames[0]["session_id"], a.frames[0]["token"]
    session_b = b.frames[0]["session_id"]
    await a.close()
    await b.close()
    again = await greeted(client, token=token_a)
    assert again.frames[0]["session_id"] == session_a and again.frames[0]["resumed"] is True
    history = json.dumps((await again.expect("history"))["messages"], ensure_ascii=False)
    assert "我是A" in history and "我是B" not in history
    await again.close()
    for token, shop in [
        (session_b, SHOP),  # a session id is not a token
        (token_a[:-1] + ("A" if token_a[-1] != "A" else "B"), SHOP),  # one character off
        (token_a.upper(), SHOP),
        (token_a + "=", SHOP),
        (token_a, OTHER),  # the same token in another shop
        ("", SHOP),
    ]:
        fresh = await greeted(client, shop=shop, token=token)
        frame = fresh.frames[0]
        assert frame["resumed"] is False and frame["session_id"] not in (session_a, session_b), token
        if token:
            assert (await fresh.expect("error"))["code"] == "session_expired"
        assert "我是A" not in json.dumps(fresh.frames + await fresh.silent(0.1), ensure_ascii=False)
        await fresh.close()


async def test_shopper_tokens_never_reach_agents_or_the_api(
    client: Client, redis: Redis, fast_hashing: None
) -> None:
    demo = await make_demo(client, redis)
    token = demo.ids["shopper_token"]
    desk = Socket(await client.ws_connect("/ws/agent", params=await ticket(client, demo.tokens["alice"])))
    hello = await desk.expect("hello")
    assert hello["conversations"] and token not in json.dumps(hello)
    await desk.close()
    for path in [
        f"/api/conversations/{demo.ids['conversation']}",
        "/api/tickets?status=all",
        "/api/admin/stats",
    ]:
        resp = await client.get(path, headers=bearer(demo.tokens["boss"]))
        assert resp.status == 200 and token not in await resp.text(), path
    assert token not in await every_value_in_redis(redis)  # stored only as a hash


# ---------------------------------------------------------------------------------------------
# Markup is data: stored and returned verbatim, never mangled; pages forbid inline script
# ---------------------------------------------------------------------------------------------

XSS = [
    '<script>alert("kefu")</script>',
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "<svg/onload=alert`1`>",
    "{{constructor.constructor('alert(1)')()}}",
    "&lt;b&gt;already escaped&lt;/b&gt; &amp; &#x3C;",
    "</textarea><iframe srcdoc='<script>alert(1)</script>'>",
    "\u202egnp.exe <b>bold</b> 'single' \"double\" `back` \\ /",
]


async def eventually(check: Any, seconds: float = 3.0) -> Any:
    """Retry `check()` (changes reach the bot and the config cache through an event)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_markup_is_stored_and_served_verbatim(client: Client, redis: Redis, fast_hashing: None) -> None:
    await add_agent(redis, "boss", role="admin")
    admin = bearer(await login(client, "boss"))
    answer = "\n".join(XSS)
    question = "XSS测试 <svg onload=alert(1)> 怎么办"
    resp = await client.post(
        "/api/admin/faqs", json={"question": question, "answer": answer, "category": XSS[1]}, headers=admin
    )
    assert resp.status == 201, await resp.text()
    faq = await resp.json()
    assert resp.content_type == "application/json" and resp.headers["X-Content-Type-Options"] == "nosniff"
    stored = await (await client.get(f"/api/admin/faqs/{faq['id']}", headers=admin)).json()
    assert (stored["question"], stored["answer"], stored["category"]) == (question, answer, XSS[1])
    replies = {"items": [{"shortcut": f"x{i}", "text": text} for i, text in enumerate(XSS)]}
    assert (await client.put("/api/admin/quick-replies", json=replies, headers=admin)).status == 200
    assert await (await client.get("/api/quick-replies", headers=admin)).json() == replies
    greeting = {"zh": XSS[0], "en": XSS[6]}
    settings = {"name": XSS[1], "greeting": greeting, "offline": {"zh": XSS[3], "en": XSS[4]}}
    resp = await client.put("/api/admin/settings", json=settings, headers=admin)
    assert resp.status == 200, await resp.text()
    got = await (await client.get("/api/admin/settings", headers=admin)).json()
    assert (got["name"], got["greeting"], got["offline"]) == (XSS[1], greeting, settings["offline"])
    name = XSS[1]
    resp = await client.post(
        "/api/admin/users",
        json={"username": "mal", "password": "mal-password-1", "role": "agent", "name": name},
        headers=admin,
    )
    assert resp.status == 201 and (await resp.json())["name"] == name

    # The same texts reach the shopper and the agent unchanged.
    async def greeted_with_payload() -> Socket:
        sock = await greeted(client)
        try:
            assert (await sock.expect("bot", decision="greeting"))["text"] == XSS[0]
        except AssertionError:
            await sock.close()
            raise
        return sock

    chat = await eventually(greeted_with_payload)

    async def answered() -> None:
        await chat.say(question)
        reply = await chat.expect("bot")
        assert reply["decision"] == "answer" and reply["text"] == answer, reply

    await eventually(answered)
    resp = await client.post(
        "/api/login", json={"shop": SHOP, "username": "mal", "password": "mal-password-1"}
    )
    desk = Socket(
        await client.ws_connect("/ws/agent", params=await ticket(client, (await resp.json())["token"]))
    )
    assert (await desk.expect("hello"))["agent"]["name"] == name
    await desk.send({"type": "status", "status": "online"})
    await desk.expect("status")
    await chat.send({"type": "transfer"})
    assert (await chat.expect("agent_joined"))["agent"]["name"] == name
    await desk.close()
    await chat.close()


class _PageScan(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.inline.append(f"<{tag} {name}={value!r}>")
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:40]}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


@pytest.mark.parametrize("path", ["/", "/console", "/admin"])
async def test_pages_send_a_strict_content_security_policy(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200 and resp.content_type == "text/html"
    header = resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header and "strict-dynamic" not in header
    directives = csp_directives(header)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts == ["'self'"], header
    assert directives.get("object-src") == ["'none'"] and directives.get("frame-ancestors") == ["'none'"]
    assert directives.get("base-uri") == ["'none'"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"
    scan = _PageScan()
    scan.feed(await resp.text())
    assert scan.inline == []  # nothing the policy would have to allow inline


@pytest.mark.parametrize("page", ["admin", "console", "shop"])
async def test_pages_under_static_send_the_policy_too(client: Client, page: str) -> None:
    resp = await client.get(f"/static/{page}/index.html")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "Content-Security-Policy" in resp.headers and resp.headers.get("X-Frame-Options") == "DENY"


# ---------------------------------------------------------------------------------------------
# Login throttling
# ---------------------------------------------------------------------------------------------


async def try_login(client: Client, username: str, password: str, shop: str = SHOP) -> int:
    resp = await client.post("/api/login", json={"shop": shop, "username": username, "password": password})
    return resp.status


async def test_lockout_is_per_account_and_holds_back_the_right_password(
    client: Client, redis: Redis, fast_hashing: None
) -> None:
    await setup_shop(redis, OTHER)
    for shop in (SHOP, OTHER):
        await add_agent(redis, "alice", shop=shop)
    await add_agent(redis, "bob")
    for _ in range(5):
        assert await try_login(client, "alice", "guess-guess") == 401
    for username, password in [
        ("alice", PASSWORD),
        ("alice", "guess-guess"),
        ("ALICE", PASSWORD),
        ("Alice", "x"),
    ]:
        resp = await client.post(
            "/api/login", json={"shop": SHOP, "username": username, "password": password}
        )
        assert resp.status == 429, (username, resp.status)
        assert int(resp.headers["Retry-After"]) > 0 and "token" not in await resp.text()
    assert await try_login(client, "bob", PASSWORD) == 200  # other accounts are not locked
    assert await try_login(client, "alice", PASSWORD, shop=OTHER) == 200  # nor alice of another shop


async def test_concurrent_guesses_cannot_get_past_the_lockout(
    client: Client, redis: Redis, fast_hashing: None
) -> None:
    await add_agent(redis, "alice")
    statuses = await asyncio.gather(*[try_login(client, "alice", f"guess-{i:04d}") for i in range(30)])
    assert statuses.count(401) <= 5, f"{statuses.count(401)} guesses were checked"
    # Sent inside the burst, the right password may be checked before the lockout starts (and
    # rightly get in); after the burst it must not.
    assert await try_login(client, "alice", PASSWORD) == 429, (
        "the right password got through after 30 wrong ones"
    )


async def login_seconds(client: Client, username: str) -> float:
    start = time.perf_counter()
    await try_login(client, username, "wrong-password")
    return time.perf_counter() - start


async def test_login_time_does_not_tell_which_accounts_exist(client: Client, redis: Redis) -> None:
    await add_agent(redis, "alice")  # real argon2 parameters here
    known = statistics.median([await login_seconds(client, "alice") for _ in range(3)])
    unknown = statistics.median([await login_seconds(client, f"nobody{i}") for i in range(3)])
    assert known < 3 * unknown + 0.02, f"known user {known:.3f}s, unknown user {unknown:.3f}s"


async def test_a_login_does_not_stall_everyone_else(client: Client, redis: Redis) -> None:
    """Client and server share this event loop, so a stalled server shows as a long gap
    between two turns of the ping loop below (with the hash off the loop, the gaps stay ~10 ms)."""
    await add_agent(redis, "alice")  # real argon2 parameters here
    chat = await greeted(client)
    await chat.expect("bot")
    took = await login_seconds(client, "alice")  # one login alone
    logging_in = asyncio.ensure_future(login_seconds(client, "alice"))
    longest_gap, last = 0.0, time.perf_counter()
    while not logging_in.done():  # ping all along the second one
        await chat.send({"type": "ping"})
        await chat.expect("pong")
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        longest_gap, last = max(longest_gap, now - last), now
    await logging_in
    await chat.close()
    assert longest_gap < 0.3 * took + 0.02, (
        f"the loop stood still {longest_gap:.3f}s during a {took:.3f}s login"
    )


# ---------------------------------------------------------------------------------------------
# A flood of shopper sockets
# ---------------------------------------------------------------------------------------------


async def test_a_flood_of_shopper_sockets_is_served_and_closes_cleanly(
    client: Client, server_log: ServerLog
) -> None:
    url = client.make_url("/ws/shopper")
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
            ws = await session.ws_connect(url, params={"shop": SHOP})
            frame = await ws.receive_json(timeout=20)
            return ws, frame["frames"][0] if frame["type"] == "batch" else frame

        opened = await asyncio.gather(*[one() for _ in range(200)])
        assert all(frame["type"] == "session" for _, frame in opened)
        assert len({frame["session_id"] for _, frame in opened}) == 200
        health = await (await client.get("/healthz")).json()
        assert health["sockets"] >= 200
        closed = await asyncio.gather(*[ws.close() for ws, _ in opened])
        assert all(closed) and all(ws.close_code == 1000 for ws, _ in opened)

    async def all_gone() -> None:
        assert (await (await client.get("/healthz")).json())["sockets"] == 0

    await eventually(all_gone)
    assert server_log.problems() == []
    assert sum(e.get("event") == "shopper_disconnected" for e in server_log.events) == 200
