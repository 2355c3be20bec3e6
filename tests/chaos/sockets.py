"""Raw protocol sockets for the focused chaos tests: every frame kept, in order."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from tests.chaos.clients import id_key, ticket
from tests.chaos.cluster import PASSWORD, SHOP

__all__ = ["Sock", "agent_socket", "burst", "first", "id_key", "lines", "login", "next_id", "shopper_socket"]

_ids = itertools.count()


def next_id() -> str:
    return f"x{next(_ids)}"


class Sock:
    """A raw socket that keeps every frame it got, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.unread: list[dict[str, Any]] = []  # the rest of a batch `until` stopped in

    async def until(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            while self.unread:
                frame = self.unread.pop(0)
                if frame.get("type") == kind:
                    return frame
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != WSMsgType.TEXT:
                raise ConnectionError(f"closed before {kind}: {msg.type}")
            outer: dict[str, Any] = msg.json()
            inner = outer["frames"] if outer.get("type") == "batch" else [outer]
            self.frames.extend(inner)
            self.unread.extend(inner)

    async def drain(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                return
            if msg.type != WSMsgType.TEXT:
                return
            outer = msg.json()
            self.frames.extend(outer["frames"] if outer.get("type") == "batch" else [outer])

    async def say(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def close(self) -> None:
        await self.ws.close()


async def login(http: aiohttp.ClientSession, base: str, username: str) -> str:
    body = {"shop": SHOP, "username": username, "password": PASSWORD}
    async with http.post(base + "/api/login", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def agent_socket(http: aiohttp.ClientSession, base: str, token: str) -> Sock:
    sock = Sock(await http.ws_connect(base + "/ws/agent", params=await ticket(http, base, token)))
    await sock.until("hello")
    return sock


async def shopper_socket(
    http: aiohttp.ClientSession, base: str, token: str | None = None, **params: str
) -> Sock:
    protocols = ["kefu.v1", *([f"kefu.session.{token}"] if token else [])]
    query = {"shop": SHOP, "lang": "en", **params}
    return Sock(await http.ws_connect(base + "/ws/shopper", params=query, protocols=protocols))


async def burst(sock: Sock, frames: list[dict[str, Any]], gap_s: float) -> None:
    for frame in frames:
        await sock.say(frame)
        await asyncio.sleep(gap_s)


def first(sock: Sock, kind: str) -> dict[str, Any]:
    return next(f for f in sock.frames if f.get("type") == kind)


def lines(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for frame in frames:
        if frame.get("type") == "history":
            out += frame["messages"]
        elif frame.get("id"):
            out.append(frame)
    return out
