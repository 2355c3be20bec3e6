"""Delivery: the sockets this instance holds, and how what happens in Redis reaches them.

Everything a shopper or agent must see is first written to a session's log (messages, bot
replies, "agent joined", "closed"…). Each socket remembers the last log id it was sent and
catches up from there, so a frame is never lost or doubled. Redis pub/sub only says *when* to
catch up; a periodic backstop catches up anyway, so a missed event delays a frame by seconds
but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSCloseCode, web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kefu.server.bot import Bots
from kefu.server.frames import dumps, entry_dict, entry_frame
from kefu.server.learning import Learning
from kefu.server.metrics import Metrics
from kefu.settings import Settings
from kefu.store.events import (
    AgentGone,
    Assigned,
    Closed,
    ConfigChanged,
    Event,
    FaqChanged,
    LeftQueue,
    LogWritten,
    Queued,
    QueueMoved,
    Requeued,
    TicketsChanged,
    Transferred,
    Typing,
    parse,
)
from kefu.store.keys import EVENTS_PATTERN, ShopKeys
from kefu.store.log import Entry
from kefu.store.presence import touch
from kefu.store.scripts import Scripts
from kefu.store.sessions import Sessions
from kefu.store.shops import ShopConfig, ShopStore
from kefu.store.transfer import Queue

__all__ = ["AgentConn", "Hub", "ShopperConn"]

log = structlog.get_logger(__name__)


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
    # The session's current conversation as this socket last saw it (saves a lookup per message).
    conversation_id: str | None = None
    # Bot misses in a row, for offering a human after a few.
    misses: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set, under `lock`, once `session` (and `history`) are sent: nothing may come before them.
    ready: bool = False


@dataclass(eq=False)
class AgentConn:
    ws: web.WebSocketResponse
    shop: str
    agent_id: str
    name: str
    # Conversations this socket knows it holds: conversation id → (session id, last log id sent).
    known: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set, under `lock`, once `hello` is sent: nothing may reach the socket before it.
    ready: bool = False


def _shop_of(channel: str) -> str:
    return channel[channel.index("{") + 1 : channel.index("}")]


class Hub:
    """The registry of this instance's sockets, and everything that pushes frames to them."""

    def __init__(
        self, redis: Redis, scripts: Scripts, settings: Settings, bots: Bots, metrics: Metrics
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.scripts = scripts
        self.settings = settings
        self.bots = bots
        self.shoppers: dict[tuple[str, str], set[ShopperConn]] = {}
        self.agents: dict[tuple[str, str], set[AgentConn]] = {}
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._configs: dict[str, tuple[float, ShopConfig]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue_pending: set[str] = set()
        self.subscribed = asyncio.Event()

    # ---- registry ----

    def websocket(self) -> web.WebSocketResponse:
        """The response every socket starts as, shopper or agent."""
        return web.WebSocketResponse(
            heartbeat=self.settings.heartbeat_s,
            # aiohttp refuses a message of max_msg_size bytes too; frames *over* the limit close
            # with 1009 (docs/protocol.md), one of exactly max_frame_bytes is read.
            max_msg_size=self.settings.max_frame_bytes + 1,
            compress=False,
            timeout=5.0,
        )

    def add(self, conn: ShopperConn | AgentConn) -> None:
        self.sockets.add(conn.ws)
        self.metrics.sockets.labels("shopper" if isinstance(conn, ShopperConn) else "agent").inc()
        if isinstance(conn, ShopperConn):
            self.shoppers.setdefault((conn.shop, conn.session_id), set()).add(conn)
        else:
            self.agents.setdefault((conn.shop, conn.agent_id), set()).add(conn)

    def discard(self, conn: ShopperConn | AgentConn) -> None:
        self.sockets.discard(conn.ws)
        self.metrics.sockets.labels("shopper" if isinstance(conn, ShopperConn) else "agent").dec()
        table: dict[Any, Any] = self.shoppers if isinstance(conn, ShopperConn) else self.agents
        key = (conn.shop, conn.session_id if isinstance(conn, ShopperConn) else conn.agent_id)
        conns = table.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del table[key]
                if isinstance(conn, AgentConn):
                    # No new chats for an agent without a socket; another instance holding one
                    # restores the key at its next refresh.
                    self.spawn(self.redis.delete(ShopKeys(conn.shop).agent_live(conn.agent_id)))

    def sessions(self, shop: str) -> Sessions:
        return Sessions(
            self.redis,
            self.scripts,
            shop,
            token_ttl_s=self.settings.shopper_token_ttl_s,
            retention_s=self.settings.retention_days * 86400,
        )

    def queue(self, shop: str) -> Queue:
        return Queue(self.redis, self.scripts, shop)

    def learning(self, shop: str) -> Learning:
        return Learning(self.redis, self.scripts, shop, self.metrics)

    async def config(self, shop: str) -> ShopConfig:
        """Shop settings, cached for a few seconds (a 'config' event drops the cache)."""
        cached = self._configs.get(shop)
        if cached is not None and time.monotonic() - cached[0] < 5.0:
            return cached[1]
        config = await ShopStore(self.redis, shop).config()
        self._configs[shop] = (time.monotonic(), config)
        return config

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("delivery_failed", error=repr(exc))

    @staticmethod
    async def send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> bool:
        if ws.closed:
            return False
        try:
            await ws.send_str(dumps(frame))
        except (ConnectionError, RuntimeError):
            return False
        return True

    # ---- shoppers ----

    async def deliver_shopper(self, conn: ShopperConn, *, tell_state: bool = False) -> None:
        """Send the shopper every log line after the last one it got, then queue/agent state.

        `tell_state` repeats the current state even if unchanged (the shopper asked again)."""
        async with conn.lock:
            if not conn.ready:
                return  # the socket is opening; it reads the log after this event's write
            sessions = self.sessions(conn.shop)
            config = await self.config(conn.shop)
            changed = tell_state or conn.told is None or conn.told[0] in ("queued", "assigned")
            for entry in await sessions.entries(conn.session_id, conn.last_id):
                conn.last_id = entry.id
                changed = changed or entry.sender in ("system", "agent")
                frame = self.shopper_frame(entry, config, conn.lang)
                if frame is None:
                    continue
                if not await self.send(conn.ws, frame):
                    return
                if entry.sender in ("bot", "agent"):
                    self.metrics.messages_out.labels(conn.shop, entry.sender).inc()
            if changed:  # a chat with the bot only has no queue or agent state to tell
                await self._tell_state(conn, sessions, tell_state)

    async def _tell_state(self, conn: ShopperConn, sessions: Sessions, force: bool) -> None:
        conversation = await sessions.current(conn.session_id)
        if conversation is None:
            return
        conn.conversation_id = conversation.id
        if conversation.state == "queued":
            queue = self.queue(conn.shop)
            position = await queue.position(conversation.id, conversation.group)
            if position is not None and (force or conn.told != ("queued", position)):
                await self.send(
                    conn.ws,
                    {
                        "type": "queued",
                        "position": position,
                        "estimated_wait_s": await queue.estimated_wait_s(conversation.group, position),
                        "group": conversation.group,
                    },
                )
            conn.told = ("queued", position)
        elif conversation.state == "assigned":
            if force and conversation.agent:
                name = await self.redis.hget(ShopKeys(conn.shop).agent(conversation.agent), "name")
                await self.send(
                    conn.ws, {"type": "agent_joined", "agent": {"id": conversation.agent, "name": name}}
                )
            conn.told = ("assigned", conversation.agent)
        else:
            conn.told = (conversation.state, None)

    def shopper_frame(self, entry: Entry, config: ShopConfig, lang: str) -> dict[str, Any] | None:
        """The live frame for a log line (the shopper's own lines come back as `shopper`
        frames, so a second tab of the same chat shows them too)."""
        if entry.sender == "shopper":
            return {
                "type": "shopper",
                "id": entry.id,
                "text": entry.text,
                "ts": entry.ts,
                "client_msg_id": entry.client_msg_id,
            }
        if entry.sender != "system":
            return entry_frame(entry, transfer_label=config.transfer_label.get(lang))
        event = entry.event
        if event == "agent_joined":
            return {
                "type": "agent_joined",
                "id": entry.id,
                "agent": {"id": entry.agent_id, "name": entry.agent_name},
            }
        if event == "closed":
            return {"type": "closed", "id": entry.id, "by": entry.by}
        if event == "offline" or (event == "left_queue" and entry.reason == "timeout"):
            return {
                "type": "offline",
                "id": entry.id,
                "text": config.offline.get(lang),
                "leave_message": True,
            }
        text = self.system_text(entry, config, lang)
        if text is None:
            return None
        return {
            "type": "bot",
            "id": entry.id,
            "text": text,
            "ts": entry.ts,
            "decision": "notice",
            "faq_id": None,
            "suggestions": [],
            "actions": [],
            "event": event,
        }

    @staticmethod
    def system_text(entry: Entry, config: ShopConfig, lang: str) -> str | None:
        if entry.event == "agent_joined":
            name = entry.agent_name or ""
            return f"{name} joined the chat" if lang == "en" else f"{name} 已接入"
        texts = {
            "queued": config.queued,
            "transferred": config.queued,
            "requeued": config.requeued,
            "left_queue": config.left_queue,
            "offline": config.offline,
            "rated": config.rated,
            "message_left": config.message_left,
            "closed": config.closed,
        }
        localized = texts.get(entry.event or "")
        return localized.get(lang) if localized else None

    def history_item(self, entry: Entry, config: ShopConfig, lang: str) -> dict[str, Any]:
        item = entry_dict(entry)
        if entry.transfer:
            item["actions"] = [{"type": "transfer", "label": config.transfer_label.get(lang)}]
        if entry.sender == "system":
            item["event"] = entry.event
            item["text"] = self.system_text(entry, config, lang) or ""
            if entry.event == "agent_joined":
                item["agent"] = {"id": entry.agent_id, "name": entry.agent_name}
            for key in ("by", "reason", "group"):
                if getattr(entry, key):
                    item[key] = getattr(entry, key)
        return item

    # ---- agents ----

    async def deliver_agent(self, conn: AgentConn) -> None:
        """Tell the agent of conversations assigned or taken away, then new shopper lines."""
        async with conn.lock:
            if not conn.ready:
                return  # `hello` is being built; it reads Redis after this event's write
            keys = ShopKeys(conn.shop)
            sessions = self.sessions(conn.shop)
            held = {str(c) for c in await self.redis.smembers(keys.agent_conversations(conn.agent_id))}
            for conversation_id in sorted(held - conn.known.keys()):
                frame = await self.assigned_frame(conn.shop, conversation_id)
                if frame is None:
                    continue
                transcript = frame["conversation"]["transcript"]
                conn.known[conversation_id] = (
                    frame["conversation"]["shopper"]["session_id"],
                    transcript[-1]["id"] if transcript else None,
                )
                await self.send(conn.ws, frame)
            for conversation_id in sorted(conn.known.keys() - held):
                conversation = await sessions.conversation(conversation_id)
                by = conversation.closed_by if conversation and conversation.state == "closed" else None
                reason = (
                    "closed"
                    if by
                    else "transferred"
                    if conversation and conversation.state != "bot"
                    else "left"
                )
                await self.send(
                    conn.ws,
                    {"type": "conversation_closed", "conversation_id": conversation_id, "by": by or reason},
                )
                del conn.known[conversation_id]
            for conversation_id, (session_id, last) in list(conn.known.items()):
                entries = await sessions.entries(session_id, last)
                for entry in entries:
                    if entry.conversation_id == conversation_id and entry.sender == "shopper":
                        await self.send(
                            conn.ws,
                            {
                                "type": "message",
                                "conversation_id": conversation_id,
                                "id": entry.id,
                                "from": "shopper",
                                "text": entry.text,
                                "ts": entry.ts,
                            },
                        )
                if entries:
                    conn.known[conversation_id] = (session_id, entries[-1].id)

    async def assigned_frame(self, shop: str, conversation_id: str) -> dict[str, Any] | None:
        sessions = self.sessions(shop)
        conversation = await sessions.conversation(conversation_id)
        if conversation is None:
            return None
        raw = await self.redis.hmget(ShopKeys(shop).conversation(conversation_id), "queued_at", "assigned_at")
        queued_at, assigned_at = (int(x) if x else None for x in raw)
        config = await self.config(shop)
        transcript = [
            self.history_item(e, config, conversation.lang)
            for e in await sessions.transcript(conversation.session, conversation_id)
        ]
        return {
            "type": "assigned",
            "conversation": {
                "id": conversation_id,
                "group": conversation.group,
                "waited_s": round((assigned_at - queued_at) / 1000) if queued_at and assigned_at else 0,
                "shopper": {"session_id": conversation.session, "lang": conversation.lang},
                "transcript": transcript,
            },
        }

    async def queue_frame(self, shop: str) -> dict[str, Any]:
        groups = await self.queue(shop).waiting()
        return {"type": "queue", "waiting": sum(groups.values()), "groups": groups}

    async def _push_queue_counts(self, shop: str) -> None:
        await asyncio.sleep(0.1)  # one frame for a burst of queue changes
        self._queue_pending.discard(shop)
        frame = await self.queue_frame(shop)
        for group in (await self.config(shop)).groups:
            self.metrics.queue_length.labels(shop, group).set(frame["groups"].get(group, 0))
        for conn in [c for (s, _), cs in list(self.agents.items()) if s == shop for c in cs if c.ready]:
            await self.send(conn.ws, frame)

    # ---- events ----

    async def dispatch(self, shop: str, event: Event) -> None:
        match event:
            case Typing():
                await self._typing(shop, event)
            case FaqChanged():
                await self.bots.refresh(shop)
            case ConfigChanged():
                self._configs.pop(shop, None)
            case TicketsChanged():
                pass  # consoles poll their ticket list
            case AgentGone():
                self._route(shop, None, event.agent_id)
                self._queue_moved(shop)
            case QueueMoved():
                self._queue_moved(shop)
            case Assigned():
                if self.shoppers.get((shop, event.session_id)):
                    self._observe_assignment(shop, event)
                self._route(shop, event.session_id, event.agent_id)
            case Queued() | LeftQueue():
                self._route(shop, event.session_id, None)
                self._queue_moved(shop)
            case Requeued():
                self._route(shop, event.session_id, event.agent_id)
                self._queue_moved(shop)
            case LogWritten() | Transferred() | Closed():
                self._route(shop, event.session_id, event.agent_id or None)

    def _route(self, shop: str, session_id: str | None, agent_id: str | None) -> None:
        """Catch up the sockets of the session and the agent an event names."""
        if session_id:
            for conn in list(self.shoppers.get((shop, session_id), ())):
                self.spawn(self.deliver_shopper(conn))
        if agent_id:
            for agent_conn in list(self.agents.get((shop, agent_id), ())):
                self.spawn(self.deliver_agent(agent_conn))

    def _observe_assignment(self, shop: str, event: Assigned) -> None:
        """Observed here, by the instance holding the shopper's socket: once per assignment."""
        self.metrics.queue_wait.labels(shop, event.group).observe(max(0.0, event.waited_ms / 1000))
        if event.at:
            self.metrics.assignment_latency.labels(shop).observe(max(0.0, time.time() - event.at / 1000))

    def _queue_moved(self, shop: str) -> None:
        """Positions changed: queued shoppers get theirs, agents the counts (once per burst)."""
        for (s, _), conns in list(self.shoppers.items()):
            if s != shop:
                continue
            for conn in conns:
                if conn.told and conn.told[0] == "queued":
                    self.spawn(self.deliver_shopper(conn))
        if shop not in self._queue_pending:
            self._queue_pending.add(shop)
            self.spawn(self._push_queue_counts(shop))

    async def _typing(self, shop: str, event: Typing) -> None:
        if event.sender == "shopper":
            for conn in [c for c in self.agents.get((shop, str(event.agent_id)), ()) if c.ready]:
                await self.send(conn.ws, {"type": "typing", "conversation_id": event.conversation_id})
        else:
            for shopper in [c for c in self.shoppers.get((shop, event.session_id), ()) if c.ready]:
                await self.send(shopper.ws, {"type": "typing", "from": "agent"})

    async def listen(self) -> None:
        """Follow every shop's event channel; after a reconnect, catch every socket up."""
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(EVENTS_PATTERN)
                if self.subscribed.is_set():
                    self.catch_up_all()  # events may have been missed while disconnected
                self.subscribed.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message["type"] != "pmessage":
                        continue
                    event = parse(message["data"])
                    if event is not None:
                        await self.dispatch(_shop_of(message["channel"]), event)
            except (RedisError, OSError) as exc:
                log.warning("events_disconnected", error=str(exc), retry_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def catch_up_all(self) -> None:
        for conns in list(self.shoppers.values()):
            for conn in conns:
                self.spawn(self.deliver_shopper(conn))
        for agent_conns in list(self.agents.values()):
            for agent_conn in agent_conns:
                self.spawn(self.deliver_agent(agent_conn))

    # ---- loops ----

    async def backstop(self) -> None:
        """Catch up sockets that wait on other parties (queued, with an agent, agents)."""
        while True:
            await asyncio.sleep(self.settings.catch_up_s)
            with contextlib.suppress(RedisError, OSError):
                for conns in list(self.shoppers.values()):
                    for conn in conns:
                        if conn.told and conn.told[0] in ("queued", "assigned"):
                            await self.deliver_shopper(conn)
                for agent_conns in list(self.agents.values()):
                    for agent_conn in agent_conns:
                        await self.deliver_agent(agent_conn)

    async def keep_presence(self) -> None:
        """Refresh presence of every socket held; an expired one means the grace period ran out."""
        while True:
            await self.touch_all()
            await asyncio.sleep(self.settings.presence_interval_s)

    async def touch(self, conn: ShopperConn | AgentConn) -> None:
        """Presence for one socket that just connected (the loop refreshes everyone later)."""
        key = (conn.shop, conn.session_id if isinstance(conn, ShopperConn) else conn.agent_id)
        await touch(
            self.redis,
            agents=[key] if isinstance(conn, AgentConn) else [],
            sessions=[key] if isinstance(conn, ShopperConn) else [],
            agent_ttl_s=self.settings.agent_grace_s,
            session_ttl_s=self.settings.shopper_grace_s,
            live_ttl_s=min(self.settings.agent_grace_s, 3 * self.settings.presence_interval_s),
        )

    async def touch_all(self) -> None:
        try:
            await touch(
                self.redis,
                agents=list(self.agents),
                sessions=list(self.shoppers),
                agent_ttl_s=self.settings.agent_grace_s,
                session_ttl_s=self.settings.shopper_grace_s,
                live_ttl_s=min(self.settings.agent_grace_s, 3 * self.settings.presence_interval_s),
            )
        except (RedisError, OSError) as exc:
            log.warning("presence_failed", error=str(exc))

    async def close_all(
        self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"server shutdown"
    ) -> None:
        """Close every socket at once (each close waits for the peer's reply, up to its timeout)."""

        async def close(ws: web.WebSocketResponse) -> None:
            with contextlib.suppress(Exception):
                await ws.close(code=code, message=message)

        await asyncio.gather(*(close(ws) for ws in list(self.sockets)))

    async def stop(self, *tasks: asyncio.Task[Any], timeout_s: float = 5.0) -> None:
        """Cancel `tasks` and the deliveries under way, and wait for them, within `timeout_s`.

        A cancellation can get lost: on Python 3.11 `asyncio.wait_for` (redis-py writes under it)
        returns normally when the inner call finished in the same turn as the cancel, and the
        loop goes on. So whatever still runs after a second (time to clean up) is cancelled again,
        every 0.1 s; what has not stopped after `timeout_s` is logged and left behind rather
        than hanging the shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending: set[asyncio.Task[Any]] = {*tasks, *self._tasks}
        cancelled_again: set[str] = set()
        for task in pending:
            task.cancel()
        wait_s = 1.0
        while pending and (left := deadline - loop.time()) > 0:
            done, pending = await asyncio.wait(pending, timeout=min(wait_s, left))
            wait_s = 0.1
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved, so asyncio does not log it as never retrieved
            for task in pending:
                cancelled_again.add(task.get_name())
                task.cancel()
        if cancelled_again:
            log.warning("cancellation_lost", tasks=sorted(cancelled_again))
        if pending:
            log.error("tasks_not_stopped", tasks=sorted(t.get_name() for t in pending), timeout_s=timeout_s)
