"""Server fixtures: real apps on the test Redis, and small clients that speak the protocol."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from kefu.faq.corpus import default_corpus
from kefu.redisserver import RedisServer
from kefu.server.app import create_app
from kefu.settings import Settings
from kefu.store.accounts import Accounts
from kefu.store.shops import ShopConfig, ShopStore
from tests.limits import LOOSE_LIMITS

SHOP = "demo"
PASSWORD = "correct horse battery"
METRICS_TOKEN = "test-metrics-token"

AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def make_settings(redis_server: RedisServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_server.url,
        "secret_key": "test-secret-key-0123456789-0123456789",
        "presence_interval_s": 0.2,
        "janitor_interval_s": 0.1,
        "catch_up_s": 0.5,
        "faq_poll_s": 0.2,
        "shopper_grace_s": 1.0,
        "agent_grace_s": 1.0,
        "log_json": True,
        "metrics_token": METRICS_TOKEN,
        **LOOSE_LIMITS,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(redis_server: RedisServer, redis: Redis) -> Settings:  # `redis` flushes the database
    return make_settings(redis_server)


async def setup_shop(redis: Redis, shop: str = SHOP, *, config: ShopConfig | None = None) -> None:
    store = ShopStore(redis, shop)
    await store.create(config)
    if config is not None:
        await store.save_config(config)
    await store.save_corpus(default_corpus())


@pytest.fixture
async def shop(redis: Redis) -> str:
    await setup_shop(redis)
    return SHOP


async def add_agent(
    redis: Redis,
    username: str,
    *,
    shop: str = SHOP,
    capacity: int = 1,
    role: str = "agent",
    groups: list[str] | None = None,
) -> str:
    user = await Accounts(redis, shop).add(
        username,
        PASSWORD,
        role=role,
        name=username.title(),  # type: ignore[arg-type]
        capacity=capacity,
        groups=groups,
    )
    return user.id


@pytest.fixture
async def client(
    aiohttp_client: AppClient, settings: Settings, shop: str
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_app(settings))


class Socket:
    """A websocket client that buffers frames; tests wait for the frames they expect.

    `expect` takes the first buffered (or next arriving) frame that matches and leaves the
    others buffered, so two things that happen at once can be awaited in either order.
    `frames` keeps everything received, in order, with the frames of a `batch` taken out of it;
    `writes` counts the websocket messages.
    """

    _ids = itertools.count()

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.writes = 0
        # The code of the server's close frame, once one arrived.
        self.close_code: int | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def say(self, text: str, **extra: Any) -> str:
        client_msg_id = f"m{next(self._ids)}"
        await self.send({"type": "message", "text": text, "client_msg_id": client_msg_id, **extra})
        return client_msg_id

    async def _receive(self, timeout: float) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == WSMsgType.CLOSE:
            self.close_code = int(msg.data)
        if msg.type != WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type} {msg.data!r} {msg.extra!r}")
        frame: dict[str, Any] = msg.json()
        self.writes += 1
        inner = frame["frames"] if frame.get("type") == "batch" else [frame]
        self.frames.extend(inner)
        self.pending.extend(inner)
        return frame

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        if not self.pending:
            await self._receive(timeout)
        return self.pending.pop(0)

    async def expect(self, kind: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        def matches(frame: dict[str, Any]) -> bool:
            return frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.pending):
                if matches(frame):
                    return self.pending.pop(i)
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"no {kind} frame {fields} within {timeout}s; pending {self.pending[-8:]}"
                )
            try:
                await self._receive(left)
            except TimeoutError:
                continue

    async def silent(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Frames arriving within `seconds` (plus any still buffered)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                await self._receive(left)
            except (TimeoutError, ConnectionError):
                break
        got, self.pending = self.pending, []
        return got

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the server closes the socket (frames meanwhile are buffered); the code
        its close frame carried. Not `ws.close_code`: the client's own reply to the close may
        end on the server dropping the connection, and then that reads 1006."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.close_code is None and not self.ws.closed:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError("the socket stayed open")
            try:
                await self._receive(left)
            except TimeoutError:
                continue
            except ConnectionError:
                break
        return self.close_code if self.close_code is not None else self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


def session_protocols(token: str | None) -> list[str]:
    """What a widget offers as subprotocols: kefu.v1, and its session token to resume a chat."""
    return ["kefu.v1", *([f"kefu.session.{token}"] if token else [])]


async def shopper(
    client: TestClient[web.Request, web.Application],
    *,
    shop: str = SHOP,
    token: str | None = None,
    **query: str,
) -> Socket:
    params = {"shop": shop, **query}
    ws = await client.ws_connect("/ws/shopper", params=params, protocols=session_protocols(token))
    return Socket(ws)


async def login(client: TestClient[web.Request, web.Application], username: str, *, shop: str = SHOP) -> str:
    resp = await client.post("/api/login", json={"shop": shop, "username": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["token"])


async def ticket(client: TestClient[web.Request, web.Application], token: str) -> dict[str, str]:
    """Query parameters that open one agent socket: a fresh single-use ticket for `token`."""
    resp = await client.post("/api/socket-ticket", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return {"ticket": str((await resp.json())["ticket"])}


async def agent(
    client: TestClient[web.Request, web.Application], username: str, *, online: bool = True, shop: str = SHOP
) -> Socket:
    token = await login(client, username, shop=shop)
    ws = await client.ws_connect("/ws/agent", params=await ticket(client, token))
    sock = Socket(ws)
    await sock.expect("hello")
    if online:
        await sock.send({"type": "status", "status": "online"})
        await sock.expect("status", status="online")
    return sock


@pytest.fixture
async def cleanup_sockets() -> AsyncIterator[list[Socket]]:
    sockets: list[Socket] = []
    yield sockets
    for sock in sockets:
        await sock.close()
