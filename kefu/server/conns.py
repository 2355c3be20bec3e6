"""The sockets this instance holds: one record per connection, and the registry that finds them
by shop and session (shoppers) or shop and agent (agents)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from kefu.server.metrics import Metrics
from kefu.server.wire import dumps
from kefu.store.transfer import Place

__all__ = ["AgentConn", "Conn", "Registry", "ShopperConn", "send"]


@dataclass(eq=False)
class ShopperConn:
    ws: web.WebSocketResponse
    shop: str
    session_id: str
    lang: str
    # Last log id this socket was sent (or had in its history): the catch-up starts after it.
    last_id: str | None = None
    # The last queue/agent state this socket was told, to push only changes.
    told: tuple[str, str | int | None] | None = None
    # While the conversation waits: its place, moved on by `queue` events (no Redis per event).
    place: Place | None = None
    # The session's current conversation and its state as this socket last saw them: a hint
    # that saves a lookup per message (the turn script checks the state before it writes).
    conversation_id: str | None = None
    state: str | None = None
    # Bot misses in a row, for offering a human after a few.
    misses: int = 0
    # Who is asking (a keyed hash of the address; kefu/server/guard.py), whether the session
    # has been marked as one where the shopper spoke, the client_msg_id acked for the frame
    # being handled (a failure after the ack is "incomplete", not "unavailable"), and whether
    # a delivery failed after an ack (the backstop then catches this socket up).
    client: str = ""
    spoke: bool = False
    acked: str | None = None
    behind: bool = False
    # The signed-in customer this socket verified (the bot answers about their orders only
    # then), and the product of the page it is on (its id).
    customer: str | None = None
    product: tuple[str, str] | None = None  # (id, title)
    # The Origin of the page that opened the socket (None: not a browser): a product's link
    # must lead there or to an origin the shop allows.
    origin: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set, under `lock`, once `session` (and `history`) are sent: nothing may come before them.
    ready: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.shop, self.session_id)


@dataclass(eq=False)
class AgentConn:
    ws: web.WebSocketResponse
    shop: str
    agent_id: str
    name: str
    # Whose login opened it, and until when that login holds: the socket closes when the
    # access token expires or the account's tokens are revoked (token_version moves on).
    username: str = ""
    token_version: int = 0
    expires_at: float = float("inf")
    # Conversations this socket knows it holds: conversation id → (session id, last log id sent).
    known: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set, under `lock`, once `hello` is sent: nothing may reach the socket before it.
    ready: bool = False
    # Set when its login ended: the socket is closing (once, whoever noticed first).
    signed_out: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.shop, self.agent_id)


Conn = ShopperConn | AgentConn


async def send(ws: web.WebSocketResponse, frame: object) -> bool:
    """Write one frame; False when the socket is gone (the caller stops there)."""
    if ws.closed:
        return False
    try:
        await ws.send_str(dumps(frame))
    except (ConnectionError, RuntimeError):
        return False
    return True


class Registry:
    """Open sockets by (shop, session) and (shop, agent), and every websocket for shutdown."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.shoppers: dict[tuple[str, str], set[ShopperConn]] = {}
        self.agents: dict[tuple[str, str], set[AgentConn]] = {}
        # Shopper sockets whose conversation waits, by (shop, group).
        self.waiting: dict[tuple[str, str], set[ShopperConn]] = {}
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def add(self, conn: Conn) -> None:
        self.sockets.add(conn.ws)
        if isinstance(conn, ShopperConn):
            self.metrics.sockets.labels("shopper").inc()
            self.shoppers.setdefault(conn.key, set()).add(conn)
        else:
            self.metrics.sockets.labels("agent").inc()
            self.agents.setdefault(conn.key, set()).add(conn)

    def discard(self, conn: Conn) -> bool:
        """Forget the socket; True when it was the last one of its session or agent."""
        self.sockets.discard(conn.ws)
        table: dict[tuple[str, str], Any] = self.shoppers if isinstance(conn, ShopperConn) else self.agents
        self.metrics.sockets.labels("shopper" if isinstance(conn, ShopperConn) else "agent").dec()
        if isinstance(conn, ShopperConn):
            self.set_place(conn, None)
        conns = table.get(conn.key)
        if conns is None:
            return False
        conns.discard(conn)
        if conns:
            return False
        del table[conn.key]
        return True

    def set_place(self, conn: ShopperConn, place: Place | None) -> None:
        """Record where the socket's conversation waits (None: it does not)."""
        if conn.place is not None:
            key = (conn.shop, conn.place.group)
            waiting = self.waiting.get(key)
            if waiting is not None:
                waiting.discard(conn)
                if not waiting:
                    del self.waiting[key]
        conn.place = place
        if place is not None:
            self.waiting.setdefault((conn.shop, place.group), set()).add(conn)

    def waiting_in(self, shop: str, group: str) -> list[ShopperConn]:
        return list(self.waiting.get((shop, group), ()))

    def shopper_conns(self, shop: str, session_id: str) -> list[ShopperConn]:
        return list(self.shoppers.get((shop, session_id), ()))

    def agent_conns(self, shop: str, agent_id: str) -> list[AgentConn]:
        return list(self.agents.get((shop, agent_id), ()))

    def shop_shoppers(self, shop: str) -> Iterator[ShopperConn]:
        for (s, _), conns in list(self.shoppers.items()):
            if s == shop:
                yield from list(conns)

    def shop_agents(self, shop: str) -> Iterator[AgentConn]:
        for (s, _), conns in list(self.agents.items()):
            if s == shop:
                yield from list(conns)

    def all_shoppers(self) -> Iterator[ShopperConn]:
        for conns in list(self.shoppers.values()):
            yield from list(conns)

    def all_agents(self) -> Iterator[AgentConn]:
        for conns in list(self.agents.values()):
            yield from list(conns)

    async def close_all(
        self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"server shutdown"
    ) -> None:
        """Close every socket at once (each close waits for the peer's reply, up to its timeout)."""

        async def close(ws: web.WebSocketResponse) -> None:
            with contextlib.suppress(Exception):
                await ws.close(code=code, message=message)

        await asyncio.gather(*(close(ws) for ws in list(self.sockets)))
